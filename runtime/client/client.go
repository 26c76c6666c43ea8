// Package client is the Go client of a Streamer WebSocket API (PROTOCOL.md).
//
// Dial connects with a token; Call sends one action and returns a *Call whose progress
// arrives on a channel (or a callback) and whose outcome Wait returns: the result, or a
// *protocol.Error with the protocol's code. The client keeps the socket alive with
// streamer.ping well inside API Gateway's 10-minute idle timeout, and when the socket
// drops (API Gateway closes every socket after 2 hours) it redials with jittered backoff
// and resumes every call in flight: acknowledged (async) requests with streamer.status,
// which also routes their later progress to the new socket, and unacknowledged ones by
// sending them again with the same id, which the server answers idempotently. Results
// split into parts are reassembled. OnMessage shows a call's raw messages as they
// arrive, with the time each was read, to trace or time it. A Client is safe for
// concurrent use.
package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// Errors of the client. Failures reported by the server are *protocol.Error instead.
var (
	// ErrClosed: the client was closed (or gave up reconnecting) before the call ended.
	ErrClosed = errors.New("client: closed")
	// ErrUnauthorized: the server refused the token at connect (HTTP 401 or 403).
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrDuplicateCall: a call with the same request id is already in flight.
	ErrDuplicateCall = errors.New("client: request id already in flight")
)

// Options tunes a Client. Every zero field takes its default.
type Options struct {
	// PingInterval is the time between two streamer.ping keep-alives; a socket that
	// hears nothing for two intervals is treated as dropped. Default 5 min (API
	// Gateway closes sockets idle for 10 min); negative disables pings.
	PingInterval time.Duration
	// ReconnectBaseDelay is the backoff before the first redial; it doubles on every
	// failed attempt, and each wait is drawn from its upper half (jitter). Default 100 ms.
	ReconnectBaseDelay time.Duration
	// ReconnectMaxDelay caps one backoff wait. Default 10 s.
	ReconnectMaxDelay time.Duration
	// MaxReconnectAttempts is how many redials in a row may fail before the client
	// gives up, failing its calls with ErrClosed. Default 10; negative disables
	// reconnecting.
	MaxReconnectAttempts int
	// WriteTimeout bounds one frame write. Default 10 s.
	WriteTimeout time.Duration
	// ProgressBuffer is the capacity of each call's progress channel; when a reader
	// lags, the oldest update is dropped, so the latest one is always there. Default 16.
	ProgressBuffer int
	// TokenFunc, when set, supplies the token for every dial, reconnects included (so
	// an expired token can be refreshed); the token given to Dial is then ignored.
	// Default nil: the token given to Dial.
	TokenFunc func(ctx context.Context) (string, error)
	// Header holds extra HTTP headers for the handshake. Default none.
	Header http.Header
	// Dialer opens the sockets. Default: a websocket.Dialer with a 10 s handshake timeout.
	Dialer *websocket.Dialer
	// Logger receives reconnects and protocol oddities. Default: discards.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultPingInterval         = 5 * time.Minute
	DefaultReconnectBaseDelay   = 100 * time.Millisecond
	DefaultReconnectMaxDelay    = 10 * time.Second
	DefaultMaxReconnectAttempts = 10
	DefaultWriteTimeout         = 10 * time.Second
	DefaultProgressBuffer       = 16
)

// readLimit bounds one incoming message: API Gateway sends at most 128 KiB; the margin
// tolerates other servers without letting one frame exhaust memory.
const readLimit = 4 * protocol.MaxMessageBytes

