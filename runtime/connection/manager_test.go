package connection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

type bundle struct {
	gw    *streamertest.APIGateway
	conns *deleter
	mgr   *connection.Manager
}

// deleter records the connection records the Manager deletes.
type deleter struct {
	mu      sync.Mutex
	deleted []string
}

func (d *deleter) Delete(_ context.Context, connectionID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.deleted = append(d.deleted, connectionID)
	return nil
}

func (d *deleter) ids() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.deleted)
}

// setup starts a fake @connections API and a Manager on it with short backoffs; opts
// overrides them.
func setup(t *testing.T, opts connection.Options) *bundle {
	t.Helper()
	gw := streamertest.NewAPIGateway(t)
	conns := &deleter{}
	if opts.BaseDelay == 0 {
		opts.BaseDelay, opts.MaxDelay = time.Millisecond, 5*time.Millisecond
	}
	return &bundle{gw: gw, conns: conns, mgr: connection.NewManager(conns, gw.Client(), opts)}
}

// connect opens id on the fake.
func (b *bundle) connect(t *testing.T, id string) {
	t.Helper()
	b.gw.AddConnection(id, nil)
}

func TestSendDeliversJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	ctx := t.Context()

	msg := &protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: "r1", Percentage: 42.5, Message: "half"}
	require.NoError(t, b.mgr.Send(ctx, "c1", msg))
	require.NoError(t, b.mgr.Send(ctx, "c1", []byte(`{"type":"pong"}`)))
	require.NoError(t, b.mgr.Send(ctx, "c1", json.RawMessage(`{"type":"ack","request_id":"r2"}`)))

	got := b.gw.GetMessages("c1")
	require.Len(t, got, 3)
	var p protocol.ProgressMessage
	require.NoError(t, got[0].Decode(&p))
	require.Equal(t, 42.5, p.Percentage)
	require.Equal(t, "r1", got[0].RequestID)
	require.JSONEq(t, `{"type":"pong"}`, string(got[1].JSON))
	require.Equal(t, "ack", got[2].Type)

	require.EqualValues(t, 3, b.mgr.Stats().Sent)
	require.EqualValues(t, 0, b.mgr.Stats().Failed)
	require.EqualValues(t, len(got[0].JSON)+len(got[1].JSON)+len(got[2].JSON), b.mgr.Stats().Bytes)
}

func TestSendGoneDeletesRecord(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	b.gw.SimulateGoneError("c1")

	err := b.mgr.Send(t.Context(), "c1", map[string]string{"type": "pong"})
	require.ErrorIs(t, err, connection.ErrGone)
	require.ErrorContains(t, err, "connection: gone: c1")
	require.Equal(t, []string{"c1"}, b.conns.ids(), "the record of a gone connection is deleted")
	require.Equal(t, 1, b.gw.Attempts("c1"), "gone is not retried")

	// A connection API Gateway never knew is gone too.
	require.ErrorIs(t, b.mgr.Send(t.Context(), "nobody", []byte(`{}`)), connection.ErrGone)
	require.EqualValues(t, 2, b.mgr.Stats().Gone)
	require.EqualValues(t, 2, b.mgr.Stats().Failed)
}

func TestSendRetriesThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")

	b.gw.SimulateThrottling("c1", 3)
	require.NoError(t, b.mgr.Send(t.Context(), "c1", []byte(`{"n":1}`)))
	require.Equal(t, 4, b.gw.Attempts("c1"))
	require.Len(t, b.gw.GetMessages("c1"), 1, "delivered exactly once")

	b.gw.SimulateFailure("c1", 500, 1)
	b.gw.SimulateFailure("c1", 503, 1)
	require.NoError(t, b.mgr.Send(t.Context(), "c1", []byte(`{"n":2}`)))
	require.Equal(t, 7, b.gw.Attempts("c1"))

	st := b.mgr.Stats()
	require.EqualValues(t, 3, st.Throttled)
	require.EqualValues(t, 5, st.Retries)
	require.EqualValues(t, 2, st.Sent)
	require.EqualValues(t, 7, st.Latency.Calls())
}

func TestSendGivesUpAfterMaxRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{MaxRetries: 2})
	b.connect(t, "c1")
	b.gw.SimulateThrottling("c1", 10)
	err := b.mgr.Send(t.Context(), "c1", []byte(`{}`))
	require.ErrorIs(t, err, connection.ErrThrottled)
	require.ErrorContains(t, err, "gave up after 3 attempts")
	require.Equal(t, 3, b.gw.Attempts("c1"))

	b.connect(t, "c2")
	b.gw.SimulateFailure("c2", 502, 10)
	require.ErrorIs(t, b.mgr.Send(t.Context(), "c2", []byte(`{}`)), connection.ErrUnavailable)
	require.Equal(t, 3, b.gw.Attempts("c2"))

	noRetry := setup(t, connection.Options{MaxRetries: -1})
	noRetry.connect(t, "c3")
	noRetry.gw.SimulateThrottling("c3", 1)
	require.ErrorIs(t, noRetry.mgr.Send(t.Context(), "c3", []byte(`{}`)), connection.ErrThrottled)
	require.Equal(t, 1, noRetry.gw.Attempts("c3"))
}

func TestSendContextCancellationStopsRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{MaxRetries: 1000, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond})
	b.connect(t, "c1")
	b.gw.SimulateThrottling("c1", 1000)

	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.mgr.Send(ctx, "c1", []byte(`{}`))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Less(t, b.gw.Attempts("c1"), 100, "retries stop with the context")
	require.Empty(t, b.gw.GetMessages("c1"))
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	ctx := t.Context()

	// API Gateway's 413 and 403 are not retried.
	b.gw.SimulateFailure("c1", 413, 1)
	require.ErrorIs(t, b.mgr.Send(ctx, "c1", []byte(`{}`)), connection.ErrPayloadTooLarge)
	b.gw.SimulateFailure("c1", 403, 1)
	err := b.mgr.Send(ctx, "c1", []byte(`{}`))
	require.ErrorIs(t, err, connection.ErrForbidden)
	require.ErrorContains(t, err, "IAM")
	require.Equal(t, 2, b.gw.Attempts("c1"))

	// Oversized messages that are not results never leave.
	big := strings.Repeat("x", protocol.MaxMessageBytes)
	require.ErrorIs(t, b.mgr.Send(ctx, "c1", map[string]string{"type": "progress", "message": big}), connection.ErrPayloadTooLarge)
	require.ErrorIs(t, b.mgr.Send(ctx, "c1", []byte(`"`+big+`"`)), connection.ErrPayloadTooLarge)
	require.Equal(t, 2, b.gw.Attempts("c1"))

	require.Error(t, b.mgr.Send(ctx, "c1", nil))
	require.ErrorContains(t, b.mgr.Send(ctx, "c1", make(chan int)), "encode")
	require.EqualValues(t, 6, b.mgr.Stats().Failed)
	require.Empty(t, b.gw.GetMessages("c1"))
}

func TestSendSplitsLargeResult(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	b.connect(t, "c2")

	rows := make([]map[string]any, 3000)
	for i := range rows {
		rows[i] = map[string]any{"i": i, "name": fmt.Sprintf("row \"%d\" <ünïcode> 🎉", i), "pad": strings.Repeat("p", 60)}
	}
	data, err := json.Marshal(map[string]any{"rows": rows})
	require.NoError(t, err)
	require.Greater(t, len(data), 300*1024)
	msg := &protocol.ResultMessage{Type: protocol.TypeResult, RequestID: "r1", Action: "process_data", Success: true, Data: data, DurationMS: 12}
	require.NoError(t, b.mgr.Send(t.Context(), "c1", msg))
	got := b.gw.GetMessages("c1")
	requireReassembles(t, got, data)

	// The same result already encoded is recognised and split the same way.
	raw, err := json.Marshal(msg)
	require.NoError(t, err)
	require.NoError(t, b.mgr.Send(t.Context(), "c2", raw))
	requireReassembles(t, b.gw.GetMessages("c2"), data)

	st := b.mgr.Stats()
	require.EqualValues(t, 2, st.Sent)
	require.EqualValues(t, 2, st.Split)
	require.EqualValues(t, 2*len(got), st.Posts)
}

