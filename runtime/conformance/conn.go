package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// Waits of a Conn: generous, for a loaded 2-core box or a cold Lambda.
const (
	// MessageWait bounds the wait for one expected message.
	MessageWait = 30 * time.Second
	// QuietWait is how long Quiet watches a socket for a message that must not come.
	QuietWait = time.Second
	// handshakeTimeout bounds a WebSocket handshake.
	handshakeTimeout = 20 * time.Second
	// connReadLimit is far above the 128 KiB a message may have, so that an oversized
	// one is read and reported instead of breaking the socket.
	connReadLimit = 1 << 20
)

// Frame is one server-to-client message as a raw client received it: the union of the
// fields of every message type of PROTOCOL.md, its text and when it arrived.
type Frame struct {
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
	Error      *protocol.Error `json:"error"`
	Part       *protocol.Part  `json:"part"`
	DataPart   string          `json:"data_part"`

	// Raw is the message's text.
	Raw string `json:"-"`
	// At is when it arrived.
	At time.Time `json:"-"`
}

// Terminal reports whether the message ends its request: an error, a whole result, or
// the last part of a split one.
func (f Frame) Terminal() bool {
	switch f.Type {
	case protocol.TypeError:
		return true
	case protocol.TypeResult:
		return f.Part == nil || f.Part.Index == f.Part.Count-1
	}
	return false
}

// Messages converts frames to the messages streamertest.RequireProtocol checks.
func Messages(frames []Frame) []streamertest.Message {
	out := make([]streamertest.Message, len(frames))
	for i, f := range frames {
		m := streamertest.Message{JSON: json.RawMessage(f.Raw), Type: f.Type, RequestID: f.RequestID}
		_ = json.Unmarshal(m.JSON, &m.Fields) // nil Fields for a message that is not an object
		out[i] = m
	}
	return out
}

// Conn is a raw WebSocket connection to a stack, what a client without the Go client
// sees: for checks about the wire itself (exact messages, their order, bad frames). Its
// methods fail the test on an unexpected end of the connection or a missing message.
type Conn struct {
	tb testing.TB
	ws *websocket.Conn

	in     chan Frame    // messages in arrival order; closed when the read loop ends
	closed chan struct{} // closed by Close, to release a blocked read loop
	once   sync.Once
	err    error // why the read loop ended; read after in is closed
}

// withToken returns wsURL with the token query parameter (how browsers authenticate).
func withToken(wsURL, token string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	if token != "" {
		q := u.Query()
		q.Set("token", token)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// dialRaw opens a socket with token in the query string and with header; on a refused
// handshake the HTTP response (body unread) tells why.
func dialRaw(ctx context.Context, wsURL, token string, header http.Header) (*websocket.Conn, *http.Response, error) {
	u, err := withToken(wsURL, token)
	if err != nil {
		return nil, nil, err
	}
	d := websocket.Dialer{HandshakeTimeout: handshakeTimeout, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, u, header)
	if resp != nil && resp.Body != nil && err == nil {
		_ = resp.Body.Close()
	}
	return ws, resp, err
}

// Dial opens a raw connection to the stack at wsURL with token (as the token query
// parameter) and starts recording what arrives; it is closed when the test ends.
func Dial(ctx context.Context, tb testing.TB, wsURL, token string) *Conn {
	tb.Helper()
	ws, resp, err := dialRaw(ctx, wsURL, token, nil)
	if err != nil {
		if resp != nil {
			tb.Fatalf("conformance: dial %s: %v (HTTP %d)", wsURL, err, resp.StatusCode)
		}
		tb.Fatalf("conformance: dial %s: %v", wsURL, err)
	}
	ws.SetReadLimit(connReadLimit)
	c := &Conn{tb: tb, ws: ws, in: make(chan Frame, 1024), closed: make(chan struct{})}
	go c.readLoop()
	tb.Cleanup(c.Close)
	return c
}

func (c *Conn) readLoop() {
	defer close(c.in)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		f := Frame{Raw: string(data), At: time.Now()}
		if err := json.Unmarshal(data, &f); err != nil {
			f.Type = "<not JSON>"
		}
		select {
		case c.in <- f:
		case <-c.closed:
			return
		}
	}
}

// Close closes the socket without a close handshake, like a client that went away.
func (c *Conn) Close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.ws.Close()
	})
}

