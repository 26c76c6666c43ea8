package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// requireRefused dials with token and requires an HTTP 401 and no connection, with a
// body that does not say why (the reason is only logged).
func requireRefused(t *testing.T, b *bundle, name, token string) {
	t.Helper()
	ws, resp, err := tryDial(b.ctx, t, b.target.wsURL, token)
	if ws != nil {
		_ = ws.Close()
	}
	require.ErrorIs(t, err, websocket.ErrBadHandshake, "%s: no connection is made", name)
	require.NotNil(t, resp, name)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", name, body)
	for _, detail := range []string{"expired", "signature", "claim", "parse"} {
		require.NotContains(t, strings.ToLower(string(body)), detail, "%s: the reason is not sent to the client", name)
	}

	_, err = client.Dial(b.ctx, b.target.wsURL, token, client.Options{MaxReconnectAttempts: -1})
	require.ErrorIs(t, err, client.ErrUnauthorized, name)
}

// tampered returns token with a character of its signature changed.
func tampered(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWS compact token")
	sig := []byte(parts[2])
	i := len(sig) / 2
	if sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}

func testBadTokens(t *testing.T, b *bundle) {
	requireRefused(t, b, "no token", "")
	requireRefused(t, b, "not a JWT", "not-a-jwt")
	requireRefused(t, b, "tampered signature", tampered(t, b.token))

	// The identity source is ?token=: API Gateway refuses a token sent only in the
	// Authorization header with 401, before the authorizer runs.
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(b.ctx, b.target.wsURL, http.Header{"Authorization": {"Bearer " + b.token}})
	if ws != nil {
		_ = ws.Close()
	}
	require.ErrorIs(t, err, websocket.ErrBadHandshake, "a header-only token makes no connection")
	require.NotNil(t, resp)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func testExpiredToken(t *testing.T, b *bundle) {
	ls := b.needLocal("minting an expired token needs the dev identity provider")
	// Past the verifier's leeway for clock skew.
	requireRefused(t, b, "expired", ls.token(t, b.user, b.tenant, -5*time.Minute))
}

func testTenantIsolation(t *testing.T, b *bundle) {
	intruders := map[string]string{"other tenant": b.otherTenantToken()}
	if ls := b.target.local; ls != nil {
		intruders["same tenant, other user"] = ls.token(t, b.user+"-other", b.tenant, time.Hour)
		intruders["same user name, other tenant"] = ls.token(t, b.user, tenantB, time.Hour)
	}

	owner := b.dial()
	id := b.id("mine")
	owner.call(actionProcessData, id, processData(10, 100))
	ack := owner.next()
	require.Equal(t, protocol.TypeAck, ack.Type, ack.raw)

	for name, token := range intruders {
		in := dialSocket(b.ctx, t, b.target.wsURL, token)
		for _, action := range []string{protocol.ActionStatus, protocol.ActionCancel} {
			in.call(action, "", map[string]string{"id": id})
			m := in.next()
			require.Equal(t, protocol.TypeError, m.Type, "%s, %s: %s", name, action, m.raw)
			require.Equal(t, id, m.RequestID, "%s, %s", name, action)
			require.Equal(t, streamer.ErrCodeNotFound, m.Error.Code, "%s, %s: the request's existence is not revealed", name, action)

			// Claiming the owner's identity in the message changes nothing: it comes from
			// the token alone.
			in.send(map[string]any{
				"action": action, "user_id": b.user, "tenant_id": b.tenant,
				"payload": map[string]string{"id": id, "user_id": b.user, "tenant_id": b.tenant},
			})
			m = in.next()
			require.Equal(t, protocol.TypeError, m.Type, "%s, %s with claimed identity: %s", name, action, m.raw)
			require.Equal(t, streamer.ErrCodeNotFound, m.Error.Code, "%s, %s with claimed identity: %s", name, action, m.raw)
		}
		// The id is theirs to use too: it names a request of their own.
		in.call(actionProcessData, id, processData(1, 0))
		run := checkAsync(t, in.collect(id))
		require.JSONEq(t, `{"items_processed":1}`, string(run.data(t)), name)
	}

	// The owner's request was neither seen nor cancelled by anyone else.
	run := checkAsync(t, append([]frame{ack}, owner.collect(id)...))
	owner.quiet(id)
	require.JSONEq(t, `{"items_processed":10}`, string(run.data(t)))
}
