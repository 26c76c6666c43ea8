package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// CallOption configures one call.
type CallOption func(*callConfig)

type callConfig struct {
	id         string
	onProgress func(protocol.ProgressMessage)
	onMessage  func(Message)
}

// WithID sets the request id (at most 128 characters of [A-Za-z0-9._:-]). Sending an id
// again never runs async work twice: the server answers with the request's state. By
// default a random id is generated.
func WithID(id string) CallOption { return func(c *callConfig) { c.id = id } }

// OnProgress calls f with the call's progress updates, in order, on a goroutine of the
// call's own (a slow f never holds up the socket; when it lags, intermediate updates are
// skipped, never the latest). Wait returns after the last f has returned.
func OnProgress(f func(protocol.ProgressMessage)) CallOption {
	return func(c *callConfig) { c.onProgress = f }
}

// Message is one message from the server about a call, as it came off the socket.
type Message struct {
	// Type is the message's type: protocol.TypeAck, TypeProgress, TypeResult (one
	// message per part of a split result), TypeError or TypeStatus.
	Type string
	// Data is the message's JSON as received. It may be kept, but not changed.
	Data []byte
	// Received is when the client read the message from the socket.
	Received time.Time
}

// OnMessage calls f with every message the server sends about the call, in order, with
// the time it was read: the acknowledgement, every progress update (none skipped), each
// part of a split result, the status answers after a reconnect. It is for tracing,
// logging and timing a call, where OnProgress and Wait give the digested outcome.
// f runs on the goroutine that reads the socket, before the client applies the
// message, so every run of f has returned before Done is closed; it must be quick and
// must not wait for the client (it holds up every call on the socket).
func OnMessage(f func(Message)) CallOption {
	return func(c *callConfig) { c.onMessage = f }
}

// Call is one request in flight: its progress, acknowledgement and outcome.
type Call struct {
	// ID is the request id.
	ID string
	// Action is the action called.
	Action string

	client    *Client
	frame     []byte        // the client message, sent again after a reconnect until acknowledged
	onMessage func(Message) // nil without OnMessage
	progress  chan protocol.ProgressMessage
	inbox     chan protocol.ProgressMessage // to the OnProgress goroutine; nil without one
	cbDone    chan struct{}                 // closed when the OnProgress goroutine has ended
	done      chan struct{}

	mu       sync.Mutex
	ack      *protocol.AckMessage
	lastPct  float64
	seen     bool // a progress update was delivered
	finished bool
	result   *protocol.ResultMessage
	err      error
}

// Call sends action with payload (any JSON value; []byte and json.RawMessage are sent as
// they are; nil sends none) and returns the call in flight. ctx bounds the sending only:
// wait for the outcome with (*Call).Wait. A message over 128 KiB fails at once with a
// PAYLOAD_TOO_LARGE *protocol.Error. If the socket is down, the call is sent when the
// client has reconnected.
func (c *Client) Call(ctx context.Context, action string, payload any, opts ...CallOption) (*Call, error) {
	var cfg callConfig
	for _, o := range opts {
		o(&cfg)
	}
	if action == "" || strings.HasPrefix(action, protocol.ReservedPrefix) {
		return nil, fmt.Errorf("client: action %q: empty or reserved (use Ping and (*Call).Cancel)", action)
	}
	if cfg.id == "" {
		cfg.id = rand.Text()
	}
	if !protocol.ValidID(cfg.id) {
		return nil, fmt.Errorf("client: invalid request id %q: 1-%d characters of [A-Za-z0-9._:-]", cfg.id, protocol.MaxIDLength)
	}
	raw, err := encodePayload(payload)
	if err != nil {
		return nil, err
	}
	frame, err := json.Marshal(protocol.ClientMessage{Action: action, ID: cfg.id, Payload: raw})
	if err != nil {
		return nil, fmt.Errorf("client: encode message: %w", err)
	}
	if len(frame) > protocol.MaxMessageBytes {
		return nil, &protocol.Error{Code: protocol.CodePayloadTooLarge, Message: "message over the 128 KiB limit",
			Details: map[string]any{"size_bytes": len(frame), "limit_bytes": protocol.MaxMessageBytes}}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	call := newCall(c, cfg, action, frame)
	c.mu.Lock()
	var refused error
	if _, dup := c.calls[call.ID]; dup {
		refused = fmt.Errorf("%w: %s", ErrDuplicateCall, call.ID)
	}
	if c.closed {
		refused = cmp.Or(c.err, ErrClosed)
	}
	if refused != nil {
		c.mu.Unlock()
		call.complete(nil, refused) // ends the OnProgress goroutine
		return nil, refused
	}
	c.calls[call.ID] = call
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		// A failed write drops the socket; the reconnect sends the call again.
		_ = c.writeTo(conn, frame)
	}
	return call, nil
}

