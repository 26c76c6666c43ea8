package e2e

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
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
)

// Tenants of the tokens the suite mints on a local stack.
const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
)

// testTimeout bounds one protocol test.
const testTimeout = 2 * time.Minute

// target is a stack the protocol tests run against.
type target struct {
	wsURL string
	// local is the process behind a local target; nil for a deployed stack.
	local *localStack
	// tokenA and tokenB are the deployed stack's tokens (tokenB may be empty); a local
	// target mints a fresh user for every test instead.
	tokenA, tokenB string
}

// bundle is what one protocol test works with, built by setup.
type bundle struct {
	t      *testing.T
	target *target
	ctx    context.Context
	// user and tenant are the identity of token: a fresh user of tenantA on a local
	// stack, the claims of STREAMER_TOKEN on a deployed one.
	user, tenant string
	// token is user's token.
	token string
	// prefix starts the test's request ids, unique per run: ids are scoped by user and a
	// deployed stack keeps requests for 7 days.
	prefix string
}

// protocolTest is one entry of the suite.
type protocolTest struct {
	name string
	// serial tests run alone (they measure); the others run in parallel.
	serial bool
	run    func(t *testing.T, b *bundle)
}

// protocolTests is the suite: every guarantee of docs/PROTOCOL.md, run on every target.
func protocolTests() []protocolTest {
	return []protocolTest{
		{name: "FiftyConcurrentJobs", serial: true, run: testFiftyConcurrentJobs},
		{name: "SyncEcho", run: testSyncEcho},
		{name: "SyncHealth", run: testSyncHealth},
		{name: "Ping", run: testPing},
		{name: "ValidationErrors", run: testValidationErrors},
		{name: "GeneratedID", run: testGeneratedID},
		{name: "AsyncReport", run: testAsyncReport},
		{name: "Coalescing", run: testCoalescing},
		{name: "IdempotentID", run: testIdempotentID},
		{name: "ResumeAfterReconnect", run: testResumeAfterReconnect},
		{name: "ResultAfterDisconnect", run: testResultAfterDisconnect},
		{name: "CancelRunning", run: testCancelRunning},
		{name: "CancelRightAfterAck", run: testCancelRightAfterAck},
		{name: "TenantIsolation", run: testTenantIsolation},
		{name: "BadFrames", run: testBadFrames},
		{name: "OversizedFrame", run: testOversizedFrame},
		{name: "LargeResult", run: testLargeResult},
		{name: "LargeSyncResult", run: testLargeSyncResult},
		{name: "BadTokens", run: testBadTokens},
		{name: "ExpiredToken", run: testExpiredToken},
		{name: "ClientSurvivesServerDrop", run: testClientSurvivesServerDrop},
	}
}

// TestProtocol runs the suite against a local stack on the in-memory store, one on
// DynamoDB Local, and a deployed stack, each when it is available. The targets run one
// after the other, so the timings one measures are not skewed by another's load.
func TestProtocol(t *testing.T) {
	for _, tg := range []struct {
		name string
		open func(t *testing.T) *target
	}{
		{"local-memory", openLocalMemory},
		{"local-dynamodb", openLocalDynamoDB},
		{"deployed", openDeployed},
	} {
		t.Run(tg.name, func(t *testing.T) { runSuite(t, tg.open(t)) })
	}
}

// openLocalMemory starts `streamer local` on the in-memory store.
func openLocalMemory(t *testing.T) *target {
	ls := startLocal(t)
	return &target{wsURL: ls.wsURL, local: ls}
}

