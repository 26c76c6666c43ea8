package conformance

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
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

// testBadTokens: no token, garbage or a bad signature is refused at connect with 401;
// the Authorization: Bearer header works like the token parameter.
func testBadTokens(e *env) {
	requireRefused(e, "no token", "")
	requireRefused(e, "not a JWT", "not-a-jwt")
	requireRefused(e, "tampered signature", tampered(e, e.token))

	ws, resp, err := dialRaw(e.ctx, e.cfg.URL, "", http.Header{"Authorization": {"Bearer " + e.token}})
	if err != nil && resp != nil {
		e.t.Fatalf("conformance: dial with the Authorization header: %v (HTTP %d)", err, resp.StatusCode)
	}
	must(e.t, err == nil, "dial with the Authorization header: %v", err)
	defer ws.Close()
	must(e.t, ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"`+protocol.ActionPing+`"}`)) == nil, "send a ping")
	must(e.t, ws.SetReadDeadline(time.Now().Add(MessageWait)) == nil, "set a read deadline")
	_, pong, err := ws.ReadMessage()
	must(e.t, err == nil, "read the pong: %v", err)
	var got map[string]any
	must(e.t, json.Unmarshal(pong, &got) == nil && len(got) == 1 && got["type"] == protocol.TypePong, "the pong is not {\"type\":\"pong\"}: %s", pong)
}

// testExpiredToken: an expired token is refused at connect with 401.
func testExpiredToken(e *env) {
	tok, ok := e.mint(e.cfg.ExpiredTokens, e.user, e.tenant)
	if !ok {
		e.t.Skipf("Config.ExpiredTokens cannot mint an expired token for %s in %s", e.user, e.tenant)
	}
	requireRefused(e, "expired", tok)
}
