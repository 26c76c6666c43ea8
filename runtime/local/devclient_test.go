package local

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
)

func TestDevClientTokensAndConnections(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	ctx := t.Context()

	tok, err := DevToken(ctx, st.URL(), "dora", "globex", time.Hour)
	require.NoError(t, err)
	require.Equal(t, "dora", tok.UserID)
	require.Equal(t, "globex", tok.TenantID)
	first := dial(t, st, tok.Token)
	second := dial(t, st, tok.Token)
	other, err := DevToken(ctx, st.URL(), "dora", "initech", time.Hour)
	require.NoError(t, err)
	dial(t, st, other.Token) // the same user name in another tenant is someone else

	conns, err := DevConnections(ctx, st.URL(), "dora", "globex")
	require.NoError(t, err)
	require.Len(t, conns, 2, "dora's two connections in globex, not the one in initech")
	require.False(t, conns[1].ConnectedAt.Before(conns[0].ConnectedAt), "oldest first")
	none, err := DevConnections(ctx, st.URL(), "nobody", "globex")
	require.NoError(t, err)
	require.Empty(t, none)

	// The newest one, dropped through the @connections API, is the second socket.
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, st.URL()+"/@connections/"+conns[1].ConnectionID, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, websocket.CloseNormalClosure, second.closedWith())
	first.call(protocol.ActionPing, "", nil)
	require.Equal(t, protocol.TypePong, first.next().Type, "the other socket stays")

	expired, err := DevToken(ctx, st.URL(), "dora", "globex", -5*time.Minute)
	require.NoError(t, err)
	_, resp, err = tryDial(t, st, expired.Token, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestDevClientErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := DevToken(ctx, "http://127.0.0.1:1", "u", "t", time.Hour)
	require.ErrorIs(t, err, ErrUnreachable)

	st := startStack(t, Config{})
	_, err = DevToken(ctx, st.URL(), "u", "t", 1000*time.Hour)
	require.ErrorContains(t, err, "400 Bad Request: ttl must be")
	require.NotErrorIs(t, err, ErrUnreachable)
}
