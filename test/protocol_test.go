package e2e

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/conformance"
	"github.com/streamer-go/streamer/runtime/contract"
)

// Environment of the suite.
const (
	// envWSURL is the WebSocket URL of a deployed stack (the WebSocketUrl output of
	// `cdk deploy`); when set, the suite also runs against it.
	envWSURL = "STREAMER_WS_URL"
	// envToken is a token the deployed stack accepts (user A of tenant A).
	envToken = "STREAMER_TOKEN"
	// envTokenB is a token of a user in another tenant, for the tenant-isolation test.
	envTokenB = "STREAMER_TOKEN_B"
	// envDynamoDB is the endpoint of a DynamoDB Local (scripts/dynamodb-local.sh sets it).
	envDynamoDB = "STREAMER_TEST_DYNAMODB_ENDPOINT"
	// envTemplate is the synthesized template the local-template variant runs. Default:
	// cdk.out/StreamerDemo.template.json of the repository (`make synth`).
	envTemplate = "STREAMER_TEST_TEMPLATE"
)

// testTimeout bounds one demo test.
const testTimeout = 2 * time.Minute

// target is a stack the suite runs against: what the conformance suite needs of it (its
// WebSocket URL, a token source, and the hooks it can offer) and, for a `streamer local`
// process the suite started, that process.
type target struct {
	cfg conformance.Config
	// local is the process behind a local target; nil for a deployed stack.
	local *localStack
}

// demoTest is one test of the demo's own behaviour, run beside the conformance suite.
type demoTest struct {
	name string
	// serial tests run alone, before the others (they measure); the others run in
	// parallel with the conformance suite's.
	serial bool
	run    func(t *testing.T, b *bundle)
}

// demoTests are what the demo's actions do beyond the protocol's guarantees.
func demoTests() []demoTest {
	return []demoTest{
		{name: "FiftyConcurrentJobs", serial: true, run: testFiftyConcurrentJobs},
		{name: "SyncHealth", run: testSyncHealth},
		{name: "ValidationErrors", run: testValidationErrors},
		{name: "AsyncReport", run: testAsyncReport},
		{name: "Coalescing", run: testCoalescing},
		{name: "LargeSyncResult", run: testLargeSyncResult},
	}
}

// TestProtocol runs the conformance suite (every guarantee of docs/PROTOCOL.md, with the
// demo's actions) and the demo's own tests against a local stack on the in-memory store,
// one on DynamoDB Local, the synthesized demo template on DynamoDB Local, and a deployed
// stack, each when it is available. The targets
// run one after the other, so the timings one measures are not skewed by another's load.
func TestProtocol(t *testing.T) {
	for _, tg := range []struct {
		name string
		open func(t *testing.T) *target
	}{
		{"local-memory", openLocalMemory},
		{"local-dynamodb", openLocalDynamoDB},
		{"local-template", openLocalTemplate},
		{"deployed", openDeployed},
	} {
		t.Run(tg.name, func(t *testing.T) { runSuite(t, tg.open(t)) })
	}
}

// suiteFlags start the suite's own local stacks without limits: the suite checks the
// protocol, and its concurrency tests send more jobs of one user at once than the
// default limits admit. TestBurstOverTheLimit (runtime/local) and the soak check limits.
var suiteFlags = []string{"--no-limits"}

// openLocal starts `streamer local` with flags; the conformance suite reaches it
// through its HTTP URL.
func openLocal(t *testing.T, flags ...string) *target {
	ls := startLocal(t, flags...)
	return &target{cfg: conformance.Local(ls.httpURL), local: ls}
}

// openLocalMemory starts `streamer local` on the in-memory store.
func openLocalMemory(t *testing.T) *target { return openLocal(t, suiteFlags...) }

// openLocalDynamoDB starts `streamer local` on DynamoDB Local, or skips (fails in CI)
// without one.
func openLocalDynamoDB(t *testing.T) *target {
	return openLocal(t, append(dynamoDBFlags(t), suiteFlags...)...)
}

// openLocalTemplate starts `streamer local --template` on the synthesized demo template,
// its limits turned off as suiteFlags turn off those of the suite's other stacks, and
// DynamoDB Local, or skips (fails in CI) without them.
func openLocalTemplate(t *testing.T) *target {
	return openLocal(t, "--template", templateVariant(t, "StreamerDemo", withoutLimits), "--dynamodb-endpoint", dynamoDBEndpoint(t))
}

// withoutLimits sets every limit variable of the template's functions to -1 (no limit).
func withoutLimits(resources map[string]map[string]any) {
	for _, fn := range ofType(resources, "AWS::Lambda::Function") {
		env, _ := fn["Properties"].(map[string]any)["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for _, name := range []string{contract.EnvUserMaxInFlight, contract.EnvUserRate, contract.EnvTenantMaxInFlight, contract.EnvTenantRate} {
			if _, ok := vars[name]; ok {
				vars[name] = "-1"
			}
		}
	}
}

