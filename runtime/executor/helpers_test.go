package executor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

const (
	testTenant = "tenant-1"
	testUser   = "user-1"
	testConn   = "conn-1"
)

var testOwner = store.Owner{TenantID: testTenant, UserID: testUser}

// wire is one message as it went on the wire, with the fields the tests look at.
type wire struct {
	Connection string
	Raw        json.RawMessage
	Type       string          `json:"type"`
	RequestID  string          `json:"request_id"`
	Percentage float64         `json:"percentage"`
	Message    string          `json:"message"`
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data"`
	Error      *streamer.Error `json:"error"`
	// StoredStatus is the request's status in the store when a terminal message was sent.
	StoredStatus store.RequestStatus
}

func (w wire) terminal() bool { return w.Type == protocol.TypeResult || w.Type == protocol.TypeError }

// recordingSender is the Sender of the tests: it records every message as JSON, answers
// errGone for connections marked gone, and reports each terminal message on terminals.
type recordingSender struct {
	queue     *store.Queue
	terminals chan wire

	mu   sync.Mutex
	msgs []wire
	gone map[string]bool
}

func (s *recordingSender) Send(ctx context.Context, connectionID string, message any) error {
	raw, err := json.Marshal(message)
	if err != nil {
		return err
	}
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		return err
	}
	w.Connection, w.Raw = connectionID, raw
	if w.terminal() {
		r, err := s.queue.Get(ctx, store.ScopedID(testTenant, testUser, w.RequestID))
		if err == nil {
			w.StoredStatus = r.Status
		}
	}
	s.mu.Lock()
	gone := s.gone[connectionID]
	if !gone {
		s.msgs = append(s.msgs, w)
	}
	s.mu.Unlock()
	if w.terminal() {
		s.terminals <- w
	}
	if gone {
		return fmt.Errorf("send to %s: %w", connectionID, connection.ErrGone)
	}
	return nil
}

func (s *recordingSender) markGone(connectionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone[connectionID] = true
}

// messages returns the messages delivered for one client request id, in order.
func (s *recordingSender) messages(clientID string) []wire {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire
	for _, w := range s.msgs {
		if w.RequestID == clientID {
			out = append(out, w)
		}
	}
	return out
}

// awaitTerminal waits for the next terminal message.
func (s *recordingSender) awaitTerminal(t *testing.T) wire {
	t.Helper()
	select {
	case w := <-s.terminals:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("no terminal message within 10 s")
		return wire{}
	}
}

// reportUntil is the body of a handler that runs until stopped: it reports rising
// progress every 10 ms until ctx ends (returning its error) or done, asked after each
// report, returns a result.
func reportUntil(ctx context.Context, rep streamer.Reporter, done func() (*streamer.Result, bool)) (*streamer.Result, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for pct := 1.0; ; pct++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		_ = rep.Report(min(pct, 99), "working")
		if res, ok := done(); ok {
			return res, nil
		}
	}
}

// requireOneTerminalLast checks the protocol's ordering guarantees for one request:
// non-decreasing progress, and exactly one terminal message, last. It returns it.
func requireOneTerminalLast(t *testing.T, msgs []wire) wire {
	t.Helper()
	require.NotEmpty(t, msgs)
	last := -1.0
	for i, m := range msgs {
		if i == len(msgs)-1 {
			require.True(t, m.terminal(), "last message is %s, want a terminal one", m.Type)
			return m
		}
		require.Equal(t, protocol.TypeProgress, m.Type, "message %d of %d: %s", i, len(msgs), m.Raw)
		require.GreaterOrEqual(t, m.Percentage, last, "progress went down")
		last = m.Percentage
	}
	return wire{}
}

// testHandler is an async handler whose body a test sets; it counts its runs.
type testHandler struct {
	runs atomic.Int32
	fn   func(ctx context.Context, run int, req *streamer.Request, rep streamer.Reporter) (*streamer.Result, error)
}

func (h *testHandler) EstimatedDuration() time.Duration { return time.Minute }
func (h *testHandler) Validate(*streamer.Request) error { return nil }
func (h *testHandler) Process(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	return h.ProcessWithProgress(ctx, req, nil)
}
func (h *testHandler) ProcessWithProgress(ctx context.Context, req *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
	return h.fn(ctx, int(h.runs.Add(1)), req, rep)
}

// bundle is one test's system: an in-memory store, a router, a recording sender and a
// worker.
type bundle struct {
	store  *memstore.Store
	queue  *store.Queue
	reg    *streamer.Registry
	sender *recordingSender
	worker *executor.Worker
}

// fastConfig makes the worker's intervals short, so tests finish in seconds.
func fastConfig() executor.Config {
	return executor.Config{
		Lease:            2 * time.Second,
		ProgressInterval: 10 * time.Millisecond,
		PersistInterval:  20 * time.Millisecond,
		Logger:           quietLogger(),
	}
}

func quietLogger() *slog.Logger {
	if os.Getenv("STREAMER_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func setup(t *testing.T, cfg executor.Config) *bundle {
	t.Helper()
	s := memstore.New(memstore.Options{})
	b := &bundle{store: s, queue: s.Requests()}
	b.sender = &recordingSender{queue: b.queue, terminals: make(chan wire, 100), gone: map[string]bool{}}
	b.reg = streamer.NewRegistry()
	w, err := executor.NewWorker(b.queue, b.reg, b.sender, cfg)
	require.NoError(t, err)
	b.worker = w
	return b
}

// register adds an async handler under action.
func (b *bundle) register(t *testing.T, action string, fn func(ctx context.Context, run int, req *streamer.Request, rep streamer.Reporter) (*streamer.Result, error)) *testHandler {
	t.Helper()
	h := &testHandler{fn: fn}
	require.NoError(t, b.reg.Handle(action, h))
	return h
}

// enqueue queues a PENDING request as the router does and returns its scoped id.
func (b *bundle) enqueue(t *testing.T, clientID, action string, maxAttempts int) string {
	t.Helper()
	id := store.ScopedID(testTenant, testUser, clientID)
	require.NoError(t, b.queue.Enqueue(t.Context(), &store.AsyncRequest{
		RequestID:    id,
		ClientID:     clientID,
		ConnectionID: testConn,
		Action:       action,
		Payload:      json.RawMessage(`{"n":1}`),
		UserID:       testUser,
		TenantID:     testTenant,
		MaxAttempts:  maxAttempts,
	}))
	return id
}

func (b *bundle) get(t *testing.T, id string) *store.AsyncRequest {
	t.Helper()
	r, err := b.queue.Get(t.Context(), id)
	require.NoError(t, err)
	return r
}

// storedError decodes a request's stored error.
func storedError(t *testing.T, r *store.AsyncRequest) *streamer.Error {
	t.Helper()
	var e streamer.Error
	require.NoError(t, json.Unmarshal(r.Error, &e), "error %s", r.Error)
	return &e
}

// handleUntilTerminal runs the worker for id until the request is terminal (each
// Release needs a new invocation, as the stream would trigger) and returns it.
func (b *bundle) handleUntilTerminal(t *testing.T, id string, maxRuns int) *store.AsyncRequest {
	t.Helper()
	for range maxRuns {
		require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))
		if r := b.get(t, id); r.Status.Terminal() {
			return r
		}
	}
	t.Fatalf("request %s not terminal after %d invocations", id, maxRuns)
	return nil
}

// await receives from ch, failing the test after 10 s instead of hanging it.
func await[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10 s")
		var zero T
		return zero
	}
}
