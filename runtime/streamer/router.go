package streamer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// Registration errors returned by Handle; test with errors.Is.
var (
	// ErrEmptyAction: the action name is empty.
	ErrEmptyAction = errors.New("streamer: empty action name")
	// ErrReservedAction: the action name starts with the reserved "streamer." prefix.
	ErrReservedAction = errors.New("streamer: reserved action name")
	// ErrDuplicateAction: a handler is already registered under the action name.
	ErrDuplicateAction = errors.New("streamer: action already registered")
	// ErrNilHandler: the handler is nil.
	ErrNilHandler = errors.New("streamer: nil handler")
)

// ErrPanic is wrapped by the error a panicking handler is turned into, so middleware sees
// a panic as an INTERNAL_ERROR like any other failure.
var ErrPanic = errors.New("streamer: handler panicked")

// ProcessFunc runs one request: a handler's Process, or the executor's async run.
type ProcessFunc func(ctx context.Context, req *Request) (*Result, error)

// Middleware wraps a ProcessFunc. The action being run is req.Action. Middleware applies
// to synchronous runs in the router and, through Wrap, to asynchronous runs in the
// executor; frames the router rejects before running a handler (bad JSON, unknown
// action, failed validation) and system actions do not pass through it.
type Middleware func(next ProcessFunc) ProcessFunc

// ConnectionSender sends one message to one connection. connection.ConnectionManager
// implements it; the router only needs Send, for a synchronous result too large for a
// route response (the sender splits it into parts).
type ConnectionSender interface {
	Send(ctx context.Context, connectionID string, message any) error
}

// DefaultRouter turns API Gateway WebSocket $default events into handler runs: it parses
// the frame, runs short actions at once and answers with the route response, queues long
// ones and answers with an ack, and answers the system actions. It is safe for
// concurrent use; registration and settings may change while it routes.
type DefaultRouter struct {
	queue       store.RequestQueue
	connections ConnectionSender

	mu    sync.Mutex              // serialises writers of table
	table atomic.Pointer[routing] // immutable snapshot read by Route without locking
	calls sync.Pool               // *syncCall, reused between synchronous runs
}

// routing is one immutable snapshot of the router's handlers, middleware and settings.
// Writers copy it, change the copy and swap it in, so Route never takes a lock.
type routing struct {
	routes         map[string]route
	middleware     []Middleware
	asyncThreshold time.Duration
	syncBudget     time.Duration
	maxAttempts    int
	logger         *slog.Logger
	cancelledJSON  json.RawMessage // the error stored by streamer.cancel
}

// route is one registered action: its handler, its Process composed with middleware,
// and its name as JSON text (for the result encoder).
type route struct {
	handler      Handler
	run          ProcessFunc
	quotedAction string
}

// NewRouter returns a router that queues async requests on queue and sends oversized
// synchronous results through connections (a connection.ConnectionManager). Defaults:
// async threshold contract.DefaultAsyncThreshold (5 s), sync budget
// contract.DefaultSyncBudget (25 s), contract.DefaultMaxAttempts (3) attempts,
// slog.Default() as logger.
func NewRouter(queue store.RequestQueue, connections ConnectionSender) *DefaultRouter {
	cancelled, _ := json.Marshal(cancelledError().WireError()) // strings and a bool always marshal
	r := &DefaultRouter{queue: queue, connections: connections}
	r.calls.New = func() any { return &syncCall{done: make(chan struct{}, 1)} }
	r.table.Store(&routing{
		routes:         map[string]route{},
		asyncThreshold: contract.DefaultAsyncThreshold,
		syncBudget:     contract.DefaultSyncBudget,
		maxAttempts:    contract.DefaultMaxAttempts,
		logger:         slog.Default(),
		cancelledJSON:  cancelled,
	})
	return r
}

// update applies change to a copy of the current snapshot, recomposes the middleware
// chains and publishes the copy.
func (r *DefaultRouter) update(change func(t *routing) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := *r.table.Load()
	t.routes = maps.Clone(t.routes)
	t.middleware = t.middleware[:len(t.middleware):len(t.middleware)]
	if err := change(&t); err != nil {
		return err
	}
	for action, rt := range t.routes {
		rt.run = t.chain(guard(t.logger, rt.handler.Process))
		t.routes[action] = rt
	}
	r.table.Store(&t)
	return nil
}

