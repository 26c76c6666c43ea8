package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/internal/logtest"
	"github.com/streamer-go/streamer/runtime/middleware"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// slowCleanup is how long the slow action runs after its context ends: it runs at
// least that long however late it started, unlike the sync budget, which counts from
// the frame's arrival.
const slowCleanup = 20 * time.Millisecond

// syncBudget is the router's sync budget in these tests: the quick actions finish well
// within it even on a loaded machine (an action still running at the budget is answered
// TIMEOUT and its middleware runs after the reply), while slow runs into it.
const syncBudget = time.Second

// setup returns a registry with four synchronous actions (echo succeeds, missing fails
// with NOT_FOUND, broken with a plain error, slow waits for its context and then cleans
// up for slowCleanup) and a function that routes one frame through a router with
// syncBudget.
func setup(t *testing.T) (*streamer.Registry, func(body string)) {
	t.Helper()
	reg := streamer.NewRegistry()
	for action, run := range map[string]streamer.HandlerFunc{
		"echo": func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
			return &streamer.Result{Data: req.Payload}, nil
		},
		"missing": func(context.Context, *streamer.Request) (*streamer.Result, error) {
			return nil, streamer.NewError(streamer.ErrCodeNotFound, "no such order")
		},
		"broken": func(context.Context, *streamer.Request) (*streamer.Result, error) {
			return nil, errors.New("disk full")
		},
		"slow": func(ctx context.Context, _ *streamer.Request) (*streamer.Result, error) {
			<-ctx.Done()
			time.Sleep(slowCleanup)
			return nil, ctx.Err()
		},
	} {
		require.NoError(t, reg.Handle(action, run))
	}
	r := router.New(reg, nil, nil, router.Options{SyncBudget: syncBudget, Logger: slog.New(slog.DiscardHandler)})
	return reg, func(body string) {
		e := events.APIGatewayWebsocketProxyRequest{Body: body}
		e.RequestContext.ConnectionID = "conn-1"
		e.RequestContext.Authorizer = map[string]any{contract.AuthUserID: "user-7", contract.AuthTenantID: "acme"}
		_, err := r.Route(t.Context(), e)
		require.NoError(t, err)
	}
}

func TestLogging(t *testing.T) {
	t.Parallel()
	reg, route := setup(t)
	logs := &logtest.Buffer{}
	reg.Use(middleware.Logging(slog.New(slog.NewJSONHandler(logs, nil))))

	route(`{"action":"echo","id":"r-1","payload":{}}`)
	route(`{"action":"missing","id":"r-2"}`)
	route(`{"action":"broken","id":"r-3"}`)
	route(`{"action":"nope","id":"r-4"}`)

	var lines []map[string]any
	for line := range bytes.Lines([]byte(logs.String())) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 3, "rejected frames run no middleware")
	for _, l := range lines {
		require.Equal(t, "request", l["msg"])
		require.Equal(t, "acme", l["tenant_id"])
		require.Equal(t, "user-7", l["user_id"])
		require.Equal(t, "conn-1", l["connection_id"])
		require.IsType(t, float64(0), l["duration_ms"])
	}
	require.Equal(t, []any{"r-1", "echo", "success", "INFO"}, []any{lines[0]["request_id"], lines[0]["action"], lines[0]["outcome"], lines[0]["level"]})
	require.Equal(t, []any{"r-2", "missing", "NOT_FOUND", "INFO"}, []any{lines[1]["request_id"], lines[1]["action"], lines[1]["outcome"], lines[1]["level"]})
	require.Equal(t, []any{"r-3", "broken", "INTERNAL_ERROR", "ERROR", "disk full"},
		[]any{lines[2]["request_id"], lines[2]["action"], lines[2]["outcome"], lines[2]["level"], lines[2]["error"]})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg, route := setup(t)
	metrics := &middleware.MemoryMetrics{}
	reg.Use(middleware.Metrics(metrics))

	for range 3 {
		route(`{"action":"echo","id":"r-1","payload":{}}`)
	}
	route(`{"action":"slow","id":"r-2"}`)
	route(`{"action":"nope","id":"r-3"}`)

	require.Equal(t, int64(3), metrics.Stats("echo", middleware.OutcomeSuccess).Count)
	require.Eventually(t, func() bool { return metrics.Stats("slow", streamer.ErrCodeTimeout).Count == 1 },
		30*time.Second, 5*time.Millisecond, "the handler's own return is recorded, after the reply")
	slow := metrics.Stats("slow", streamer.ErrCodeTimeout)
	require.GreaterOrEqual(t, slow.Max, slowCleanup, "the handler's whole run is recorded")
	require.Equal(t, slow.Max, slow.Total)
	require.Zero(t, metrics.Stats("nope", streamer.ErrCodeInvalidAction).Count, "rejected frames run no middleware")
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	require.Equal(t, middleware.OutcomeSuccess, middleware.Outcome(&streamer.Result{}, nil))
	require.Equal(t, middleware.OutcomeSuccess, middleware.Outcome(nil, nil))
	require.Equal(t, streamer.ErrCodeRateLimited, middleware.Outcome(&streamer.Result{Error: streamer.NewError(streamer.ErrCodeRateLimited, "x")}, nil))
	require.Equal(t, streamer.ErrCodeTimeout, middleware.Outcome(nil, context.DeadlineExceeded))
	require.Equal(t, streamer.ErrCodeInternalError, middleware.Outcome(nil, errors.New("x")))
	require.Equal(t, streamer.ErrCodeInternalError, middleware.Outcome(nil, streamer.Recovered("boom")))
}