// openLocalDynamoDB starts `streamer local` on DynamoDB Local, or skips (fails in CI)
// without one.
func openLocalDynamoDB(t *testing.T) *target {
	endpoint := os.Getenv(envDynamoDB)
	if endpoint == "" {
		const reason = envDynamoDB + " is not set: run `make test`, or scripts/dynamodb-local.sh run -- go test ./..., to include the DynamoDB Local variant"
		if os.Getenv("CI") == "true" || os.Getenv("STREAMER_REQUIRE_DYNAMODB") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	ls := startLocal(t, "--dynamodb-endpoint", endpoint)
	return &target{wsURL: ls.wsURL, local: ls}
}

// openDeployed targets the stack at STREAMER_WS_URL, or skips without one.
func openDeployed(t *testing.T) *target {
	wsURL := os.Getenv(envWSURL)
	if wsURL == "" {
		t.Skip(envWSURL + " is not set: no deployed stack to test (set it to the WebSocketUrl output of `cdk deploy`, with " + envToken + ", see docs/guides/e2e.md)")
	}
	token := os.Getenv(envToken)
	if token == "" {
		t.Fatal(envWSURL + " is set but " + envToken + " is not: the deployed stack needs a token from your identity provider")
	}
	return &target{wsURL: wsURL, tokenA: token, tokenB: os.Getenv(envTokenB)}
}

// runSuite runs every protocol test against tg.
func runSuite(t *testing.T, tg *target) {
	for _, tc := range protocolTests() {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.serial {
				t.Parallel()
			}
			tc.run(t, newBundle(t, tg))
		})
	}
}

// newBundle is one test's bundle on tg: a fresh user on a local target, the token's on a
// deployed one.
func newBundle(t *testing.T, tg *target) *bundle {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	b := &bundle{t: t, target: tg, ctx: ctx, prefix: idPrefix(t)}
	if tg.local != nil {
		b.user, b.tenant = "user-"+strings.ToLower(rand.Text()[:10]), tenantA
		b.token = tg.local.token(t, b.user, b.tenant, time.Hour)
	} else {
		b.token = tg.tokenA
		b.user, b.tenant = tokenIdentity(t, b.token)
	}
	return b
}

// TestCancelPendingWithoutDirectDispatch runs the pending-cancel test on a local stack
// whose router leaves requests to the stream (`--direct-dispatch=false`): there a
// request waits for the stream's poll, so a cancel right after the ack finds it PENDING.
// With direct dispatch a worker usually has it before the cancel arrives (the suite's
// CancelRightAfterAck); the pending path is the same code either way.
func TestCancelPendingWithoutDirectDispatch(t *testing.T) {
	ls := startLocal(t, "--direct-dispatch=false")
	testCancelPending(t, newBundle(t, &target{wsURL: ls.wsURL, local: ls}))
}

// tokenIdentity reads the user (user_id, else sub) and tenant_id claims of a JWT without
// verifying it: the stack does that.
func tokenIdentity(t *testing.T, token string) (user, tenant string) {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWS compact token")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err, "the token's claims")
	var claims struct {
		Sub      string `json:"sub"`
		UserID   string `json:"user_id"`
		TenantID string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal(payload, &claims), "the token's claims")
	return cmp.Or(claims.UserID, claims.Sub), claims.TenantID
}

// idPrefix is a request id prefix naming the test, unique per run.
func idPrefix(t *testing.T) string {
	name := t.Name()
	name = name[strings.LastIndex(name, "/")+1:]
	return name + "-" + rand.Text()[:8] + "-"
}

// id returns a request id of this test.
func (b *bundle) id(name string) string { return b.prefix + name }

// dial opens a raw socket as the test's user.
func (b *bundle) dial() *socket { return dialSocket(b.ctx, b.t, b.target.wsURL, b.token) }

// client dials the Go client as the test's user; it is closed when the test ends.
func (b *bundle) client(opts client.Options) *client.Client {
	b.t.Helper()
	c, err := client.Dial(b.ctx, b.target.wsURL, b.token, opts)
	require.NoError(b.t, err)
	b.t.Cleanup(func() { _ = c.Close() })
	return c
}

// needLocal returns the local stack, or skips the test on a deployed one.
func (b *bundle) needLocal(why string) *localStack {
	b.t.Helper()
	if b.target.local == nil {
		b.t.Skip("needs the local stack: " + why)
	}
	return b.target.local
}

// otherTenantToken returns a token of a user in another tenant, or skips the test.
func (b *bundle) otherTenantToken() string {
	b.t.Helper()
	if b.target.local != nil {
		return b.target.local.token(b.t, "intruder-"+strings.ToLower(rand.Text()[:8]), tenantB, time.Hour)
	}
	if b.target.tokenB == "" {
		b.t.Skip(envTokenB + " is not set: tenant isolation needs a token of a user in another tenant")
	}
	return b.target.tokenB
}
