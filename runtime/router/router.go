// Package router is Streamer's $default route: it turns API Gateway WebSocket message
// events into runs of a streamer.Registry's actions. It parses the frame, runs short
// actions at once and answers with the route response, queues long ones and answers
// with an ack, and answers the system actions (streamer.status, streamer.cancel,
// streamer.ping), as docs/PROTOCOL.md specifies.
package router

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Queue is the part of the request queue the router uses: enqueue a request, and the
// owner-scoped transitions of the system actions. store.Queue (dynamostore, memstore)
// implements it.
type Queue interface {
	// Enqueue stores a new PENDING request; a duplicate id returns a
	// *store.DuplicateError holding the existing request, an item over the limit
	// store.ErrTooLarge.
	Enqueue(ctx context.Context, req *store.AsyncRequest) error
	// Rebind points the owner's request at connectionID and returns it.
	Rebind(ctx context.Context, owner store.Owner, clientID, connectionID string) (*store.AsyncRequest, error)
	// RequestCancel cancels the owner's request; cancelled reports whether this call
	// ended a PENDING one.
	RequestCancel(ctx context.Context, owner store.Owner, clientID string, errJSON json.RawMessage) (req *store.AsyncRequest, cancelled bool, err error)
}

// Sender sends one message to one connection. The router only needs it for a
// synchronous result too large for a route response (the sender splits it into parts)
// and for the status that precedes the terminal error of a cancelled pending request.
// connection.Manager implements it.
type Sender interface {
	Send(ctx context.Context, connectionID string, message any) error
}

// Limiter decides whether an owner may queue one more async request, across every
// router: store.Limiter implements it.
type Limiter interface {
	// Admit admits clientID for owner, or says which limit refuses it and when to retry.
	Admit(ctx context.Context, owner store.Owner, clientID string) (store.Admission, error)
}

var (
	_ Queue   = (*store.Queue)(nil)
	_ Limiter = (*store.Limiter)(nil)
)

// Dispatcher starts a worker for a request the router has just queued, without waiting
// for it to run: an asynchronous Lambda invoke of the worker function in AWS, the
// in-process invoker in the local stack. It must return when ctx ends. A worker started
// twice for one request (by the dispatch and by the stream) is harmless: the worker's
// conditional claim lets one run.
type Dispatcher interface {
	Dispatch(ctx context.Context, requestID string) error
}

// DispatchFunc adapts a function to a Dispatcher.
type DispatchFunc func(ctx context.Context, requestID string) error

// Dispatch calls f.
func (f DispatchFunc) Dispatch(ctx context.Context, requestID string) error { return f(ctx, requestID) }

// DefaultDispatchTimeout is the default of Options.DispatchTimeout: an asynchronous
// Lambda invoke usually answers in tens of milliseconds, and past this the stream
// delivers the request about as soon.
const DefaultDispatchTimeout = 100 * time.Millisecond

// Options configures a Router. Every zero field takes its default.
type Options struct {
	// AsyncThreshold is the estimate above which an action that runs by its estimate is
	// queued; equal runs at once. Default contract.DefaultAsyncThreshold (5 s).
	AsyncThreshold time.Duration
	// SyncBudget is the time a synchronous run gets before the client is answered with
	// TIMEOUT, inside API Gateway's 29 s. Default contract.DefaultSyncBudget (25 s).
	SyncBudget time.Duration
	// MaxAttempts is the number of attempts stored on each queued request. Default
	// contract.DefaultMaxAttempts (3).
	MaxAttempts int
	// Dispatcher, when set, is given the scoped id of every newly queued request right
	// after its enqueue, so that a worker starts at once instead of after the stream's
	// delay (direct dispatch). A failed or slow dispatch is logged and the ack goes out
	// all the same: the stream delivers every queued request anyway. Default nil: the
	// stream alone.
	Dispatcher Dispatcher
	// DispatchTimeout bounds the wait for Dispatcher, and so what direct dispatch can
	// add to the ack. Default DefaultDispatchTimeout (100 ms).
	DispatchTimeout time.Duration
	// Middleware runs outside the registry's own middleware around every synchronous
	// run (package lambdas puts its logging and metrics here). Default none.
	Middleware []streamer.Middleware
	// Limiter admits async requests before they are queued; a refused one is answered
	// RATE_LIMITED and nothing is queued. Synchronous requests are not counted. Default:
	// none, every request is queued.
	Limiter Limiter
	// Logger receives the router's own events: handler failures and panics, store
	// errors. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.AsyncThreshold <= 0 {
		o.AsyncThreshold = contract.DefaultAsyncThreshold
	}
	if o.SyncBudget <= 0 {
		o.SyncBudget = contract.DefaultSyncBudget
	}
	if o.MaxAttempts < 1 {
		o.MaxAttempts = contract.DefaultMaxAttempts
	}
	if o.DispatchTimeout <= 0 {
		o.DispatchTimeout = DefaultDispatchTimeout
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	return o
}

// Router handles $default events for the actions of a Registry. It is safe for
// concurrent use.
type Router struct {
	registry *streamer.Registry
	queue    Queue
	sender   Sender
	opts     Options
	run      streamer.ProcessFunc // a synchronous run through Options.Middleware
	calls    sync.Pool            // *syncCall, reused between synchronous runs

	cancelledJSON json.RawMessage // the error stored by streamer.cancel
}

// New returns a router for the actions of registry that queues async requests on queue
// and sends oversized synchronous results through sender (a connection.Manager).
// Either may be nil for a router that only runs synchronous actions: queued and system
// actions then answer SERVICE_UNAVAILABLE, oversized results PAYLOAD_TOO_LARGE.
func New(registry *streamer.Registry, queue Queue, sender Sender, opts Options) *Router {
	r := &Router{registry: registry, queue: queue, sender: sender, opts: opts.withDefaults()}
	r.cancelledJSON, _ = json.Marshal(cancelledError().WireError()) // strings and a bool always marshal
	r.calls.New = func() any { return &syncCall{done: make(chan struct{}, 1)} }
	r.run = streamer.Chain(func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
		return registry.Run(ctx, req, nil)
	}, r.opts.Middleware...)
	return r
}

// logPanic logs a recovered panic (an error wrapping a *streamer.PanicError) with its
// stack.
func (r *Router) logPanic(ctx context.Context, req *streamer.Request, err error) {
	var p *streamer.PanicError
	if !errors.As(err, &p) {
		return
	}
	r.opts.Logger.LogAttrs(ctx, slog.LevelError, "handler panicked",
		slog.String("request_id", req.ID), slog.String("action", req.Action),
		slog.Any("panic", p.Value), slog.String("stack", string(p.Stack)))
}
