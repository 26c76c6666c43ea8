package conformance

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/client"
)

// testPing: streamer.ping is answered with {"type":"pong"}, on the wire and through the
// client's Ping.
func testPing(e *env) {
	e.dial().Ping()
	if err := e.client(client.Options{}).Ping(e.ctx); err != nil {
		e.t.Fatalf("conformance: client.Ping: %v", err)
	}
}

// requireRefused dials with token and requires HTTP 401 and no connection, with a body
// that does not say why (the reason is only logged); the client's Dial returns
// client.ErrUnauthorized.
func requireRefused(e *env, name, token string) {
	e.t.Helper()
	ws, resp, err := dialRaw(e.ctx, e.cfg.URL, token, nil)
	if ws != nil {
		_ = ws.Close()
	}
	must(e.t, errors.Is(err, websocket.ErrBadHandshake), "%s: a connection was made (or the dial failed otherwise: %v)", name, err)
	must(e.t, resp != nil, "%s: no HTTP response", name)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	must(e.t, resp.StatusCode == http.StatusUnauthorized, "%s: HTTP %d, want 401: %s", name, resp.StatusCode, body)
	for _, detail := range []string{"expired", "signature", "claim", "parse"} {
		must(e.t, !strings.Contains(strings.ToLower(string(body)), detail), "%s: the reason is sent to the client: %s", name, body)
	}
	_, err = client.Dial(e.ctx, e.cfg.URL, token, client.Options{MaxReconnectAttempts: -1})
	must(e.t, errors.Is(err, client.ErrUnauthorized), "%s: client.Dial: %v, want client.ErrUnauthorized", name, err)
}

// tampered returns token with a character of its signature changed.
func tampered(e *env, token string) string {
	parts := strings.Split(token, ".")
	must(e.t, len(parts) == 3, "a JWS compact token")
	sig := []byte(parts[2])
	i := len(sig) / 2
	if sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}

// testBadTokens: no token, garbage or a bad signature is refused at connect with 401, and
// so is a valid token sent only in the Authorization: Bearer header, since the identity
// source is the token query parameter (API Gateway answers 401 before the authorizer runs
// when it is absent).
func testBadTokens(e *env) {
	requireRefused(e, "no token", "")
	requireRefused(e, "not a JWT", "not-a-jwt")
	requireRefused(e, "tampered signature", tampered(e, e.token))

	ws, resp, err := dialRaw(e.ctx, e.cfg.URL, "", http.Header{"Authorization": {"Bearer " + e.token}})
	if ws != nil {
		_ = ws.Close()
	}
	must(e.t, err != nil && resp != nil, "a token only in the Authorization header made a connection: the identity source must be the token parameter")
	_ = resp.Body.Close()
	must(e.t, resp.StatusCode == http.StatusUnauthorized, "a token only in the Authorization header: HTTP %d, want 401", resp.StatusCode)
}

// testExpiredToken: an expired token is refused at connect with 401.
func testExpiredToken(e *env) {
	tok, ok := e.mint(e.cfg.ExpiredTokens, e.user, e.tenant)
	if !ok {
		e.t.Skipf("Config.ExpiredTokens cannot mint an expired token for %s in %s", e.user, e.tenant)
	}
	requireRefused(e, "expired", tok)
}
