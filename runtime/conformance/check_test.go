package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// failRecorder is a testing.TB whose Fatalf records the failure and ends the goroutine,
// as the real one does; the rest of testing.TB is never called by the checks.
type failRecorder struct {
	testing.TB
	failure string
}

func (f *failRecorder) Helper() {}

func (f *failRecorder) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failureOf runs check on its own goroutine and returns how it failed ("" if it passed).
func failureOf(check func(tb testing.TB)) string {
	f := &failRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(f)
	}()
	<-done
	return f.failure
}

// frame builds a Frame as a raw client would receive it, at.
func frame(t *testing.T, at time.Time, raw string) Frame {
	t.Helper()
	f := Frame{Raw: raw, At: at}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCheckAsyncFailsOnBrokenGuarantees(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ack := frame(t, at(0), `{"type":"ack","request_id":"r","action":"a","status":"PENDING"}`)
	progress := func(ms int, pct float64) Frame {
		return frame(t, at(ms), fmt.Sprintf(`{"type":"progress","request_id":"r","percentage":%v,"timestamp":"2026-01-01T00:00:00Z"}`, pct))
	}
	result := frame(t, at(900), `{"type":"result","request_id":"r","action":"a","success":true,"data":{"ok":true}}`)
	failed := frame(t, at(900), `{"type":"error","request_id":"r","error":{"code":"CANCELLED","message":"x"}}`)
	part := func(i, n int) Frame {
		data := []string{"[1,", "2]"}[min(i, 1)] // two parts make JSON
		return frame(t, at(900), fmt.Sprintf(`{"type":"result","request_id":"r","action":"a","success":true,"part":{"index":%d,"count":%d},"data_part":%q}`, i, n, data))
	}

	for _, tc := range []struct {
		name string
		msgs []Frame
		want string // "" passes
	}{
		{"a good run", []Frame{ack, progress(100, 10), progress(400, 50), result}, ""},
		{"a good split run", []Frame{ack, progress(100, 10), part(0, 2), part(1, 2)}, ""},
		{"no ack first", []Frame{progress(100, 10), ack, result}, "acknowledged first"},
		{"progress going down", []Frame{ack, progress(100, 50), progress(400, 10), result}, "went down"},
		{"progress after the end", []Frame{ack, failed, progress(950, 10)}, "after the terminal"},
		{"two terminal messages", []Frame{ack, result, failed}, "more than one terminal"},
		{"parts out of order", []Frame{ack, part(1, 2), part(0, 2)}, "arrived as number"},
		{"a part missing", []Frame{ack, part(0, 3), part(1, 3)}, "part count"},
		{"no terminal message", []Frame{ack, progress(100, 10)}, "no terminal"},
		{"another request's message", []Frame{ack, frame(t, at(5), `{"type":"progress","request_id":"q","percentage":1}`), result}, "another request"},
	} {
		got := failureOf(func(tb testing.TB) { CheckAsync(tb, "r", tc.msgs) })
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: failure %q, want one containing %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckRate(t *testing.T) {
	sent := time.Now()
	run := func(progress, endMS int) AsyncRun {
		r := AsyncRun{Terminal: []Frame{{Type: "result", At: sent.Add(time.Duration(endMS) * time.Millisecond)}}}
		for range progress {
			r.Progress = append(r.Progress, Frame{Type: "progress", At: sent}) // arrival times bunched up
		}
		return r
	}
	for _, tc := range []struct {
		name            string
		progress, endMS int
		want            string
	}{
		{"one per interval and the flush", 7, 1000, ""},
		{"bunched, but the span allows them", 12, 2000, ""},
		{"not coalesced", 10, 1000, "more than one per"},
	} {
		got := failureOf(func(tb testing.TB) { checkRate(tb, "r", sent, run(tc.progress, tc.endMS)) })
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: failure %q, want one containing %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckPartsFailsOnBadParts(t *testing.T) {
	good := func(i, n int) Frame {
		return frame(t, time.Now(), fmt.Sprintf(`{"type":"result","request_id":"r","action":"a","success":true,"part":{"index":%d,"count":%d},"data_part":"x"}`, i, n))
	}
	withMeta := frame(t, time.Now(), `{"type":"result","request_id":"r","action":"a","success":true,"part":{"index":0,"count":2},"data_part":"x","metadata":{"m":1}}`)
	noAction := frame(t, time.Now(), `{"type":"result","request_id":"r","success":true,"part":{"index":1,"count":2},"data_part":"x"}`)
	huge := good(1, 2)
	huge.Raw = strings.Repeat(" ", protocol.MaxMessageBytes+1)
	for _, tc := range []struct {
		name  string
		parts []Frame
		want  string
	}{
		{"good", []Frame{good(0, 2), good(1, 2)}, ""},
		{"too few", []Frame{good(0, 2), good(1, 2)}, "3 or more"},
		{"metadata early", []Frame{withMeta, good(1, 2)}, "metadata on part 0"},
		{"no action", []Frame{good(0, 2), noAction}, "without the action"},
		{"over the limit", []Frame{good(0, 2), huge}, "over the message limit"},
	} {
		minParts := 2
		if tc.name == "too few" {
			minParts = 3
		}
		got := failureOf(func(tb testing.TB) { CheckParts(tb, "r", "a", tc.parts, minParts) })
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: failure %q, want one containing %q", tc.name, got, tc.want)
		}
	}
}

func TestMissingNamesWhatIsNeeded(t *testing.T) {
	cfg := &Config{Sync: &Action{Name: "s"}}
	if got := missing(cfg, []need{needSync}); got != "" {
		t.Errorf("Sync is described, yet: %q", got)
	}
	got := missing(cfg, []need{needLong, needDrop})
	for _, want := range []string{"Config.Long", "Config.Drop"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing(Long, Drop) = %q, does not name %s", got, want)
		}
	}
	for _, g := range guarantees {
		if why := missing(&Config{}, g.needs); (len(g.needs) == 0) != (why == "") {
			t.Errorf("%s: needs %v, an empty Config gives %q", g.name, g.needs, why)
		}
	}
}

// jwt returns an unsigned token with claims: enough for Identity, which does not verify.
func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + ".sig"
}

func TestIdentityAndFixedTokens(t *testing.T) {
	a := jwt(`{"sub":"ann","tenant_id":"acme"}`)
	b := jwt(`{"user_id":"bob","sub":"ignored","tenant_id":"globex"}`)
	if u, tn, err := Identity(b); err != nil || u != "bob" || tn != "globex" {
		t.Errorf("Identity: %q %q %v, want user_id over sub", u, tn, err)
	}
	if _, _, err := Identity("not-a-jwt"); err == nil {
		t.Error("Identity of garbage: no error")
	}

	cfg, err := Deployed("wss://api.example/prod", a, "", b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tenant != "acme" || cfg.OtherTenant != "globex" {
		t.Errorf("Deployed: tenants %q and %q, want acme and globex", cfg.Tenant, cfg.OtherTenant)
	}
	ctx := context.Background()
	if tok, err := cfg.Tokens(ctx, "anyone", "globex"); err != nil || tok != b {
		t.Errorf("the globex token: %v", err)
	}
	if _, err := cfg.Tokens(ctx, "anyone", "initech"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("a tenant without a token: %v, want errors.ErrUnsupported", err)
	}

	one, err := Deployed("wss://api.example/prod", a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := one.withDefaults(); err != nil {
		t.Errorf("one token is enough: %v", err)
	}
	if _, err := one.Tokens(ctx, "x", one.OtherTenant); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("with one token, OtherTenant is one FixedTokens cannot serve: %v", err)
	}
	if _, err := Deployed("wss://api.example/prod", ""); err == nil {
		t.Error("Deployed without a token: no error")
	}
}

func TestConfigChecks(t *testing.T) {
	tokens := func(context.Context, string, string) (string, error) { return "", nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no URL", Config{Tokens: tokens}, "Config.URL is required"},
		{"an HTTP URL", Config{URL: "http://127.0.0.1:8080", Tokens: tokens}, "ws:// or wss://"},
		{"no tokens", Config{URL: "ws://127.0.0.1:8080/"}, "Config.Tokens is required"},
		{"one tenant twice", Config{URL: "ws://h/", Tokens: tokens, Tenant: "t", OtherTenant: "t"}, "both"},
		{"a reserved action", Config{URL: "ws://h/", Tokens: tokens, Sync: &Action{Name: "streamer.ping"}}, "Config.Sync.Name"},
		{"a payload that is not JSON", Config{URL: "ws://h/", Tokens: tokens, Async: &Action{Name: "a", Payload: json.RawMessage(`{`)}}, "Config.Async.Payload"},
	} {
		_, err := tc.cfg.withDefaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	cfg, err := Config{URL: "ws://h/", Tokens: tokens, Large: &Action{Name: "l", MinResultBytes: 10}}.withDefaults()
	if err != nil || cfg.Large.MinResultBytes != protocol.MaxMessageBytes || cfg.Tenant != DefaultTenant || cfg.Timeout != DefaultTimeout {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
}

func TestLocalConfig(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":   "ws://127.0.0.1:8080/",
		"http://127.0.0.1:8080/":  "ws://127.0.0.1:8080/",
		"https://dev.example.com": "wss://dev.example.com/",
	} {
		if got := Local(base).URL; got != want {
			t.Errorf("Local(%q).URL = %q, want %q", base, got, want)
		}
	}
}
