package local

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// neverReading dials a WebSocket that is never read: its replies pile up in the TCP
// buffers until the stack can write no more.
func neverReading(t *testing.T, st *Stack, tok string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(t.Context(), st.WebSocketURL()+"?token="+tok, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// TestGatewayStopsReadingAClientThatDoesNotRead floods the stack with 100 KB echoes on a
// socket that never reads its replies. Once the replies fill the TCP buffers, the
// gateway reads no more of it (at most MaxRoutingPerConnection messages wait), so the
// client's own writes stall: TCP pushes back instead of the stack buffering what it
// sends. Another connection is answered all the while.
func TestGatewayStopsReadingAClientThatDoesNotRead(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	ws := neverReading(t, st, token(t, st, "mallory", "initech"))
	frame := []byte(`{"action":"echo","id":"flood","payload":"` + strings.Repeat("x", 100*1024) + `"}`)

	var sent int
	stalled := false
	for sent < 150<<20 {
		require.NoError(t, ws.SetWriteDeadline(time.Now().Add(2*time.Second)))
		if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			var ne interface{ Timeout() bool }
			require.ErrorAs(t, err, &ne, "the write stalls; the connection is not dropped")
			require.True(t, ne.Timeout())
			stalled = true
			break
		}
		sent += len(frame)
	}
	require.True(t, stalled, "150 MB went through a client that reads nothing")
	read := st.Metrics().APIGateway.MessagesIn
	t.Logf("the client got %d MB out before it stalled; the stack read %d messages (%d MB)", sent>>20, read, read*int64(len(frame))>>20)
	require.Less(t, read*int64(len(frame)), int64(sent), "what the stack did not read is in the TCP buffers, not in the stack")

	other := dial(t, st, token(t, st, "alice", "acme"))
	for i := range 20 {
		other.call("echo", fmt.Sprint("e-", i), map[string]any{"n": i})
		require.Equal(t, protocol.TypeResult, other.terminalOf(fmt.Sprint("e-", i))[0].Type, "another connection is answered")
	}
}

// TestPostsToAClientThatDoesNotReadGetLimitExceeded posts to a connection whose client
// reads nothing: once the TCP buffers are full, at most MaxPendingWriteBytes of posts
// wait, and the others are refused with 429 LimitExceededException, as API Gateway
// refuses them, instead of piling up in the stack.
func TestPostsToAClientThatDoesNotReadGetLimitExceeded(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{MaxPendingWriteBytes: 512 << 10})
	neverReading(t, st, token(t, st, "mallory", "initech"))
	require.Eventually(t, func() bool { return len(connectionIDs(st)) == 1 }, waitFor, 10*time.Millisecond)
	url := st.CallbackURL() + "/@connections/" + connectionIDs(st)[0]
	body := bytes.Repeat([]byte("x"), 120<<10)
	post := func() int {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// Fill the TCP buffers: posts return once written, until one blocks.
	for {
		done := make(chan int, 1)
		go func() { done <- post() }()
		select {
		case code := <-done:
			require.Equal(t, http.StatusOK, code)
			continue
		case <-time.After(time.Second):
		}
		break
	}
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			code := post()
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("posts to the stalled connection: %v", codes)
	require.Positive(t, codes[http.StatusTooManyRequests], "posts beyond the backlog are refused")
	require.Positive(t, st.Metrics().ConnectionsAPI[APILimitExceeded])
}