// Send writes one text message: a string or []byte as it is, anything else as JSON.
func (c *Conn) Send(v any) {
	c.tb.Helper()
	var data []byte
	switch m := v.(type) {
	case []byte:
		data = m
	case string:
		data = []byte(m)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.tb.Fatalf("conformance: encode a message: %v", err)
		}
	}
	if err := c.ws.SetWriteDeadline(time.Now().Add(MessageWait)); err != nil {
		c.tb.Fatalf("conformance: send: %v", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.tb.Fatalf("conformance: send: %v", err)
	}
}

// Call sends a client message: action, id (left out when empty) and payload (any JSON
// value; []byte and json.RawMessage as they are; left out when nil).
func (c *Conn) Call(action, id string, payload any) {
	c.tb.Helper()
	msg := protocol.ClientMessage{Action: action, ID: id}
	switch p := payload.(type) {
	case nil:
	case json.RawMessage:
		msg.Payload = p
	case []byte:
		msg.Payload = p
	default:
		raw, err := json.Marshal(p)
		if err != nil {
			c.tb.Fatalf("conformance: encode the payload: %v", err)
		}
		msg.Payload = raw
	}
	c.Send(msg)
}

// System sends the system action (streamer.status or streamer.cancel) about request id.
func (c *Conn) System(action, id string) {
	c.tb.Helper()
	c.Call(action, "", map[string]string{"id": id})
}

// Next returns the next message, failing the test when none comes within MessageWait.
func (c *Conn) Next() Frame {
	c.tb.Helper()
	timer := time.NewTimer(MessageWait)
	defer timer.Stop()
	select {
	case f, ok := <-c.in:
		if !ok {
			c.tb.Fatalf("conformance: the socket closed while a message was expected: %v", c.err)
		}
		return f
	case <-timer.C:
		c.tb.Fatalf("conformance: no message within %s", MessageWait)
	}
	return Frame{}
}

// Collect reads until the terminal message of request id and returns that request's
// messages in arrival order (the terminal one, or every part of it, last). Messages of
// other requests are skipped.
func (c *Conn) Collect(id string) []Frame {
	c.tb.Helper()
	var msgs []Frame
	for {
		f := c.Next()
		if f.RequestID != id {
			continue
		}
		msgs = append(msgs, f)
		if f.Terminal() {
			return msgs
		}
	}
}

// Quiet watches the socket for QuietWait and fails the test on any message about request
// id: after its terminal message a request stays silent.
func (c *Conn) Quiet(id string) {
	c.tb.Helper()
	timer := time.NewTimer(QuietWait)
	defer timer.Stop()
	for {
		select {
		case f, ok := <-c.in:
			if !ok {
				c.tb.Fatalf("conformance: the socket closed: %v", c.err)
			}
			if f.RequestID == id {
				c.tb.Fatalf("conformance: a message about %s after its terminal one: %s", id, f.Raw)
			}
		case <-timer.C:
			return
		}
	}
}

// Ping proves the connection is open and served: streamer.ping is answered with exactly
// {"type":"pong"}. Messages before the pong are skipped.
func (c *Conn) Ping() {
	c.tb.Helper()
	c.Call(protocol.ActionPing, "", nil)
	for {
		f := c.Next()
		if f.Type != protocol.TypePong {
			continue
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(f.Raw), &got); err != nil || len(got) != 1 {
			c.tb.Fatalf("conformance: the pong is not {\"type\":\"pong\"}: %s", f.Raw)
		}
		return
	}
}
