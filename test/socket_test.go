package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Waits of the raw-socket helpers: generous, for a loaded 2-core box or a cold Lambda.
const (
	// messageWait bounds the wait for one expected message.
	messageWait = 30 * time.Second
	// quietWait is how long a socket is watched for a message that must not come (a
	// second terminal message, progress after the terminal one).
	quietWait = time.Second
	// socketReadLimit is far above the 128 KiB a message may have, so an oversized one is
	// read and reported instead of breaking the socket.
	socketReadLimit = 1 << 20
)

// frame is one server-to-client message as a raw client sees it: the union of the
// fields of every message type, its text and when it arrived.
type frame struct {
	Type       string          `json:"type"`
	RequestID  string          `json:"request_id"`
	Action     string          `json:"action"`
	Status     string          `json:"status"`
	Percentage float64         `json:"percentage"`
	Message    string          `json:"message"`
	Metadata   map[string]any  `json:"metadata"`
	Timestamp  time.Time       `json:"timestamp"`
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data"`
	Result     json.RawMessage `json:"result"`
	Error      *streamer.Error `json:"error"`
	Part       *protocol.Part  `json:"part"`
	DataPart   string          `json:"data_part"`

	raw string    // the message text
	at  time.Time // arrival
}

// terminal reports whether the message ends its request: an error, a whole result, or
// the last part of a split one.
func (f frame) terminal() bool {
	switch f.Type {
	case protocol.TypeError:
		return true
	case protocol.TypeResult:
		return f.Part == nil || f.Part.Index == f.Part.Count-1
	}
	return false
}

// socket is a raw WebSocket connection: what a client without the Go client sees.
type socket struct {
	t  *testing.T
	ws *websocket.Conn

	in     chan frame    // messages in arrival order; closed when the read loop ends
	closed chan struct{} // closed by close, to release a blocked read loop
	once   sync.Once
	err    error // why the read loop ended; read after in is closed
}

// withToken returns wsURL with the token query parameter (how browsers authenticate).
func withToken(t *testing.T, wsURL, token string) string {
	t.Helper()
	u, err := url.Parse(wsURL)
	require.NoError(t, err)
	if token != "" {
		q := u.Query()
		q.Set("token", token)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// tryDial opens a raw socket with token; the HTTP response tells why a refusal happened.
func tryDial(ctx context.Context, t *testing.T, wsURL, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, withToken(t, wsURL, token), nil)
	if resp != nil && resp.Body != nil && err == nil {
		_ = resp.Body.Close()
	}
	return ws, resp, err
}

// dialSocket opens a raw socket and starts reading it; it is closed when the test ends.
func dialSocket(ctx context.Context, t *testing.T, wsURL, token string) *socket {
	t.Helper()
	ws, resp, err := tryDial(ctx, t, wsURL, token)
	if err != nil && resp != nil {
		t.Fatalf("dial %s: %v (HTTP %d)", wsURL, err, resp.StatusCode)
	}
	require.NoError(t, err, "dial %s", wsURL)
	ws.SetReadLimit(socketReadLimit)
	s := &socket{t: t, ws: ws, in: make(chan frame, 1024), closed: make(chan struct{})}
	go s.readLoop()
	t.Cleanup(s.close)
	return s
}

func (s *socket) readLoop() {
	defer close(s.in)
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			s.err = err
			return
		}
		f := frame{raw: string(data), at: time.Now()}
		if err := json.Unmarshal(data, &f); err != nil {
			f.Type = "<not JSON>"
		}
		select {
		case s.in <- f:
		case <-s.closed:
			return
		}
	}
}

// close closes the socket without a close handshake, like a client that went away.
func (s *socket) close() {
	s.once.Do(func() {
		close(s.closed)
		_ = s.ws.Close()
	})
}

// send writes v: []byte and strings as they are, anything else as JSON.
func (s *socket) send(v any) {
	s.t.Helper()
	var data []byte
	switch m := v.(type) {
	case []byte:
		data = m
	case string:
		data = []byte(m)
	default:
		var err error
		data, err = json.Marshal(v)
		require.NoError(s.t, err)
	}
	require.NoError(s.t, s.ws.SetWriteDeadline(time.Now().Add(messageWait)))
	require.NoError(s.t, s.ws.WriteMessage(websocket.TextMessage, data))
}

// call sends a client message; an empty id is left out, a nil payload too.
func (s *socket) call(action, id string, payload any) {
	s.t.Helper()
	msg := map[string]any{"action": action}
	if id != "" {
		msg["id"] = id
	}
	if payload != nil {
		msg["payload"] = payload
	}
	s.send(msg)
}

// next returns the next message, failing the test when none comes within messageWait.
func (s *socket) next() frame {
	s.t.Helper()
	timer := time.NewTimer(messageWait)
	defer timer.Stop()
	select {
	case f, ok := <-s.in:
		if !ok {
			s.t.Fatalf("the socket closed while a message was expected: %v", s.err)
		}
		return f
	case <-timer.C:
		s.t.Fatalf("no message within %s", messageWait)
	}
	return frame{}
}

// collect reads until the terminal message of request id and returns that request's
// messages in arrival order (the terminal one, or every part of it, last). Messages of
// other requests are skipped.
func (s *socket) collect(id string) []frame {
	s.t.Helper()
	var msgs []frame
	for {
		f := s.next()
		if f.RequestID != id {
			continue
		}
		msgs = append(msgs, f)
		if f.terminal() {
			return msgs
		}
	}
}

// quiet watches the socket for quietWait and fails on any message about request id: after
// its terminal message a request must stay silent.
func (s *socket) quiet(id string) {
	s.t.Helper()
	timer := time.NewTimer(quietWait)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-s.in:
			if !ok {
				s.t.Fatalf("the socket closed: %v", s.err)
			}
			require.NotEqual(s.t, id, f.RequestID, "a message after the terminal one: %s", f.raw)
		case <-timer.C:
			return
		}
	}
}

// ping proves the connection is open and served: streamer.ping answers pong.
func (s *socket) ping() {
	s.t.Helper()
	s.call(protocol.ActionPing, "", nil)
	for {
		f := s.next()
		if f.Type == protocol.TypePong {
			require.JSONEq(s.t, `{"type":"pong"}`, f.raw)
			return
		}
	}
}
