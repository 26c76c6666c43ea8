package router_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/internal/logtest"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// loadEvent reads an API Gateway WebSocket event fixture from testdata.
func loadEvent(tb testing.TB, name string) events.APIGatewayWebsocketProxyRequest {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(tb, err)
	var e events.APIGatewayWebsocketProxyRequest
	require.NoError(tb, json.Unmarshal(raw, &e))
	return e
}

// withBody returns the message fixture carrying body.
func withBody(tb testing.TB, body string) events.APIGatewayWebsocketProxyRequest {
	tb.Helper()
	e := loadEvent(tb, "message.json")
	e.Body = body
	return e
}

// fixtureOwner is the identity of the authorizer context in message.json.
var fixtureOwner = store.Owner{TenantID: "acme", UserID: "user-7"}

// fixtureConnection is the connection id of message.json.
const fixtureConnection = "b3JlXcQWIAMCKzQ="

// route sends e through r and returns the reply body decoded as a JSON object (or nil for
// an empty body).
func route(tb testing.TB, r *router.Router, e events.APIGatewayWebsocketProxyRequest) map[string]any {
	tb.Helper()
	resp, err := r.Route(context.Background(), e)
	require.NoError(tb, err)
	require.Equal(tb, 200, resp.StatusCode)
	if resp.Body == "" {
		return nil
	}
	var reply map[string]any
	require.NoError(tb, json.Unmarshal([]byte(resp.Body), &reply), "reply %s", resp.Body)
	return reply
}

// errorCode returns the code of an error reply, failing when reply is not one.
func errorCode(tb testing.TB, reply map[string]any) string {
	tb.Helper()
	require.Equal(tb, "error", reply["type"], "reply %v", reply)
	e, ok := reply["error"].(map[string]any)
	require.True(tb, ok, "reply %v", reply)
	code, _ := e["code"].(string)
	retry, ok := e["retry"].(map[string]any)
	require.True(tb, ok, "every error carries retry info: %v", reply)
	require.Equal(tb, protocol.IsRetryableCode(code), retry["retryable"], "retryable of %s", code)
	return code
}

// echo returns the payload as data.
func echo(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
	return &streamer.Result{RequestID: req.ID, Success: true, Data: req.Payload}, nil
}

// testHandler is a Handler with configurable estimate, validation and processing.
type testHandler struct {
	estimate time.Duration
	validate func(*streamer.Request) error
	process  streamer.ProcessFunc
}

func (h *testHandler) EstimatedDuration() time.Duration { return h.estimate }

func (h *testHandler) Validate(req *streamer.Request) error {
	if h.validate == nil {
		return nil
	}
	return h.validate(req)
}

func (h *testHandler) Process(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	if h.process == nil {
		return nil, errors.New("async handler run synchronously")
	}
	return h.process(ctx, req)
}

// asyncHandler is a handler the router queues (estimated over the default threshold).
func asyncHandler() *testHandler { return &testHandler{estimate: 2 * time.Minute} }

// bundle is what a router test works with.
type bundle struct {
	reg    *streamer.Registry
	router *router.Router
	queue  *queue
	sender *splitSender
	logs   *logtest.Buffer
}

// setup returns a router with a fake queue, a splitting sender, a JSON logger into a
// buffer, and the handlers echo (sync) and report (async).
func setup(tb testing.TB) *bundle {
	tb.Helper()
	b := &bundle{reg: streamer.NewRegistry(), queue: newQueue(), sender: &splitSender{}, logs: &logtest.Buffer{}}
	b.configure(router.Options{})
	require.NoError(tb, b.reg.Handle("echo", streamer.HandlerFunc(echo)))
	require.NoError(tb, b.reg.Handle("report", asyncHandler()))
	return b
}

// configure replaces the bundle's router by one with opts (logging into b.logs), over the
// same registry, queue and sender.
func (b *bundle) configure(opts router.Options) {
	opts.Logger = slog.New(slog.NewJSONHandler(b.logs, nil))
	b.router = router.New(b.reg, b.queue, b.sender, opts)
}