func (o Options) withDefaults() Options {
	o.PingInterval = cmp.Or(o.PingInterval, DefaultPingInterval)
	o.ReconnectBaseDelay = cmp.Or(o.ReconnectBaseDelay, DefaultReconnectBaseDelay)
	o.ReconnectMaxDelay = max(cmp.Or(o.ReconnectMaxDelay, DefaultReconnectMaxDelay), o.ReconnectBaseDelay)
	o.MaxReconnectAttempts = max(cmp.Or(o.MaxReconnectAttempts, DefaultMaxReconnectAttempts), 0)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultWriteTimeout)
	o.ProgressBuffer = max(cmp.Or(o.ProgressBuffer, DefaultProgressBuffer), 1)
	if o.Dialer == nil {
		o.Dialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Client is a connection to a Streamer WebSocket API that survives socket drops.
type Client struct {
	url   string // without the token
	token string
	opts  Options

	life       context.Context // ends with Close
	stop       context.CancelFunc
	done       chan struct{} // closed when the connection loop has ended
	reconnects atomic.Int64
	parts      protocol.Reassembler

	writeMu sync.Mutex // one writer at a time (gorilla/websocket)

	mu     sync.Mutex
	conn   *websocket.Conn // nil while reconnecting
	calls  map[string]*Call
	pongs  []chan struct{}
	closed bool
	err    error // why the client ended
}

// Dial connects to rawURL (ws:// or wss://, e.g. wss://{api}.execute-api.{region}.amazonaws.com/{stage})
// with token, sent as the token query parameter (the identity source StreamerApi deploys)
// and as an Authorization: Bearer header (for stacks whose identity source is the header). ctx bounds the first connection only; the client lives until Close.
func Dial(ctx context.Context, rawURL, token string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, fmt.Errorf("client: URL must be ws:// or wss://, got %q", rawURL)
	}
	life, stop := context.WithCancel(context.Background())
	c := &Client{
		url: rawURL, token: token, opts: opts.withDefaults(),
		life: life, stop: stop, done: make(chan struct{}),
		calls: make(map[string]*Call),
	}
	conn, err := c.dial(ctx)
	if err != nil {
		stop()
		return nil, err
	}
	c.conn = conn
	go c.run(conn)
	if c.opts.PingInterval > 0 {
		go c.keepAlive()
	}
	return c, nil
}

// Reconnects returns how many times the client has reconnected.
func (c *Client) Reconnects() int { return int(c.reconnects.Load()) }

// Close closes the socket and ends the client; calls still in flight fail with ErrClosed
// (their requests go on on the server; Dial again and send streamer.status to follow
// them).
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	conn := c.conn
	c.mu.Unlock()
	c.stop()
	if conn != nil {
		c.writeMu.Lock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.writeMu.Unlock()
		_ = conn.Close()
	}
	<-c.done
	return nil
}

// Ping sends streamer.ping and waits for the pong.
func (c *Client) Ping(ctx context.Context) error {
	ch := make(chan struct{})
	c.mu.Lock()
	c.pongs = append(c.pongs, ch)
	c.mu.Unlock()
	if err := c.write([]byte(pingMessage)); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.done:
		return c.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pingMessage is the streamer.ping frame.
const pingMessage = `{"action":"` + protocol.ActionPing + `"}`

// systemFrame encodes a system action about request id.
func systemFrame(action, id string) []byte {
	payload, _ := json.Marshal(map[string]string{"id": id}) // a map of strings always encodes
	frame, _ := json.Marshal(protocol.ClientMessage{Action: action, Payload: payload})
	return frame
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cmp.Or(c.err, ErrClosed)
}

// dial opens one socket.
func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	token := c.token
	if c.opts.TokenFunc != nil {
		t, err := c.opts.TokenFunc(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: token: %w", err)
		}
		token = t
	}
	u, _ := url.Parse(c.url) // checked by Dial
	header := c.opts.Header.Clone()
	if header == nil {
		header = make(http.Header)
	}
	if token != "" {
		q := u.Query()
		q.Set("token", token)
		u.RawQuery = q.Encode()
		header.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := c.opts.Dialer.DialContext(ctx, u.String(), header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("%w: HTTP %d from %s", ErrUnauthorized, resp.StatusCode, c.url)
		}
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	conn.SetReadLimit(readLimit)
	return conn, nil
}

// write sends one frame on the current socket. A failed write closes the socket, which
// makes the connection loop reconnect and resume.
func (c *Client) write(frame []byte) error {
	c.mu.Lock()
	conn, closed := c.conn, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return c.closedErr()
	case conn == nil:
		return errReconnecting
	}
	return c.writeTo(conn, frame)
}