// dynamoDBFlags returns the flags that put `streamer local` on DynamoDB Local with tables
// of its own (the CLI keeps its tables across runs; two stacks must not share them), or
// skips (fails in CI) without a DynamoDB Local.
func dynamoDBFlags(t *testing.T) []string {
	return []string{"--dynamodb-endpoint", dynamoDBEndpoint(t), "--table-prefix", "e2e-" + strings.ToLower(rand.Text()[:10]) + "-"}
}

// dynamoDBEndpoint returns the DynamoDB Local the local variants use, or skips the test
// (fails it in CI) without one.
func dynamoDBEndpoint(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv(envDynamoDB)
	if endpoint == "" {
		requireOrSkip(t, envDynamoDB+" is not set: run `make test`, or scripts/dynamodb-local.sh run -- go test ./..., to include the DynamoDB Local variants")
	}
	return endpoint
}

// demoTemplate returns the synthesized demo template ($STREAMER_TEST_TEMPLATE, else
// cdk.out/StreamerDemo.template.json of the repository), or skips the test (fails it in
// CI) without one.
func demoTemplate(t *testing.T) string {
	t.Helper()
	path := os.Getenv(envTemplate)
	if path == "" {
		root, err := repoRoot()
		require.NoError(t, err)
		path = filepath.Join(root, "cdk.out", "StreamerDemo.template.json")
	}
	if _, err := os.Stat(path); err != nil {
		requireOrSkip(t, "no synthesized template at "+path+": run `make synth` (make test does), or set "+envTemplate)
	}
	return path
}

// requireOrSkip skips the test for reason, or fails it where every variant must run (CI,
// STREAMER_REQUIRE_DYNAMODB=1: make test).
func requireOrSkip(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Getenv("STREAMER_REQUIRE_DYNAMODB") == "1" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

// openDeployed targets the stack at STREAMER_WS_URL, or skips without one.
func openDeployed(t *testing.T) *target {
	wsURL := os.Getenv(envWSURL)
	if wsURL == "" {
		t.Skip(envWSURL + " is not set: no deployed stack to test (set it to the WebSocketUrl output of `cdk deploy`, with " + envToken + ", see docs/guides/e2e.md)")
	}
	if os.Getenv(envToken) == "" {
		t.Fatal(envWSURL + " is set but " + envToken + " is not: the deployed stack needs a token from your identity provider")
	}
	cfg, err := conformance.Deployed(wsURL, os.Getenv(envToken), os.Getenv(envTokenB))
	require.NoError(t, err)
	return &target{cfg: cfg}
}

// runSuite runs the serial demo tests, then the conformance suite and the other demo
// tests in parallel, against tg.
func runSuite(t *testing.T, tg *target) {
	tests := demoTests()
	for _, tc := range tests {
		if tc.serial {
			t.Run(tc.name, func(t *testing.T) { tc.run(t, setup(t, tg)) })
		}
	}
	conformance.Run(t, demoActions(tg.cfg))
	for _, tc := range tests {
		if !tc.serial {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, setup(t, tg))
			})
		}
	}
}

// TestCancelPendingWithoutDirectDispatch runs the guarantees that need only the long
// action on a local stack whose router leaves requests to the stream
// (`--direct-dispatch=false`): there a request waits for the stream's poll, so a cancel
// right after the ack finds it PENDING, the path CancelPending checks. With direct
// dispatch a worker has the request before the cancel arrives, and the suite's
// CancelPending skips, saying so.
func TestCancelPendingWithoutDirectDispatch(t *testing.T) {
	tg := openLocal(t, "--direct-dispatch=false")
	cfg := demoActions(tg.cfg)
	cfg.Sync, cfg.Async, cfg.Large = nil, nil, nil
	conformance.Run(t, cfg)
}

// bundle is what one demo test works with, built by setup.
type bundle struct {
	t      *testing.T
	target *target
	ctx    context.Context
	// token is the test's user's: a fresh user of the target's tenant on a local stack,
	// the user of STREAMER_TOKEN on a deployed one.
	token string
	// prefix starts the test's request ids, unique per run: ids are scoped by user and a
	// deployed stack keeps requests for 7 days.
	prefix string
}

func setup(t *testing.T, tg *target) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
	tenant := tg.cfg.Tenant
	if tenant == "" {
		tenant = conformance.DefaultTenant
	}
	token, err := tg.cfg.Tokens(ctx, "user-"+strings.ToLower(rand.Text()[:10]), tenant)
	require.NoError(t, err)
	return &bundle{t: t, target: tg, ctx: ctx, token: token, prefix: name + "-" + rand.Text()[:8] + "-"}
}

// id returns a request id of this test.
func (b *bundle) id(name string) string { return b.prefix + name }

// dial opens a raw socket as the test's user.
func (b *bundle) dial() *conformance.Conn {
	return conformance.Dial(b.ctx, b.t, b.target.cfg.URL, b.token)
}

// client dials the Go client as the test's user; it is closed when the test ends.
func (b *bundle) client() *client.Client {
	b.t.Helper()
	c, err := client.Dial(b.ctx, b.target.cfg.URL, b.token, client.Options{})
	require.NoError(b.t, err)
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}
