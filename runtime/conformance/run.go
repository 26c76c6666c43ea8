package conformance

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/streamer-go/streamer/runtime/client"
)

// need is what a guarantee needs beyond the stack's URL and a token source.
type need int

const (
	needSync need = iota
	needAsync
	needLong
	needLarge
	needExpiredTokens
	needDrop
)

// missing returns why cfg cannot give a guarantee what it needs, or "" when it can.
func missing(cfg *Config, needs []need) string {
	var why []string
	for _, n := range needs {
		switch {
		case n == needSync && cfg.Sync == nil:
			why = append(why, "Config.Sync (a synchronous action)")
		case n == needAsync && cfg.Async == nil:
			why = append(why, "Config.Async (an asynchronous action that completes within seconds)")
		case n == needLong && cfg.Long == nil:
			why = append(why, "Config.Long (an asynchronous action that reports progress and runs a minute or more unless cancelled)")
		case n == needLarge && cfg.Large == nil:
			why = append(why, "Config.Large (an action whose result is larger than one message)")
		case n == needExpiredTokens && cfg.ExpiredTokens == nil:
			why = append(why, "Config.ExpiredTokens (a source of expired tokens)")
		case n == needDrop && cfg.Drop == nil:
			why = append(why, "Config.Drop (a server-side disconnect, through the @connections API)")
		}
	}
	if len(why) == 0 {
		return ""
	}
	return "needs " + strings.Join(why, " and ")
}

// guarantee is one subtest of the suite.
type guarantee struct {
	name  string
	needs []need
	run   func(e *env)
}

// guarantees is the suite: every guarantee of PROTOCOL.md, in a stable order. The names
// are the subtests' names; docs/guides/conformance.md lists them.
var guarantees = []guarantee{
	{name: "Ping", run: testPing},
	{name: "BadTokens", run: testBadTokens},
	{name: "ExpiredToken", needs: []need{needExpiredTokens}, run: testExpiredToken},
	{name: "BadFrames", run: testBadFrames},
	{name: "OversizedFrame", run: testOversizedFrame},
	{name: "UnknownRequest", run: testUnknownRequest},
	{name: "SyncResult", needs: []need{needSync}, run: testSyncResult},
	{name: "SyncGeneratedID", needs: []need{needSync}, run: testSyncGeneratedID},
	{name: "AsyncLifecycle", needs: []need{needAsync}, run: testAsyncLifecycle},
	{name: "AsyncGeneratedID", needs: []need{needAsync}, run: testAsyncGeneratedID},
	{name: "DuplicateID", needs: []need{needAsync}, run: testDuplicateID},
	{name: "ResultAfterDisconnect", needs: []need{needAsync}, run: testResultAfterDisconnect},
	{name: "ResumeAfterReconnect", needs: []need{needLong}, run: testResumeAfterReconnect},
	{name: "CancelRunning", needs: []need{needLong}, run: testCancelRunning},
	{name: "CancelPending", needs: []need{needLong}, run: testCancelPending},
	{name: "TenantIsolation", needs: []need{needAsync}, run: testTenantIsolation},
	{name: "LargeResult", needs: []need{needLarge}, run: testLargeResult},
	{name: "ClientSurvivesServerDrop", needs: []need{needLong, needDrop}, run: testClientSurvivesServerDrop},
}

// Run checks the stack cfg describes against the guarantees of PROTOCOL.md, each a
// parallel subtest of t with a stable name (docs/guides/conformance.md lists them). Like
// any parallel subtests they run after the calling test function returns: stop the stack
// in t.Cleanup (StartLocal does), not with defer. A guarantee that needs an action or a
// hook cfg leaves out is skipped, saying which.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guarantees {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			if why := missing(&cfg, g.needs); why != "" {
				t.Skip(why)
			}
			g.run(newEnv(t, &cfg))
		})
	}
}

// env is what one guarantee works with.
type env struct {
	t   *testing.T
	cfg *Config
	ctx context.Context
	// user and tenant are the identity of token, read from its claims: a fresh user of
	// cfg.Tenant unless the token source gives fixed identities.
	user, tenant string
	// fresh says user is the fresh one asked for, no other test's.
	fresh bool
	token string
	// prefix starts the guarantee's request ids, unique per run: ids are scoped by user
	// and a deployed stack keeps requests for 7 days.
	prefix string
}

func newEnv(t *testing.T, cfg *Config) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cfg.Timeout)
	t.Cleanup(cancel)
	e := &env{t: t, cfg: cfg, ctx: ctx, prefix: idPrefix(t)}
	asked := freshUser("user")
	tok, ok := e.mint(cfg.Tokens, asked, cfg.Tenant)
	if !ok {
		t.Fatalf("conformance: Config.Tokens cannot mint a token of tenant %q (Config.Tenant)", cfg.Tenant)
	}
	e.token = tok
	e.user, e.tenant = e.identity(tok)
	e.fresh = e.user == asked
	return e
}

// freshUser returns a user name no one has used.
func freshUser(kind string) string { return kind + "-" + strings.ToLower(rand.Text()[:10]) }

// idPrefix is a request id prefix naming the test, unique per run.
func idPrefix(t *testing.T) string {
	name := t.Name()
	name = name[strings.LastIndex(name, "/")+1:]
	return name + "-" + rand.Text()[:8] + "-"
}

// id returns a request id of this guarantee.
func (e *env) id(name string) string { return e.prefix + name }

// mint returns src's token for user in tenant; false when src cannot mint that identity
// (errors.ErrUnsupported). Any other error fails the test.
func (e *env) mint(src TokenSource, user, tenant string) (string, bool) {
	e.t.Helper()
	tok, err := src(e.ctx, user, tenant)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return "", false
	case err != nil:
		e.t.Fatalf("conformance: mint a token for %s in %s: %v", user, tenant, err)
	case tok == "":
		e.t.Fatalf("conformance: the token source gave an empty token for %s in %s", user, tenant)
	}
	return tok, true
}

// identity reads a token's user and tenant, failing the test when it has none.
func (e *env) identity(tok string) (user, tenant string) {
	e.t.Helper()
	user, tenant, err := Identity(tok)
	if err != nil || user == "" || tenant == "" {
		e.t.Fatalf("conformance: a token without user and tenant claims (%v)", err)
	}
	return user, tenant
}

// dial opens a raw socket as the guarantee's user.
func (e *env) dial() *Conn { return Dial(e.ctx, e.t, e.cfg.URL, e.token) }

// dialAs opens a raw socket with another token.
func (e *env) dialAs(token string) *Conn { return Dial(e.ctx, e.t, e.cfg.URL, token) }

// client dials the Go client as the guarantee's user; it is closed when the test ends.
func (e *env) client(opts client.Options) *client.Client {
	e.t.Helper()
	c, err := client.Dial(e.ctx, e.cfg.URL, e.token, opts)
	if err != nil {
		e.t.Fatalf("conformance: client.Dial %s: %v", e.cfg.URL, err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}