func encodePayload(payload any) (json.RawMessage, error) {
	var raw []byte
	switch v := payload.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("client: encode payload: %w", err)
		}
		return b, nil
	}
	if !json.Valid(raw) {
		return nil, errors.New("client: payload is not valid JSON")
	}
	return raw, nil
}

func newCall(c *Client, cfg callConfig, action string, frame []byte) *Call {
	call := &Call{
		ID: cfg.id, Action: action, client: c, frame: frame, onMessage: cfg.onMessage,
		progress: make(chan protocol.ProgressMessage, c.opts.ProgressBuffer),
		done:     make(chan struct{}),
	}
	if f := cfg.onProgress; f != nil {
		call.inbox = make(chan protocol.ProgressMessage, 1)
		call.cbDone = make(chan struct{})
		go func() {
			defer close(call.cbDone)
			for p := range call.inbox {
				f(p)
			}
		}()
	}
	return call
}

// Progress returns the call's progress updates. The channel is buffered and never holds
// up the client: when it is full the oldest update is dropped, so the latest is always
// there. It is closed when the call ends.
func (call *Call) Progress() <-chan protocol.ProgressMessage { return call.progress }

// Ack returns the acknowledgement of an async request, or nil (not yet, or a synchronous
// action, which gets its result directly).
func (call *Call) Ack() *protocol.AckMessage {
	call.mu.Lock()
	defer call.mu.Unlock()
	return call.ack
}

// Done is closed when the call has ended.
func (call *Call) Done() <-chan struct{} { return call.done }

