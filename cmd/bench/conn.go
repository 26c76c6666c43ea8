package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Errors of the bench's connections.
var (
	// ErrUnexpectedReply: a reply was not the message the scenario waits for.
	ErrUnexpectedReply = errors.New("bench: unexpected reply")
	// ErrConnectionLost: the connection closed before the request ended.
	ErrConnectionLost = errors.New("bench: connection lost")
)

// ioTimeout bounds one write or one wait for a reply, so a stuck server cannot hold a
// scenario past its limit by much.
const ioTimeout = 30 * time.Second

// dial opens a WebSocket connection to rawURL with token, sent both as the token query
// parameter and as an Authorization: Bearer header (PROTOCOL.md).
func dial(ctx context.Context, rawURL, token string) (*websocket.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bench: URL %q: %w", rawURL, err)
	}
	h := http.Header{}
	if token != "" {
		q := u.Query()
		q.Set("token", token)
		u.RawQuery = q.Encode()
		h.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	ws, resp, err := d.DialContext(ctx, u.String(), h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("bench: dial %s: %s: %w", rawURL, resp.Status, err)
		}
		return nil, fmt.Errorf("bench: dial %s: %w", rawURL, err)
	}
	ws.SetReadLimit(4 * protocol.MaxMessageBytes)
	return ws, nil
}

// roundTrip writes frame and reads one message, which check must accept; it returns the
// time between the write and the reply. It is the client loop of echo and floor.
func roundTrip(ws *websocket.Conn, frame []byte, check func(reply []byte) error) (time.Duration, error) {
	start := time.Now()
	_ = ws.SetWriteDeadline(start.Add(ioTimeout))
	if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	_ = ws.SetReadDeadline(start.Add(ioTimeout))
	_, reply, err := ws.ReadMessage()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	d := time.Since(start)
	return d, check(reply)
}

// expectType returns a reply check that accepts a message of type typ.
func expectType(typ string) func([]byte) error {
	want := []byte(`"type":"` + typ + `"`)
	return func(reply []byte) error {
		if !bytes.Contains(reply, want) {
			return fmt.Errorf("%w: want %s, got %.200s", ErrUnexpectedReply, typ, reply)
		}
		return nil
	}
}

// event is one server message about a request, with the time it arrived.
type event struct {
	typ  string
	at   time.Time
	size int   // bytes of the message
	err  error // set on the terminal event of a failed request or a lost connection
}

// muxConn is a connection with a reader that hands each message to the waiter of its
// request_id, so several requests can be in flight on it.
type muxConn struct {
	ws       *websocket.Conn
	writeMu  sync.Mutex
	received atomic.Int64 // messages read

	mu      sync.Mutex
	waiters map[string]chan event
	closed  bool
	done    chan struct{}
}

func newMuxConn(ws *websocket.Conn) *muxConn {
	c := &muxConn{ws: ws, waiters: make(map[string]chan event), done: make(chan struct{})}
	go c.read()
	return c
}

// wireMessage is the part of every server message the reader routes on.
type wireMessage struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	Error     *streamer.Error `json:"error"`
}

func (c *muxConn) read() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.fail(err)
			return
		}
		at := time.Now()
		c.received.Add(1)
		var m wireMessage
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		ev := event{typ: m.Type, at: at, size: len(data)}
		if m.Type == protocol.TypeError && m.Error != nil {
			ev.err = m.Error
		}
		c.mu.Lock()
		ch := c.waiters[m.RequestID]
		c.mu.Unlock()
		// Only the reader sends on ch, and the last slot is kept for the terminal
		// message: a progress message that finds the channel nearly full is dropped
		// (the waiter needs only the first one), the terminal one always fits.
		if ch != nil && (terminal(m.Type) || len(ch) < cap(ch)-1) {
			ch <- ev
		}
	}
}

func terminal(typ string) bool { return typ == protocol.TypeResult || typ == protocol.TypeError }

// fail ends every waiter with the connection's error.
func (c *muxConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for id, ch := range c.waiters {
		select {
		case ch <- event{typ: protocol.TypeError, at: time.Now(), err: fmt.Errorf("%w: %w", ErrConnectionLost, err)}:
		default:
		}
		delete(c.waiters, id)
	}
}

// jobTimes are the latencies of one async request from the moment it was sent.
type jobTimes struct {
	ack, done                   time.Duration
	firstProgress, lastProgress time.Duration
	prevProgress                time.Duration // the progress message before the last
	progress                    int           // progress messages received
	resultBytes                 int           // size of the terminal message
}

// job sends action with payload under id and waits for its terminal message, recording
// when the ack, the first progress and the terminal message arrived.
func (c *muxConn) job(ctx context.Context, id, action string, payload json.RawMessage) (jobTimes, error) {
	var t jobTimes
	frame, err := json.Marshal(protocol.ClientMessage{Action: action, ID: id, Payload: payload})
	if err != nil {
		return t, fmt.Errorf("bench: encode: %w", err)
	}
	ch := make(chan event, 64) // progress comes at most 5 times a second: never full in practice
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return t, ErrConnectionLost
	}
	c.waiters[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
	}()

	start := time.Now()
	c.writeMu.Lock()
	_ = c.ws.SetWriteDeadline(start.Add(ioTimeout))
	err = c.ws.WriteMessage(websocket.TextMessage, frame)
	c.writeMu.Unlock()
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	for {
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case ev := <-ch:
			d := ev.at.Sub(start)
			switch ev.typ {
			case protocol.TypeAck:
				t.ack = d
			case protocol.TypeProgress:
				if t.progress == 0 {
					t.firstProgress = d
				}
				t.progress++
				t.prevProgress, t.lastProgress = t.lastProgress, d
			case protocol.TypeResult, protocol.TypeError:
				t.done, t.resultBytes = d, ev.size
				return t, ev.err
			}
		}
	}
}

// Close closes the connection and waits for its reader.
func (c *muxConn) Close() error {
	err := c.ws.Close()
	<-c.done
	return err
}