// logLines decodes the JSON log lines written to logs so far.
func logLines(tb testing.TB, logs *logtest.Buffer) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for line := range bytes.Lines([]byte(logs.String())) {
		var m map[string]any
		require.NoError(tb, json.Unmarshal(line, &m))
		out = append(out, m)
	}
	return out
}

// splitSender is a ConnectionSender that splits result messages with the real
// protocol.SplitResult, as the connection manager does, and keeps the frames per
// connection.
type splitSender struct {
	mu     sync.Mutex
	frames map[string][][]byte
	err    error
}

var _ router.Sender = (*splitSender)(nil)

func (s *splitSender) Send(_ context.Context, connectionID string, message any) error {
	if s.err != nil {
		return s.err
	}
	var parts [][]byte
	switch msg := message.(type) {
	case *protocol.ResultMessage:
		var err error
		if parts, err = protocol.SplitResult(msg, protocol.MaxMessageBytes); err != nil {
			return err
		}
	case *protocol.StatusMessage:
		frame, err := json.Marshal(msg)
		if err != nil {
			return err
		}
		parts = [][]byte{frame}
	default:
		return errors.New("splitSender: only result and status messages expected")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frames == nil {
		s.frames = map[string][][]byte{}
	}
	s.frames[connectionID] = append(s.frames[connectionID], parts...)
	return nil
}

// sent returns a copy of the frames sent to connectionID, in order.
func (s *splitSender) sent(connectionID string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames[connectionID])
}

// reassemble puts the frames sent to connectionID back together.
func (s *splitSender) reassemble(tb testing.TB, connectionID string) *protocol.ResultMessage {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	frames := s.frames[connectionID]
	require.Greater(tb, len(frames), 1, "a large result is sent in parts")
	var ra protocol.Reassembler
	for i, f := range frames {
		require.LessOrEqual(tb, len(f), protocol.MaxMessageBytes)
		var m protocol.ResultMessage
		require.NoError(tb, json.Unmarshal(f, &m))
		done, ok, err := ra.Add(m)
		require.NoError(tb, err)
		if i == len(frames)-1 {
			require.True(tb, ok)
			return done
		}
		require.False(tb, ok)
	}
	return nil
}

// queue is the real in-memory request queue (memstore) with fault injection: while fail
// is set, the calls the router makes return it.
type queue struct {
	*store.Queue
	mu       sync.Mutex
	fail     error
	enqueues int
}

var _ router.Queue = (*queue)(nil)

func newQueue() *queue { return &queue{Queue: memstore.New(memstore.Options{}).Requests()} }

// failWith makes the router's calls fail with err (nil heals).
func (q *queue) failWith(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fail = err
}

func (q *queue) failure() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fail
}

func (q *queue) Enqueue(ctx context.Context, req *store.AsyncRequest) error {
	if err := q.failure(); err != nil {
		return err
	}
	q.mu.Lock()
	q.enqueues++
	q.mu.Unlock()
	return q.Queue.Enqueue(ctx, req)
}

func (q *queue) Rebind(ctx context.Context, owner store.Owner, clientID, connectionID string) (*store.AsyncRequest, error) {
	if err := q.failure(); err != nil {
		return nil, err
	}
	return q.Queue.Rebind(ctx, owner, clientID, connectionID)
}

func (q *queue) RequestCancel(ctx context.Context, owner store.Owner, clientID string, errJSON json.RawMessage) (*store.AsyncRequest, bool, error) {
	if err := q.failure(); err != nil {
		return nil, false, err
	}
	return q.Queue.RequestCancel(ctx, owner, clientID, errJSON)
}

// enqueueCount returns the number of Enqueue calls that reached the store.
func (q *queue) enqueueCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.enqueues
}

// stored returns the owner's request clientID as stored, or nil.
func (q *queue) stored(tb testing.TB, owner store.Owner, clientID string) *store.AsyncRequest {
	tb.Helper()
	r, err := q.Get(context.Background(), store.ScopedID(owner.TenantID, owner.UserID, clientID))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	require.NoError(tb, err)
	return r
}