// requireReassembles checks that got are the ordered parts of a result whose data is data.
func requireReassembles(t *testing.T, got []streamertest.Message, data []byte) {
	t.Helper()
	require.GreaterOrEqual(t, len(got), 3)
	var r protocol.Reassembler
	var whole *protocol.ResultMessage
	for i, m := range got {
		require.LessOrEqual(t, len(m.JSON), protocol.MaxMessageBytes)
		var part protocol.ResultMessage
		require.NoError(t, m.Decode(&part))
		require.Equal(t, i, part.Part.Index, "parts arrive in order")
		res, done, err := r.Add(part)
		require.NoError(t, err)
		if done {
			whole = res
		}
	}
	require.NotNil(t, whole)
	require.Equal(t, string(data), string(whole.Data), "byte-exact")
	require.Equal(t, "process_data", whole.Action)
	require.EqualValues(t, 12, whole.DurationMS)
}

func TestBroadcastBoundsConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{Concurrency: 4})
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%02d", i)
		b.connect(t, ids[i])
	}
	b.gw.SetLatency(10 * time.Millisecond)

	require.NoError(t, b.mgr.Broadcast(t.Context(), ids, map[string]string{"type": "pong"}))
	for _, id := range ids {
		require.Len(t, b.gw.GetMessages(id), 1, id)
	}
	require.LessOrEqual(t, b.gw.MaxConcurrent(), 4)
	require.GreaterOrEqual(t, b.gw.MaxConcurrent(), 2, "broadcast runs in parallel")
	require.EqualValues(t, 40, b.mgr.Stats().Sent)
}

func TestBroadcastJoinsFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{MaxRetries: 1})
	for _, id := range []string{"ok1", "ok2", "gone", "slow"} {
		b.connect(t, id)
	}
	b.gw.SimulateGoneError("gone")
	b.gw.SimulateThrottling("slow", 5)

	err := b.mgr.Broadcast(t.Context(), []string{"ok1", "gone", "slow", "ok2"}, []byte(`{"type":"pong"}`))
	require.ErrorIs(t, err, connection.ErrGone)
	require.ErrorIs(t, err, connection.ErrThrottled)
	require.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 2)
	require.Len(t, b.gw.GetMessages("ok1"), 1)
	require.Len(t, b.gw.GetMessages("ok2"), 1)
	require.Equal(t, []string{"gone"}, b.conns.ids(), "only the gone connection's record is deleted")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = b.mgr.Broadcast(ctx, []string{"ok1", "ok2"}, []byte(`{}`))
	require.ErrorIs(t, err, context.Canceled)
}

func TestIsActive(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "live")
	b.connect(t, "left")
	b.gw.SimulateGoneError("left")
	ctx := t.Context()

	require.True(t, b.mgr.IsActive(ctx, "live"))
	require.False(t, b.mgr.IsActive(ctx, "left"))
	require.False(t, b.mgr.IsActive(ctx, "never"))

	b.gw.SimulateThrottling("live", 2)
	require.True(t, b.mgr.IsActive(ctx, "live"), "throttling is retried")

	// When API Gateway cannot answer, the connection is assumed alive: Send decides.
	b.gw.SimulateFailure("live", 403, 1)
	require.True(t, b.mgr.IsActive(ctx, "live"))
}

func TestMetricsHistogram(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	for range 20 {
		require.NoError(t, b.mgr.Send(t.Context(), "c1", []byte(`{}`)))
	}
	lat := b.mgr.Stats().Latency
	require.Len(t, lat.Counts, len(lat.BoundsMS)+1)
	require.EqualValues(t, 20, lat.Calls())
	require.Greater(t, lat.SumMS, 0.0)
	require.Greater(t, lat.Quantile(0.5), 0.0)
	require.LessOrEqual(t, lat.Quantile(0.5), lat.Quantile(0.99))
	require.LessOrEqual(t, lat.Quantile(0.99), lat.MaxMS)
}

