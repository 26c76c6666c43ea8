package conformance

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/local"
)

// expiredAge is how long ago the tokens of Local's ExpiredTokens expired: past the
// verifier's leeway for clock skew.
const expiredAge = 5 * time.Minute

// Local returns the Config of the local stack whose HTTP URL is baseURL, e.g.
// http://127.0.0.1:8080 (`streamer local`, an app's own local mode, or local.Start in
// the test's process): its WebSocket URL, tokens from its dev identity provider (GET
// /dev/token, as `streamer token` gets them), expired ones, and server-side drops (GET
// /dev/connections, then DELETE /@connections/{id}). Add the app's actions and call Run.
func Local(baseURL string) Config {
	base := strings.TrimSuffix(baseURL, "/")
	wsURL := base + "/"
	if u, err := url.Parse(base); err == nil { // a bad URL fails in Run, as Config.URL
		u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		u.Path = "/"
		wsURL = u.String()
	}
	return Config{
		URL:           wsURL,
		Tokens:        devTokens(base, time.Hour),
		ExpiredTokens: devTokens(base, -expiredAge),
		Drop: func(ctx context.Context, user, tenant string) error {
			return dropLocal(ctx, base, user, tenant)
		},
	}
}

// devTokens is a TokenSource of the local stack at base: tokens valid for ttl.
func devTokens(base string, ttl time.Duration) TokenSource {
	return func(ctx context.Context, user, tenant string) (string, error) {
		tok, err := local.DevToken(ctx, base, user, tenant, ttl)
		if err != nil {
			return "", err
		}
		return tok.Token, nil
	}
}

// dropLocal disconnects every open connection of user in tenant on the local stack at
// base through its @connections API.
func dropLocal(ctx context.Context, base, user, tenant string) error {
	conns, err := local.DevConnections(ctx, base, user, tenant)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		return fmt.Errorf("conformance: no open connection of %s in %s", user, tenant)
	}
	for _, c := range conns {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/@connections/"+url.PathEscape(c.ConnectionID), nil)
		if err != nil {
			return fmt.Errorf("conformance: DeleteConnection: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("conformance: DeleteConnection %s: %w", c.ConnectionID, err)
		}
		_ = resp.Body.Close()
		// 410: it went away meanwhile, which is what was asked.
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusGone {
			return fmt.Errorf("conformance: DeleteConnection %s: %s", c.ConnectionID, resp.Status)
		}
	}
	return nil
}

// Waits of StartLocal.
const (
	// stopTimeout bounds the stack's Shutdown when the test ends.
	stopTimeout = 45 * time.Second
	// logTail is how many of the stack's last log lines a failed test prints.
	logTail = 60
)

// StartLocal runs a local stack in the test's process with cfg (its App holds the
// actions; Addr defaults to a free loopback port here; without a Logger the stack's logs
// are kept and their end printed when the test fails), stops it when the test ends
// (failing the test unless it stops cleanly), and returns its Local Config.
func StartLocal(t *testing.T, cfg local.Config) Config {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	var logs *logBuffer
	if cfg.Logger == nil {
		logs = &logBuffer{}
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	st, err := local.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("conformance: start the local stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := st.Shutdown(ctx); err != nil {
			t.Errorf("conformance: the local stack did not stop cleanly: %v", err)
		}
		if logs != nil && t.Failed() {
			t.Logf("the local stack's last log lines:\n%s", logs.tail(logTail))
		}
	})
	return Local(st.URL())
}

// logBuffer keeps the recent part of a stack's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// logKeep bounds the logs a logBuffer keeps; it drops the older half beyond it.
const logKeep = 1 << 20

// Write appends p; the stack's goroutines call it.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len()+len(p) > logKeep {
		l.buf.Next(l.buf.Len() / 2)
	}
	return l.buf.Write(p)
}

// tail returns the last n lines.
func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.buf.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