// Wait waits for the outcome: the result message, or the error. A failure reported by
// the server is a *protocol.Error carrying the protocol's code (errors.As); a client
// that closed or gave up reconnecting gives ErrClosed. With OnProgress, Wait also waits
// for the callback's last run.
func (call *Call) Wait(ctx context.Context) (*protocol.ResultMessage, error) {
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if call.cbDone != nil {
		select {
		case <-call.cbDone:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call.mu.Lock()
	defer call.mu.Unlock()
	return call.result, call.err
}

// setAck records the acknowledgement.
func (call *Call) setAck(ack *protocol.AckMessage) {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.ack == nil {
		call.ack = ack
	}
}

// deliver passes a progress update on, unless the call has ended or the update is older
// than one already delivered. With onlyNewer, an update that does not advance the
// percentage is dropped too (a status message repeating known progress).
func (call *Call) deliver(p protocol.ProgressMessage, onlyNewer bool) {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.finished || (call.seen && (p.Percentage < call.lastPct || onlyNewer && p.Percentage == call.lastPct)) {
		return
	}
	call.seen, call.lastPct = true, p.Percentage
	offerLatest(call.progress, p)
	if call.inbox != nil {
		offerLatest(call.inbox, p)
	}
}

// offerLatest puts v on ch without blocking, dropping the oldest value when ch is full.
// Callers hold the call's lock, so they are the only sender.
func offerLatest(ch chan protocol.ProgressMessage, v protocol.ProgressMessage) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// complete ends the call once; later outcomes are ignored.
func (call *Call) complete(res *protocol.ResultMessage, err error) {
	call.mu.Lock()
	defer call.mu.Unlock()
	if call.finished {
		return
	}
	call.finished, call.result, call.err = true, res, err
	close(call.progress)
	if call.inbox != nil {
		close(call.inbox)
	}
	close(call.done)
}

// Cancel asks the server to cancel the request (streamer.cancel). The call then ends
// with a CANCELLED *protocol.Error, unless it finished first.
func (call *Call) Cancel(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return call.client.write(systemFrame(protocol.ActionCancel, call.ID))
}

// lookup returns the call in flight with id, or nil.
func (c *Client) lookup(id string) *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// finish removes the call and completes it.
func (c *Client) finish(call *Call, res *protocol.ResultMessage, err error) {
	c.mu.Lock()
	if c.calls[call.ID] == call {
		delete(c.calls, call.ID)
	}
	c.mu.Unlock()
	c.parts.Discard(call.ID)
	call.complete(res, err)
}

// dispatch handles one message from the server, read at received.
func (c *Client) dispatch(data []byte, received time.Time) {
	m, err := decodeMessage(data)
	if m.typ == protocol.TypePong && err == nil {
		c.mu.Lock()
		for _, ch := range c.pongs {
			close(ch)
		}
		c.pongs = nil
		c.mu.Unlock()
		return
	}
	call := c.lookup(m.requestID)
	if call == nil {
		if err != nil {
			c.opts.Logger.Warn("streamer client: unreadable message", slog.String("error", err.Error()))
		} else {
			c.opts.Logger.Debug("streamer client: message for no call in flight", slog.String("type", m.typ), slog.String("request_id", m.requestID))
		}
		return
	}
	if call.onMessage != nil {
		call.onMessage(Message{Type: m.typ, Data: data, Received: received})
	}
	if err == nil {
		err = c.handle(call, m)
	}
	if err != nil {
		c.finish(call, nil, err)
	}
}

// serverMessage is one message from the server, decoded: its type and request id, and
// the message itself in the field of its type (none for a type the client does not
// know).
type serverMessage struct {
	typ, requestID string

	ack      *protocol.AckMessage
	progress *protocol.ProgressMessage
	result   *protocol.ResultMessage
	failure  *protocol.ErrorMessage
	status   *protocol.StatusMessage
}

// decodeMessage decodes one message from the server. Servers write the type first
// ({"type":"result",...}), so the message is decoded once, as the type its start names;
// a message in another shape has its type and request id read first. A message of a
// known type that does not decode as that type gives an error with typ and requestID
// set, so that its call can fail.
func decodeMessage(data []byte) (serverMessage, error) {
	if typ := leadingType(data); typ != "" {
		if m, err := decodeAs(typ, data); err == nil && m.typ == typ {
			return m, nil
		}
	}
	var head messageHead
	if err := json.Unmarshal(data, &head); err != nil {
		return serverMessage{}, fmt.Errorf("client: unreadable message: %w", err)
	}
	m, err := decodeAs(head.Type, data)
	m.typ, m.requestID = head.Type, head.RequestID
	return m, err
}

// messageHead is what every server message starts with.
type messageHead struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
}

// leadingType returns the type a message names at its very start, when it is one the
// client knows, else "". It is only a guess: decodeAs reads the real type.
func leadingType(data []byte) string {
	const prefix = `{"type":"`
	rest, ok := bytes.CutPrefix(data, []byte(prefix))
	if !ok {
		return ""
	}
	typ, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return ""
	}
	switch string(typ) {
	case protocol.TypeAck:
		return protocol.TypeAck
	case protocol.TypeProgress:
		return protocol.TypeProgress
	case protocol.TypeResult:
		return protocol.TypeResult
	case protocol.TypeError:
		return protocol.TypeError
	case protocol.TypeStatus:
		return protocol.TypeStatus
	case protocol.TypePong:
		return protocol.TypePong
	}
	return ""
}