func TestLatencyQuantile(t *testing.T) {
	t.Parallel()
	lat := connection.Latency{BoundsMS: []float64{1, 10, 100}, Counts: []uint64{50, 40, 9, 1}, MaxMS: 250}
	require.Equal(t, 1.0, lat.Quantile(0.5), "the median call is in the first bucket")
	require.Equal(t, 10.0, lat.Quantile(0.9))
	require.Equal(t, 100.0, lat.Quantile(0.99))
	require.Equal(t, 250.0, lat.Quantile(1), "above every bound: the slowest call")
	lat.MaxMS = 0.5
	require.Equal(t, 0.5, lat.Quantile(0.5), "never above the slowest call")
	require.Zero(t, connection.Latency{BoundsMS: []float64{1}, Counts: []uint64{0, 0}}.Quantile(0.5))
}

// GetMetrics, the ConnectionManager view, carries the same figures as Stats.
func TestGetMetricsIsStatsAsAMap(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	b.gw.SimulateThrottling("c1", 1)
	require.NoError(t, b.mgr.Send(t.Context(), "c1", []byte(`{"type":"pong"}`)))
	st := b.mgr.Stats()
	require.Equal(t, map[string]any{
		"sent": st.Sent, "posts": st.Posts, "bytes": st.Bytes, "split": st.Split, "failed": st.Failed,
		"gone": st.Gone, "throttled": st.Throttled, "retries": st.Retries, "calls": uint64(2),
		"latency_bounds_ms": st.Latency.BoundsMS, "latency_counts": st.Latency.Counts,
		"latency_sum_ms": st.Latency.SumMS, "latency_max_ms": st.Latency.MaxMS,
		"latency_p50_ms": st.Latency.Quantile(0.5), "latency_p99_ms": st.Latency.Quantile(0.99),
	}, b.mgr.GetMetrics())
	require.EqualValues(t, 1, st.Throttled)
	require.EqualValues(t, 1, st.Sent)
}

func TestStatsSub(t *testing.T) {
	t.Parallel()
	b := setup(t, connection.Options{})
	b.connect(t, "c1")
	require.NoError(t, b.mgr.Send(t.Context(), "c1", []byte(`{"n":1}`)))
	before := b.mgr.Stats()
	b.gw.SimulateThrottling("c1", 2)
	require.NoError(t, b.mgr.Send(t.Context(), "c1", []byte(`{"n":22}`)))
	require.ErrorIs(t, b.mgr.Send(t.Context(), "nobody", []byte(`{}`)), connection.ErrGone)
	after := b.mgr.Stats()

	d := after.Sub(before)
	require.EqualValues(t, 1, d.Sent)
	require.EqualValues(t, 1, d.Posts)
	require.EqualValues(t, len(`{"n":22}`), d.Bytes)
	require.EqualValues(t, 1, d.Failed)
	require.EqualValues(t, 1, d.Gone)
	require.EqualValues(t, 2, d.Throttled)
	require.EqualValues(t, 2, d.Retries)
	require.EqualValues(t, 4, d.Latency.Calls(), "three tries and one gone")
	require.Equal(t, after.Latency.BoundsMS, d.Latency.BoundsMS)
	require.InDelta(t, after.Latency.SumMS-before.Latency.SumMS, d.Latency.SumMS, 1e-9)
	require.Equal(t, after.Latency.MaxMS, d.Latency.MaxMS)
	require.Equal(t, after, after.Sub(connection.Stats{}), "from nothing: everything")
}

func TestNewAPIClientWithStageAndNoCredentials(t *testing.T) {
	t.Parallel()
	gw := streamertest.NewAPIGateway(t)
	gw.AddConnection("abc=", nil)
	// An empty configuration (the local stack) works, and the stage path is kept.
	api := connection.NewAPIClient(aws.Config{}, gw.URL()+"/prod")
	mgr := connection.NewManager(nil, api, connection.Options{})
	require.NoError(t, mgr.Send(t.Context(), "abc=", []byte(`{"type":"pong"}`)))
	require.Len(t, gw.GetMessages("abc="), 1)
	require.True(t, mgr.IsActive(t.Context(), "abc="))
}

func BenchmarkSend(b *testing.B) {
	gw := streamertest.NewAPIGateway(b)
	gw.AddConnection("c1", nil)
	mgr := connection.NewManager(nil, gw.Client(), connection.Options{})
	msg := &protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: "r1", Percentage: 50, Message: "half"}
	for b.Loop() {
		if err := mgr.Send(b.Context(), "c1", msg); err != nil {
			b.Fatal(err)
		}
	}
}