// set applies a change that cannot fail.
func (r *DefaultRouter) set(change func(t *routing)) {
	_ = r.update(func(t *routing) error { change(t); return nil })
}

// Handle registers h under action. Empty names, names starting with "streamer." and
// names already registered are refused.
func (r *DefaultRouter) Handle(action string, h Handler) error {
	switch {
	case action == "":
		return ErrEmptyAction
	case strings.HasPrefix(action, ReservedPrefix):
		return fmt.Errorf("%w: %q", ErrReservedAction, action)
	case h == nil:
		return fmt.Errorf("%w: %q", ErrNilHandler, action)
	}
	return r.update(func(t *routing) error {
		if _, ok := t.routes[action]; ok {
			return fmt.Errorf("%w: %q", ErrDuplicateAction, action)
		}
		quoted, _ := json.Marshal(action) // a string always marshals
		t.routes[action] = route{handler: h, quotedAction: string(quoted)}
		return nil
	})
}

// Use appends middleware. It applies to every handler, registered before or after the
// call. The first middleware added is the outermost: Use(a, b) runs a(b(handler)).
func (r *DefaultRouter) Use(mw ...Middleware) {
	r.set(func(t *routing) {
		for _, m := range mw {
			if m != nil {
				t.middleware = append(t.middleware, m)
			}
		}
	})
}

// SetAsyncThreshold sets the estimate above which a request is queued instead of run at
// once (default 5 s). A handler whose EstimatedDuration equals it runs synchronously.
func (r *DefaultRouter) SetAsyncThreshold(d time.Duration) {
	r.set(func(t *routing) { t.asyncThreshold = d })
}

// SetSyncBudget sets the time a synchronous handler gets before the client is answered
// with TIMEOUT (default 25 s, inside API Gateway's 29 s integration timeout). A value of
// zero or less restores the default.
func (r *DefaultRouter) SetSyncBudget(d time.Duration) {
	if d <= 0 {
		d = contract.DefaultSyncBudget
	}
	r.set(func(t *routing) { t.syncBudget = d })
}

// SetMaxAttempts sets the number of attempts stored on each queued request (default 3).
// A value below 1 restores the default.
func (r *DefaultRouter) SetMaxAttempts(n int) {
	if n < 1 {
		n = contract.DefaultMaxAttempts
	}
	r.set(func(t *routing) { t.maxAttempts = n })
}

// SetLogger sets the logger of the router's own events: handler failures and panics,
// store errors (default slog.Default(); nil restores it).
func (r *DefaultRouter) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.Default()
	}
	r.set(func(t *routing) { t.logger = l })
}

// Lookup returns the handler registered under action.
func (r *DefaultRouter) Lookup(action string) (Handler, bool) {
	rt, ok := r.table.Load().routes[action]
	return rt.handler, ok
}

// Wrap returns f wrapped in the router's middleware (as configured at the time of the
// call), for the executor to run async requests through the same chain as synchronous
// ones. A request with no Action gets action, so middleware can rely on req.Action. A
// panic in f becomes an error wrapping ErrPanic, logged with its stack.
func (r *DefaultRouter) Wrap(action string, f ProcessFunc) ProcessFunc {
	t := r.table.Load()
	chained := t.chain(guard(t.logger, f))
	return func(ctx context.Context, req *Request) (*Result, error) {
		if req.Action == "" {
			req.Action = action
		}
		return chained(ctx, req)
	}
}

// chain composes the middleware around f, the first added outermost.
func (t *routing) chain(f ProcessFunc) ProcessFunc {
	for i := len(t.middleware) - 1; i >= 0; i-- {
		f = t.middleware[i](f)
	}
	return f
}

// guard turns a panic in f into an error wrapping ErrPanic and logs it with its stack.
func guard(logger *slog.Logger, f ProcessFunc) ProcessFunc {
	return func(ctx context.Context, req *Request) (res *Result, err error) {
		defer func() {
			if p := recover(); p != nil {
				res, err = nil, recovered(ctx, logger, req, p)
			}
		}()
		return f(ctx, req)
	}
}

// recovered logs a recovered panic with its stack and returns it as an error wrapping
// ErrPanic.
func recovered(ctx context.Context, logger *slog.Logger, req *Request, p any) error {
	logger.LogAttrs(ctx, slog.LevelError, "handler panicked",
		slog.String("request_id", req.ID), slog.String("action", req.Action),
		slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
	return fmt.Errorf("%w: %v", ErrPanic, p)
}