// decodeAs decodes data as a message of type typ, and sets typ and requestID from what
// it decoded. A type the client does not know decodes to nothing but its name.
func decodeAs(typ string, data []byte) (serverMessage, error) {
	var (
		m   serverMessage
		err error
	)
	switch typ {
	case protocol.TypeAck:
		m.ack = new(protocol.AckMessage)
		err = json.Unmarshal(data, m.ack)
		m.typ, m.requestID = m.ack.Type, m.ack.RequestID
	case protocol.TypeProgress:
		m.progress = new(protocol.ProgressMessage)
		err = json.Unmarshal(data, m.progress)
		m.typ, m.requestID = m.progress.Type, m.progress.RequestID
	case protocol.TypeResult:
		m.result = new(protocol.ResultMessage)
		err = json.Unmarshal(data, m.result)
		m.typ, m.requestID = m.result.Type, m.result.RequestID
	case protocol.TypeError:
		m.failure = new(protocol.ErrorMessage)
		err = json.Unmarshal(data, m.failure)
		m.typ, m.requestID = m.failure.Type, m.failure.RequestID
	case protocol.TypeStatus:
		m.status = new(protocol.StatusMessage)
		err = json.Unmarshal(data, m.status)
		m.typ, m.requestID = m.status.Type, m.status.RequestID
	case protocol.TypePong:
		var head messageHead // a pong has nothing else
		err = json.Unmarshal(data, &head)
		m.typ, m.requestID = head.Type, head.RequestID
	default:
		m.typ = typ
	}
	if err != nil {
		return m, fmt.Errorf("client: bad %s message: %w", typ, err)
	}
	return m, nil
}

// handle applies one decoded message to its call; an error ends the call with it.
func (c *Client) handle(call *Call, m serverMessage) error {
	switch {
	case m.ack != nil:
		call.setAck(m.ack)
	case m.progress != nil:
		call.deliver(*m.progress, false)
	case m.result != nil:
		whole, done, err := c.parts.Add(*m.result)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		if done {
			c.finish(call, whole, nil)
		}
	case m.failure != nil:
		if m.failure.Error == nil {
			m.failure.Error = &protocol.Error{Code: protocol.CodeInternalError, Message: "error without details"}
		}
		c.finish(call, nil, m.failure.Error)
	case m.status != nil:
		c.status(call, m.status)
	default:
		c.opts.Logger.Debug("streamer client: unknown message type", slog.String("type", m.typ))
	}
	return nil
}

// status applies a status message: the answer to streamer.status after a reconnect, to
// streamer.cancel, or to a request id sent again. A terminal status ends the call; a
// running one marks it acknowledged and passes its progress on.
func (c *Client) status(call *Call, m *protocol.StatusMessage) {
	switch m.Status {
	case protocol.StatusCompleted:
		if isNull(m.Result) && c.parts.Holds(call.ID) {
			return // a large result: its parts are arriving as result messages
		}
		c.finish(call, &protocol.ResultMessage{Type: protocol.TypeResult, RequestID: call.ID, Action: call.Action, Success: true, Data: m.Result}, nil)
	case protocol.StatusFailed, protocol.StatusCancelled:
		e := m.Error
		if e == nil && m.Status == protocol.StatusCancelled {
			e = &protocol.Error{Code: protocol.CodeCancelled, Message: "cancelled by the client"}
		} else if e == nil {
			e = &protocol.Error{Code: protocol.CodeInternalError, Message: "the request failed"}
		}
		c.finish(call, nil, e)
	default:
		call.setAck(&protocol.AckMessage{Type: protocol.TypeAck, RequestID: call.ID, Action: call.Action, Status: m.Status})
		if m.Percentage > 0 {
			call.deliver(protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: call.ID, Percentage: m.Percentage, Message: m.Message, Timestamp: time.Now().UTC()}, true)
		}
	}
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
