package streamer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

func echo(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
	return &streamer.Result{RequestID: req.ID, Success: true, Data: req.Payload}, nil
}

func TestHandleRefusesBadRegistrations(t *testing.T) {
	t.Parallel()
	reg := streamer.NewRegistry()
	require.NoError(t, reg.Handle("echo", streamer.HandlerFunc(echo)))

	var nilTyped *streamer.TypedHandler[struct{}, struct{}]
	for _, tc := range []struct {
		action string
		h      streamer.Handler
		want   error
	}{
		{"", streamer.HandlerFunc(echo), streamer.ErrEmptyAction},
		{"echo", streamer.HandlerFunc(echo), streamer.ErrDuplicateAction},
		{protocol.ActionPing, streamer.HandlerFunc(echo), streamer.ErrReservedAction},
		{"streamer.mine", streamer.HandlerFunc(echo), streamer.ErrReservedAction},
		{"other", nil, streamer.ErrNilHandler},
		{"other", nilTyped, streamer.ErrNilHandler},
		{"other", streamer.Sync[struct{}, struct{}](nil), streamer.ErrNilHandler},
	} {
		err := reg.Handle(tc.action, tc.h)
		require.ErrorIs(t, err, tc.want, "Handle(%q)", tc.action)
		require.True(t, strings.HasPrefix(err.Error(), "streamer: "), err.Error())
	}

	h, ok := reg.Lookup("echo")
	require.True(t, ok)
	require.NotNil(t, h)
	_, ok = reg.Lookup("other")
	require.False(t, ok, "a refused registration registers nothing")
	_, ok = reg.Lookup(protocol.ActionPing)
	require.False(t, ok, "system actions are not handlers")
	require.Equal(t, []string{"echo"}, reg.Actions())
}

// tracer records the order in which middleware runs.
type tracer struct {
	mu    sync.Mutex
	trace []string
}

func (tr *tracer) middleware(name string) streamer.Middleware {
	return func(next streamer.ProcessFunc) streamer.ProcessFunc {
		return func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
			tr.add(name + ">" + req.Action)
			defer tr.add("<" + name)
			return next(ctx, req)
		}
	}
}

func (tr *tracer) add(s string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.trace = append(tr.trace, s)
}

func (tr *tracer) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t := tr.trace
	tr.trace = nil
	return t
}

// progressHandler is a HandlerWithProgress that records which method ran.
type progressHandler struct{ tr *tracer }

func (progressHandler) EstimatedDuration() time.Duration { return 0 }
func (progressHandler) Validate(*streamer.Request) error { return nil }
func (h progressHandler) Process(context.Context, *streamer.Request) (*streamer.Result, error) {
	h.tr.add("process")
	return &streamer.Result{}, nil
}
func (h progressHandler) ProcessWithProgress(_ context.Context, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
	h.tr.add("with-progress")
	return &streamer.Result{}, rep.Report(50, "half")
}

// TestRunAppliesMiddlewareOnBothPaths shows that middleware wraps every action,
// registered before or after Use, on the synchronous path (no reporter) and the
// asynchronous one (a reporter) alike, the first added outermost.
func TestRunAppliesMiddlewareOnBothPaths(t *testing.T) {
	t.Parallel()
	tr := &tracer{}
	reg := streamer.NewRegistry()
	require.NoError(t, reg.Handle("before", progressHandler{tr}))
	reg.Use(tr.middleware("a"), tr.middleware("b"))
	require.NoError(t, reg.Handle("after", progressHandler{tr}))
	reg.Use(tr.middleware("c"))

	for _, action := range []string{"before", "after"} {
		_, err := reg.Run(t.Context(), &streamer.Request{ID: "r-1", Action: action}, nil)
		require.NoError(t, err)
		require.Equal(t, []string{"a>" + action, "b>" + action, "c>" + action, "process", "<c", "<b", "<a"}, tr.take())

		rep := &recordingReporter{}
		_, err = reg.Run(t.Context(), &streamer.Request{ID: "r-2", Action: action}, rep)
		require.NoError(t, err)
		require.Equal(t, []string{"a>" + action, "b>" + action, "c>" + action, "with-progress", "<c", "<b", "<a"}, tr.take())
		require.Equal(t, []float64{50}, rep.percentages)
	}

	_, err := reg.Run(t.Context(), &streamer.Request{ID: "r-3", Action: "nope"}, nil)
	require.Equal(t, streamer.ErrCodeInvalidAction, streamer.AsError(err).Code)
	require.Empty(t, tr.take(), "an unknown action runs no middleware")
}

func TestRunTurnsPanicsIntoErrors(t *testing.T) {
	t.Parallel()
	reg := streamer.NewRegistry()
	var seen error
	reg.Use(func(next streamer.ProcessFunc) streamer.ProcessFunc {
		return func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
			res, err := next(ctx, req)
			seen = err
			return res, err
		}
	})
	require.NoError(t, reg.Handle("bug", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		panic("handler bug")
	})))
	_, err := reg.Run(t.Context(), &streamer.Request{ID: "r-1", Action: "bug"}, nil)
	require.ErrorIs(t, err, streamer.ErrPanic)
	require.Same(t, err, seen, "middleware sees the panic as an error")
	var p *streamer.PanicError
	require.ErrorAs(t, err, &p)
	require.Equal(t, "handler bug", p.Value)
	require.Contains(t, string(p.Stack), "registry_test.go", "the stack points at the panic")
	require.Equal(t, streamer.ErrCodeInternalError, streamer.AsError(err).Code, "clients see INTERNAL_ERROR")
	require.NotContains(t, streamer.AsError(err).Message, "handler bug")
}

// TestRegistryWhileServing runs actions from many goroutines while actions and
// middleware are added: no race, and every run of the always-present echo succeeds.
func TestRegistryWhileServing(t *testing.T) {
	t.Parallel()
	reg := streamer.NewRegistry()
	require.NoError(t, reg.Handle("echo", streamer.HandlerFunc(echo)))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			if err := reg.Handle(fmt.Sprintf("action-%d", i), streamer.HandlerFunc(echo)); err != nil {
				t.Error(err)
			}
			reg.Use(func(next streamer.ProcessFunc) streamer.ProcessFunc { return next })
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := reg.Run(t.Context(), &streamer.Request{ID: "r-1", Action: "echo"}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, reg.Actions(), 51)
	_, err := reg.Run(t.Context(), &streamer.Request{ID: "r-1", Action: "action-49"}, nil)
	require.NoError(t, err)
}

// recordingReporter is a Reporter that keeps the reported percentages.
type recordingReporter struct {
	mu          sync.Mutex
	percentages []float64
}

func (r *recordingReporter) Report(percentage float64, _ string, _ ...map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.percentages = append(r.percentages, percentage)
	return nil
}

func (r *recordingReporter) Complete(map[string]any) (*streamer.Result, error) {
	return nil, errors.New("typed handlers finish by returning")
}

func (r *recordingReporter) Fail(error) error {
	return errors.New("typed handlers finish by returning")
}
