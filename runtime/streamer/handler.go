package streamer

import (
	"context"
	"time"
)

// Handler processes one action. The router calls EstimatedDuration to choose the path:
// at or under the async threshold the request runs synchronously through Process; above
// it, the request is queued and a worker runs it (through ProcessWithProgress when the
// handler implements HandlerWithProgress, otherwise through Process).
type Handler interface {
	// EstimatedDuration decides sync or async processing (threshold 5 s by default).
	EstimatedDuration() time.Duration
	// Validate checks the request before anything runs or is queued. Return a *Error
	// (usually VALIDATION_ERROR) to tell the client what is wrong.
	Validate(req *Request) error
	// Process handles the request and returns its result.
	Process(ctx context.Context, req *Request) (*Result, error)
}

// HandlerWithProgress is a Handler that reports progress while it runs asynchronously.
type HandlerWithProgress interface {
	Handler
	// ProcessWithProgress handles an async request, reporting progress on reporter. It
	// returns the result, or reporter.Complete's result. ctx is cancelled when the client
	// cancels the request or the worker's time runs out.
	ProcessWithProgress(ctx context.Context, req *Request, reporter Reporter) (*Result, error)
}

// Reporter sends progress of one request to its client. Package progress provides the
// coalescing implementation and names this interface progress.Reporter; it is declared
// here so that HandlerWithProgress needs no import of package progress.
type Reporter interface {
	// Report sends a progress update (percentage 0-100, clamped, never decreasing).
	Report(percentage float64, message string, details ...map[string]any) error
	// Complete marks the operation finished with result as its data.
	Complete(result map[string]any) (*Result, error)
	// Fail marks the operation failed.
	Fail(err error) error
}

// HandlerFunc adapts a function to a synchronous Handler with a fixed estimate and no
// validation, for small actions and tests.
type HandlerFunc func(ctx context.Context, req *Request) (*Result, error)

// EstimatedDuration returns 0: a HandlerFunc always runs synchronously.
func (f HandlerFunc) EstimatedDuration() time.Duration { return 0 }

// Validate accepts every request.
func (f HandlerFunc) Validate(*Request) error { return nil }

// Process calls f.
func (f HandlerFunc) Process(ctx context.Context, req *Request) (*Result, error) { return f(ctx, req) }

// ProcessFunc runs one request: a handler's Process or ProcessWithProgress, as
// middleware sees it.
type ProcessFunc func(ctx context.Context, req *Request) (*Result, error)

// Middleware wraps a ProcessFunc. The action being run is req.Action. Middleware
// registered on a Registry applies to every run of every action, synchronous in the
// router and asynchronous in the worker alike; frames the router rejects before running
// a handler (bad JSON, unknown action, failed validation) and system actions do not pass
// through it.
type Middleware func(next ProcessFunc) ProcessFunc

// Mode says where an action runs.
type Mode int

const (
	// ModeEstimate runs the action synchronously when its EstimatedDuration is at or
	// under the router's async threshold, asynchronously above it.
	ModeEstimate Mode = iota
	// ModeSync always runs the action at once in the router.
	ModeSync
	// ModeAsync always queues the action for a worker.
	ModeAsync
)

// String returns "estimate", "sync" or "async".
func (m Mode) String() string {
	switch m {
	case ModeSync:
		return "sync"
	case ModeAsync:
		return "async"
	}
	return "estimate"
}

// moder is implemented by handlers that choose their path explicitly (Sync and Async).
type moder interface{ Mode() Mode }

// RunsAsync reports whether the router queues h rather than running it at once, given
// the async threshold: an explicit Sync or Async handler says so itself, any other is
// queued when its EstimatedDuration is above threshold.
func RunsAsync(h Handler, threshold time.Duration) bool {
	if m, ok := h.(moder); ok {
		switch m.Mode() {
		case ModeSync:
			return false
		case ModeAsync:
			return true
		}
	}
	return h.EstimatedDuration() > threshold
}
