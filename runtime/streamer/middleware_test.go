package streamer_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/internal/logtest"
	"github.com/streamer-go/streamer/runtime/streamer"
)

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

// TestMiddlewareAppliesWhateverTheOrder shows that middleware wraps every handler,
// registered before or after Use, and the executor's runs through Wrap.
func TestMiddlewareAppliesWhateverTheOrder(t *testing.T) {
	t.Parallel()
	tr := &tracer{}
	r := streamer.NewRouter(newQueue(), nil)
	require.NoError(t, r.Handle("before", streamer.HandlerFunc(echo)))
	r.Use(tr.middleware("a"), tr.middleware("b"))
	require.NoError(t, r.Handle("after", streamer.HandlerFunc(echo)))
	r.Use(tr.middleware("c"))

	for _, action := range []string{"before", "after"} {
		reply := route(t, r, withBody(t, `{"action":"`+action+`","id":"r-1","payload":1}`))
		require.Equal(t, streamer.TypeResult, reply["type"])
		require.Equal(t, []string{"a>" + action, "b>" + action, "c>" + action, "<c", "<b", "<a"}, tr.take())
	}

	run := r.Wrap("report", func(context.Context, *streamer.Request) (*streamer.Result, error) {
		tr.add("run")
		return &streamer.Result{Success: true}, nil
	})
	_, err := run(t.Context(), &streamer.Request{ID: "r-2"})
	require.NoError(t, err)
	require.Equal(t, []string{"a>report", "b>report", "c>report", "run", "<c", "<b", "<a"}, tr.take(),
		"Wrap fills in the action and applies the same chain")
}

func TestWrapTurnsPanicsIntoErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	metrics := &streamer.MemoryMetrics{}
	b.router.Use(streamer.MetricsMiddleware(metrics))
	run := b.router.Wrap("report", func(context.Context, *streamer.Request) (*streamer.Result, error) {
		panic("worker bug")
	})
	_, err := run(t.Context(), &streamer.Request{ID: "r-1", Action: "report"})
	require.ErrorIs(t, err, streamer.ErrPanic)
	require.Equal(t, streamer.ErrCodeInternalError, streamer.AsError(err).Code)
	require.Equal(t, int64(1), metrics.Stats("report", streamer.ErrCodeInternalError).Count, "middleware sees the panic as a failure")
	require.Contains(t, b.logs.String(), "worker bug")
}

func TestLoggingMiddleware(t *testing.T) {
	t.Parallel()
	b := setup(t)
	logs := &logtest.Buffer{}
	b.router.Use(streamer.LoggingMiddleware(slog.New(slog.NewJSONHandler(logs, nil))))
	require.NoError(t, b.router.Handle("missing", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return nil, streamer.NewError(streamer.ErrCodeNotFound, "no such order")
	})))
	require.NoError(t, b.router.Handle("broken", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return nil, errors.New("disk full")
	})))

	route(t, b.router, withBody(t, `{"action":"echo","id":"r-1","payload":{}}`))
	route(t, b.router, withBody(t, `{"action":"missing","id":"r-2"}`))
	route(t, b.router, withBody(t, `{"action":"broken","id":"r-3"}`))

	lines := logLines(t, logs)
	require.Len(t, lines, 3)
	for _, l := range lines {
		require.Equal(t, "request", l["msg"])
		require.Equal(t, "acme", l["tenant_id"])
		require.Equal(t, "user-7", l["user_id"])
		require.Equal(t, fixtureConnection, l["connection_id"])
		require.IsType(t, float64(0), l["duration_ms"])
	}
	require.Equal(t, []any{"r-1", "echo", "success", "INFO"}, []any{lines[0]["request_id"], lines[0]["action"], lines[0]["outcome"], lines[0]["level"]})
	require.Equal(t, []any{"r-2", "missing", "NOT_FOUND", "INFO"}, []any{lines[1]["request_id"], lines[1]["action"], lines[1]["outcome"], lines[1]["level"]})
	require.Equal(t, []any{"r-3", "broken", "INTERNAL_ERROR", "ERROR", "disk full"},
		[]any{lines[2]["request_id"], lines[2]["action"], lines[2]["outcome"], lines[2]["level"], lines[2]["error"]})
}

func TestMetricsMiddleware(t *testing.T) {
	t.Parallel()
	b := setup(t)
	metrics := &streamer.MemoryMetrics{}
	b.router.Use(streamer.MetricsMiddleware(metrics))
	require.NoError(t, b.router.Handle("slow", streamer.HandlerFunc(func(ctx context.Context, _ *streamer.Request) (*streamer.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})))
	b.router.SetSyncBudget(20 * time.Millisecond)

	for range 3 {
		route(t, b.router, withBody(t, `{"action":"echo","id":"r-1","payload":{}}`))
	}
	route(t, b.router, withBody(t, `{"action":"slow","id":"r-2"}`))
	route(t, b.router, withBody(t, `{"action":"nope","id":"r-3"}`))

	require.Equal(t, int64(3), metrics.Stats("echo", streamer.OutcomeSuccess).Count)
	require.Eventually(t, func() bool { return metrics.Stats("slow", streamer.ErrCodeTimeout).Count == 1 },
		5*time.Second, 5*time.Millisecond, "the handler's own return is recorded, after the reply")
	slow := metrics.Stats("slow", streamer.ErrCodeTimeout)
	require.GreaterOrEqual(t, slow.Max, 20*time.Millisecond)
	require.Equal(t, slow.Max, slow.Total)
	require.Zero(t, metrics.Stats("nope", streamer.ErrCodeInvalidAction).Count, "rejected frames run no middleware")
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	require.Equal(t, streamer.OutcomeSuccess, streamer.Outcome(&streamer.Result{}, nil))
	require.Equal(t, streamer.OutcomeSuccess, streamer.Outcome(nil, nil))
	require.Equal(t, streamer.ErrCodeRateLimited, streamer.Outcome(&streamer.Result{Error: streamer.NewError(streamer.ErrCodeRateLimited, "x")}, nil))
	require.Equal(t, streamer.ErrCodeTimeout, streamer.Outcome(nil, context.DeadlineExceeded))
	require.Equal(t, streamer.ErrCodeInternalError, streamer.Outcome(nil, errors.New("x")))
}

func TestPanickingMiddleware(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.router.Use(func(streamer.ProcessFunc) streamer.ProcessFunc {
		return func(context.Context, *streamer.Request) (*streamer.Result, error) { panic("middleware bug") }
	})
	reply := route(t, b.router, withBody(t, `{"action":"echo","id":"r-1","payload":1}`))
	require.Equal(t, streamer.ErrCodeInternalError, errorCode(t, reply))
	require.Contains(t, b.logs.String(), "middleware bug")
}