var errReconnecting = errors.New("client: reconnecting")

func (c *Client) writeTo(conn *websocket.Conn, frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		_ = conn.Close()
		return fmt.Errorf("client: write: %w", err)
	}
	return nil
}

// run reads the socket and, when it drops, reconnects and resumes, until Close or until
// reconnecting fails for good. Every incoming message is handled on this goroutine, so
// a call sees its messages in order.
func (c *Client) run(conn *websocket.Conn) {
	defer close(c.done)
	for {
		err := c.read(conn)
		_ = conn.Close()
		c.mu.Lock()
		c.conn = nil
		closed := c.closed
		c.mu.Unlock()
		if closed {
			c.shutdown(ErrClosed)
			return
		}
		c.opts.Logger.Warn("streamer client: socket dropped, reconnecting", slog.String("error", err.Error()))
		if conn, err = c.reconnect(); err != nil {
			c.shutdown(err)
			return
		}
	}
}

func (c *Client) read(conn *websocket.Conn) error {
	for {
		if c.opts.PingInterval > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(2*c.opts.PingInterval + c.opts.WriteTimeout))
		}
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		c.dispatch(data, time.Now())
	}
}

// reconnect redials with jittered exponential backoff, then resumes the calls in flight.
func (c *Client) reconnect() (*websocket.Conn, error) {
	var lastErr error
	for attempt := 0; attempt < c.opts.MaxReconnectAttempts; attempt++ {
		if err := c.backoff(attempt); err != nil {
			return nil, ErrClosed
		}
		conn, err := c.dial(c.life)
		if err == nil {
			if !c.resume(conn) {
				_ = conn.Close()
				return nil, ErrClosed
			}
			c.reconnects.Add(1)
			c.opts.Logger.Info("streamer client: reconnected", slog.Int("attempt", attempt+1))
			return conn, nil
		}
		if c.life.Err() != nil {
			return nil, ErrClosed
		}
		lastErr = err
		if errors.Is(err, ErrUnauthorized) && c.opts.TokenFunc == nil {
			break // the same token will be refused again
		}
	}
	if lastErr == nil {
		return nil, fmt.Errorf("%w: reconnecting is disabled", ErrClosed)
	}
	return nil, fmt.Errorf("%w: reconnect failed: %w", ErrClosed, lastErr)
}

// backoff waits before redial number attempt+1, or until Close.
func (c *Client) backoff(attempt int) error {
	d := c.opts.ReconnectMaxDelay
	if attempt < 30 {
		d = min(d, c.opts.ReconnectBaseDelay<<attempt)
	}
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.life.Done():
		return c.life.Err()
	}
}

// resume makes conn the current socket and asks for every call in flight again:
// streamer.status for acknowledged requests, the original message (same id) for the
// others. Parts of results received on the old socket are dropped: the answers repeat
// them. It reports false when the client was closed meanwhile.
func (c *Client) resume(conn *websocket.Conn) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.conn = conn
	frames := make([][]byte, 0, len(c.calls))
	for id, call := range c.calls {
		c.parts.Discard(id)
		if call.Ack() != nil {
			frames = append(frames, systemFrame(protocol.ActionStatus, id))
		} else {
			frames = append(frames, call.frame)
		}
	}
	c.mu.Unlock()
	for _, f := range frames {
		if err := c.writeTo(conn, f); err != nil {
			break // the socket is gone again: the read loop notices and resumes anew
		}
	}
	return true
}

// shutdown ends the client: every call in flight fails with err.
func (c *Client) shutdown(err error) {
	c.mu.Lock()
	c.closed = true
	c.err = err
	calls := c.calls
	c.calls = make(map[string]*Call)
	c.pongs = nil // their Ping calls return on done
	c.mu.Unlock()
	c.stop()
	for _, call := range calls {
		call.complete(nil, err)
	}
}

// keepAlive sends streamer.ping every PingInterval until Close.
func (c *Client) keepAlive() {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = c.write([]byte(pingMessage)) // a failure means the socket dropped; run reconnects
		case <-c.life.Done():
			return
		}
	}
}
