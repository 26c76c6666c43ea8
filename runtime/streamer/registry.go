package streamer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// Registration errors returned by Registry.Handle; test with errors.Is.
var (
	// ErrEmptyAction: the action name is empty.
	ErrEmptyAction = errors.New("streamer: empty action name")
	// ErrReservedAction: the action name starts with the reserved "streamer." prefix.
	ErrReservedAction = errors.New("streamer: reserved action name")
	// ErrDuplicateAction: a handler is already registered under the action name.
	ErrDuplicateAction = errors.New("streamer: action already registered")
	// ErrNilHandler: the handler (or a typed handler's function) is nil.
	ErrNilHandler = errors.New("streamer: nil handler")
)

// ErrPanic is matched (errors.Is) by the error a panicking handler is turned into, so
// middleware sees a panic as an INTERNAL_ERROR like any other failure.
var ErrPanic = errors.New("streamer: handler panicked")

// PanicError is a panic recovered from a handler: the value and the stack where it
// happened, for the log. It matches ErrPanic; clients see it as INTERNAL_ERROR.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the goroutine's stack at the panic
}

// Error returns "streamer: handler panicked: <value>".
func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrPanic, e.Value) }

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Recovered returns the PanicError of a value recovered from a panic, with the current
// stack. Deferred recovers in the router and the worker use it.
func Recovered(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

// Registry holds an application's actions and middleware: one value that the router
// and the worker both run actions through, so that an action behaves the same on either
// path. It is safe for concurrent use; actions and middleware may be added while it
// serves (each change publishes a new immutable snapshot that runs read without a lock),
// though an application usually registers everything before it starts.
type Registry struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[registrySnapshot]
}

// registrySnapshot is one immutable state of a Registry.
type registrySnapshot struct {
	actions    map[string]registered
	middleware []Middleware
}

// registered is one action: its handler and its synchronous run composed with the
// middleware.
type registered struct {
	handler Handler
	sync    ProcessFunc
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.snap.Store(&registrySnapshot{actions: map[string]registered{}})
	return r
}

// update applies change to a copy of the current snapshot, recomposes the synchronous
// runs and publishes the copy.
func (r *Registry) update(change func(s *registrySnapshot) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := *r.snap.Load()
	s.actions = maps.Clone(s.actions)
	s.middleware = slices.Clip(s.middleware)
	if err := change(&s); err != nil {
		return err
	}
	for name, a := range s.actions {
		a.sync = s.chain(guard(a.handler.Process))
		s.actions[name] = a
	}
	r.snap.Store(&s)
	return nil
}

// Handle registers h under action. Empty names, names starting with "streamer." (the
// system actions), names already registered and nil handlers are refused.
func (r *Registry) Handle(action string, h Handler) error {
	switch {
	case action == "":
		return ErrEmptyAction
	case strings.HasPrefix(action, protocol.ReservedPrefix):
		return fmt.Errorf("%w: %q", ErrReservedAction, action)
	case h == nil:
		return fmt.Errorf("%w: %q", ErrNilHandler, action)
	}
	if c, ok := h.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return fmt.Errorf("%w: %q", err, action)
		}
	}
	return r.update(func(s *registrySnapshot) error {
		if _, ok := s.actions[action]; ok {
			return fmt.Errorf("%w: %q", ErrDuplicateAction, action)
		}
		s.actions[action] = registered{handler: h}
		return nil
	})
}

// Use appends middleware. It applies to every action, registered before or after the
// call. The first middleware added is the outermost: Use(a, b) runs a(b(handler)).
func (r *Registry) Use(mw ...Middleware) {
	_ = r.update(func(s *registrySnapshot) error {
		for _, m := range mw {
			if m != nil {
				s.middleware = append(s.middleware, m)
			}
		}
		return nil
	})
}

// Lookup returns the handler registered under action.
func (r *Registry) Lookup(action string) (Handler, bool) {
	a, ok := r.snap.Load().actions[action]
	return a.handler, ok
}

// Actions returns the registered action names, sorted.
func (r *Registry) Actions() []string {
	return slices.Sorted(maps.Keys(r.snap.Load().actions))
}

// Run runs req through the middleware and the handler of req.Action. With a nil
// reporter it is a synchronous run (Process); with one, an asynchronous run
// (ProcessWithProgress when the handler has it, otherwise Process). A panic in the
// handler becomes a *PanicError; an unknown action is an INVALID_ACTION error.
func (r *Registry) Run(ctx context.Context, req *Request, reporter Reporter) (*Result, error) {
	s := r.snap.Load()
	a, ok := s.actions[req.Action]
	if !ok {
		return nil, UnknownAction(req.Action)
	}
	if reporter == nil {
		return a.sync(ctx, req)
	}
	run := a.handler.Process
	if hp, ok := a.handler.(HandlerWithProgress); ok {
		run = func(ctx context.Context, req *Request) (*Result, error) {
			return hp.ProcessWithProgress(ctx, req, reporter)
		}
	}
	return s.chain(guard(run))(ctx, req)
}

// UnknownAction is the INVALID_ACTION error for an action nobody handles. It names the
// action when the name is short enough to echo.
func UnknownAction(action string) *Error {
	if len(action) > protocol.MaxIDLength {
		return NewError(ErrCodeInvalidAction, "unknown action")
	}
	return NewErrorWithDetails(ErrCodeInvalidAction, "unknown action", map[string]any{"action": action})
}

// chain composes the middleware around f, the first added outermost.
func (s *registrySnapshot) chain(f ProcessFunc) ProcessFunc {
	return Chain(f, s.middleware...)
}

// Chain composes mw around f, the first outermost: Chain(f, a, b) runs a(b(f)).
func Chain(f ProcessFunc, mw ...Middleware) ProcessFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		f = mw[i](f)
	}
	return f
}

// guard turns a panic in f into a *PanicError.
func guard(f ProcessFunc) ProcessFunc {
	return func(ctx context.Context, req *Request) (res *Result, err error) {
		defer func() {
			if p := recover(); p != nil {
				res, err = nil, Recovered(p)
			}
		}()
		return f(ctx, req)
	}
}
