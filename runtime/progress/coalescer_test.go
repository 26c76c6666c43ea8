package progress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// sent is one message a recorder delivered, as JSON on the wire.
type sent struct {
	At   time.Time
	Conn string
	Type string
	Raw  json.RawMessage
}

// recorder is a Sender that encodes every message as the connection manager would and
// keeps it with its arrival time. It notes overlapping sends, which must never happen.
type recorder struct {
	fail func(msgType string) error // if set, decides the outcome of each send

	inflight atomic.Int32
	overlap  atomic.Bool

	mu      sync.Mutex
	msgs    []sent
	changed chan struct{}
}

var _ progress.Sender = (*recorder)(nil)

func newRecorder(fail func(msgType string) error) *recorder {
	return &recorder{fail: fail, changed: make(chan struct{}, 1)}
}

func (r *recorder) Send(_ context.Context, connectionID string, message any) error {
	if r.inflight.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.inflight.Add(-1)
	raw, err := json.Marshal(message)
	if err != nil {
		return err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return err
	}
	if r.fail != nil {
		if err := r.fail(head.Type); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, sent{At: time.Now(), Conn: connectionID, Type: head.Type, Raw: raw})
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) all() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.msgs...)
}

// waitFor waits until a delivered message satisfies ok.
func (r *recorder) waitFor(t *testing.T, ok func(s sent) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, s := range r.all() {
			if ok(s) {
				return
			}
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatal("message not delivered in time")
		}
	}
}

func progressOf(t *testing.T, s sent) protocol.ProgressMessage {
	t.Helper()
	require.Equal(t, protocol.TypeProgress, s.Type)
	var m protocol.ProgressMessage
	require.NoError(t, json.Unmarshal(s.Raw, &m))
	return m
}

func progresses(t *testing.T, msgs []sent) []protocol.ProgressMessage {
	t.Helper()
	var out []protocol.ProgressMessage
	for _, s := range msgs {
		if s.Type == protocol.TypeProgress {
			out = append(out, progressOf(t, s))
		}
	}
	return out
}

func requireNonDecreasing(t *testing.T, ps []protocol.ProgressMessage) {
	t.Helper()
	for i := 1; i < len(ps); i++ {
		require.GreaterOrEqual(t, ps[i].Percentage, ps[i-1].Percentage, "push %d went down", i)
	}
}

// pace calls f(i) n times, the i-th call at start+i*step (at once when running late).
func pace(n int, step time.Duration, f func(i int)) time.Duration {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * step)); d > 0 {
			timer.Reset(d)
			<-timer.C
		}
		f(i)
	}
	return time.Since(start)
}

var errBoom = errors.New("boom")

func TestReportCoalescesToOnePushPerInterval(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.NewReporter("r-1", "conn-1", rec)
	defer c.Close()

	elapsed := pace(1000, 2*time.Millisecond, func(i int) {
		require.NoError(t, c.Report(float64(i+1)/10, "step "+strconv.Itoa(i), map[string]any{"i": i}))
		if i == 0 {
			require.Len(t, rec.all(), 1, "the first report is pushed at once")
		}
	})
	rec.waitFor(t, func(s sent) bool { return progressOf(t, s).Message == "step 999" })
	c.Close()

	ps := progresses(t, rec.all())
	// Push starts are at least one interval apart, so a run of elapsed gives at most
	// elapsed/interval+1 pushes plus the trailing one: 11 for 1,000 reports in 2 s.
	limit := int(elapsed/contract.ProgressInterval) + 2
	t.Logf("1000 reports in %v gave %d pushes (limit %d)", elapsed, len(ps), limit)
	require.LessOrEqual(t, len(ps), limit)
	require.GreaterOrEqual(t, len(ps), 3, "progress is pushed while the reports go on")
	require.Equal(t, "step 0", ps[0].Message)
	last := ps[len(ps)-1]
	require.Equal(t, "step 999", last.Message)
	require.InDelta(t, 100.0, last.Percentage, 1e-9)
	require.Equal(t, map[string]any{"i": 999.0}, last.Metadata)
	require.Equal(t, "r-1", last.RequestID)
	require.Equal(t, time.UTC, last.Timestamp.Location())
	requireNonDecreasing(t, ps)

	msgs := rec.all()
	for i := 1; i < len(msgs); i++ {
		// Generous: the recorder stamps arrival, not the push start.
		require.GreaterOrEqual(t, msgs[i].At.Sub(msgs[i-1].At), contract.ProgressInterval/2)
	}
	require.False(t, rec.overlap.Load())
}

func TestCompleteRightAfterReportDeliversBothInOrder(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.New(t.Context(), "r-2", "conn-1", rec, progress.Options{Action: "generate_report"})

	require.NoError(t, c.Report(10, "loading"))
	require.NoError(t, c.Report(20, "crunching", map[string]any{"rows": 2}))
	res, err := c.Complete(map[string]any{"rows": 3})
	require.NoError(t, err)
	require.Equal(t, "r-2", res.RequestID)
	require.True(t, res.Success)
	require.Equal(t, map[string]any{"rows": 3}, res.Data)
	require.Positive(t, res.Duration)

	msgs := rec.all()
	require.Len(t, msgs, 3)
	require.Equal(t, "loading", progressOf(t, msgs[0]).Message)
	second := progressOf(t, msgs[1])
	require.Equal(t, "crunching", second.Message)
	require.InDelta(t, 20.0, second.Percentage, 1e-9)
	require.Equal(t, protocol.TypeResult, msgs[2].Type)
	var result map[string]any
	require.NoError(t, json.Unmarshal(msgs[2].Raw, &result))
	require.Equal(t, "r-2", result["request_id"])
	require.Equal(t, "generate_report", result["action"])
	require.Equal(t, true, result["success"])
	require.Equal(t, map[string]any{"rows": 3.0}, result["data"])
	require.Contains(t, result, "duration_ms")
}

func TestConcurrentReportersDeliverFinalState(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.New(t.Context(), "r-3", "conn-1", rec, progress.Options{Interval: 2 * time.Millisecond})

	const goroutines, reports = 16, 250
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range reports {
				if err := c.Report(float64(g*reports+i)/40, "g"+strconv.Itoa(g), map[string]any{"i": i}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					_ = c.Last()
				}
			}
		})
	}
	wg.Wait()
	final := c.Last()
	require.InDelta(t, float64(goroutines*reports-1)/40, final.Percentage, 1e-9, "the highest report wins")

	_, err := c.Complete(map[string]any{"ok": true})
	require.NoError(t, err)
	msgs := rec.all()
	require.Equal(t, protocol.TypeResult, msgs[len(msgs)-1].Type)
	ps := progresses(t, msgs)
	require.Len(t, ps, len(msgs)-1, "exactly one terminal message")
	requireNonDecreasing(t, ps)
	lastPush := ps[len(ps)-1]
	require.Equal(t, final.Percentage, lastPush.Percentage)
	require.Equal(t, final.Message, lastPush.Message)
	require.True(t, final.Timestamp.Equal(lastPush.Timestamp))
	require.False(t, rec.overlap.Load(), "sends never overlap")
}

func TestPercentagesAreClampedAndNeverDecrease(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.New(t.Context(), "r-4", "conn-1", rec, progress.Options{Interval: time.Hour})
	defer c.Close()

	require.Equal(t, progress.ProgressUpdate{RequestID: "r-4"}, c.Last())
	steps := []struct {
		pct  float64
		msg  string
		want float64
	}{
		{-5, "below zero", 0},
		{30, "thirty", 30},
		{20, "lower", 30},
		{math.Inf(1), "infinite", 100},
		{150, "above", 100},
		{math.Inf(-1), "minus infinite", 100},
	}
	for _, s := range steps {
		require.NoError(t, c.Report(s.pct, s.msg))
		u := c.Last()
		require.InDelta(t, s.want, u.Percentage, 1e-9, s.msg)
		require.Equal(t, s.msg, u.Message, "the message is updated even when the percentage is kept")
	}

	details := map[string]any{"k": 1}
	require.NoError(t, c.Report(10, "lower with details", details, map[string]any{"j": 2}))
	details["k"] = 99 // the caller's map is copied
	u := c.Last()
	require.InDelta(t, 100.0, u.Percentage, 1e-9)
	require.Equal(t, map[string]any{"k": 1, "j": 2}, u.Metadata)

	require.ErrorIs(t, c.Report(math.NaN(), "nan"), progress.ErrInvalidPercentage)
	require.Equal(t, "lower with details", c.Last().Message, "a rejected report changes nothing")

	require.NoError(t, c.Flush(t.Context()))
	ps := progresses(t, rec.all())
	require.Len(t, ps, 2, "the first report, then the flush")
	require.InDelta(t, 0.0, ps[0].Percentage, 1e-9)
	require.InDelta(t, 100.0, ps[1].Percentage, 1e-9)
	require.Equal(t, map[string]any{"k": 1.0, "j": 2.0}, ps[1].Metadata)
}

func TestFailAfterReport(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		err     error
		code    string
		message string
	}{
		{"protocol error", streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "bad dates", map[string]any{"field": "payload"}), streamer.ErrCodeValidation, "bad dates"},
		{"plain error is not leaked", errors.New("db password rejected"), streamer.ErrCodeInternalError, "internal error"},
		{"nil error", nil, streamer.ErrCodeInternalError, "internal error"},
		{"deadline", context.DeadlineExceeded, streamer.ErrCodeTimeout, "the operation ran out of time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(nil)
			c := progress.NewReporter("r-5", "conn-1", rec)
			require.NoError(t, c.Report(40, "half"))
			require.NoError(t, c.Report(45, "more"))
			require.NoError(t, c.Fail(tc.err))

			msgs := rec.all()
			require.Len(t, msgs, 3)
			require.InDelta(t, 45.0, progressOf(t, msgs[1]).Percentage, 1e-9)
			require.Equal(t, protocol.TypeError, msgs[2].Type)
			var em protocol.ErrorMessage
			require.NoError(t, json.Unmarshal(msgs[2].Raw, &em))
			require.Equal(t, "r-5", em.RequestID)
			require.Equal(t, tc.code, em.Error.Code)
			require.Equal(t, tc.message, em.Error.Message)
			require.NotNil(t, em.Error.Retry, "retry information is filled in")
			require.Equal(t, protocol.IsRetryableCode(tc.code), em.Error.Retry.Retryable)
		})
	}
}

func TestNothingIsSentAfterTheTerminalMessage(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.New(t.Context(), "r-6", "conn-1", rec, progress.Options{Interval: 20 * time.Millisecond})

	require.NoError(t, c.Report(10, "a"))
	require.NoError(t, c.Report(20, "b")) // arms the trailing push
	cancelled := protocol.NewErrorMessage("r-6", streamer.NewError(streamer.ErrCodeCancelled, "cancelled by the client"))
	require.NoError(t, c.Finish(t.Context(), cancelled))

	require.ErrorIs(t, c.Report(30, "c"), progress.ErrFinished)
	require.ErrorIs(t, c.Flush(t.Context()), progress.ErrFinished)
	_, err := c.Complete(map[string]any{})
	require.ErrorIs(t, err, progress.ErrFinished)
	require.ErrorIs(t, c.Fail(errBoom), progress.ErrFinished)
	require.ErrorIs(t, c.Finish(t.Context(), cancelled), progress.ErrFinished)
	c.Close() // waits for any timer callback that could still push

	msgs := rec.all()
	require.Len(t, msgs, 3)
	require.Equal(t, "b", progressOf(t, msgs[1]).Message)
	require.Equal(t, protocol.TypeError, msgs[2].Type)
	require.Equal(t, "b", c.Last().Message)
}

func TestCloseSendsNoTerminal(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.New(t.Context(), "r-7", "conn-1", rec, progress.Options{Interval: time.Hour})

	require.NoError(t, c.Report(10, "a"))
	require.NoError(t, c.Report(20, "b"))
	c.Close()
	c.Close()

	require.ErrorIs(t, c.Report(30, "c"), progress.ErrFinished)
	_, err := c.Complete(nil)
	require.ErrorIs(t, err, progress.ErrFinished)
	msgs := rec.all()
	require.Len(t, msgs, 1, "only the first, immediate push")
	require.Equal(t, "a", progressOf(t, msgs[0]).Message)
}

func TestTerminalSendErrorIsReturned(t *testing.T) {
	t.Parallel()
	failTerminal := func(msgType string) error {
		if msgType == protocol.TypeProgress {
			return nil
		}
		return errBoom
	}

	t.Run("complete", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(failTerminal)
		c := progress.NewReporter("r-8", "conn-1", rec)
		require.NoError(t, c.Report(50, "half"))
		res, err := c.Complete(map[string]any{"n": 1})
		require.ErrorIs(t, err, errBoom)
		require.NotNil(t, res, "the result is returned so the caller can still store it")
		require.Equal(t, map[string]any{"n": 1}, res.Data)
		require.ErrorIs(t, c.Report(60, "late"), progress.ErrFinished)
		require.Len(t, rec.all(), 1)
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		c := progress.NewReporter("r-8", "conn-1", newRecorder(failTerminal))
		require.ErrorIs(t, c.Fail(errors.New("handler broke")), errBoom)
	})
	t.Run("no sender", func(t *testing.T) {
		t.Parallel()
		c := progress.NewReporter("r-8", "conn-1", nil)
		require.NoError(t, c.Report(50, "half"), "a failed push is logged, not returned")
		_, err := c.Complete(nil)
		require.ErrorIs(t, err, progress.ErrNoSender)
	})
}

func TestFailedPushIsLoggedAndRetriedWithNewestState(t *testing.T) {
	t.Parallel()
	var failures atomic.Int32
	rec := newRecorder(func(msgType string) error {
		if msgType == protocol.TypeProgress && failures.Add(1) == 1 {
			return errBoom
		}
		return nil
	})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	c := progress.New(t.Context(), "r-9", "conn-1", rec, progress.Options{Interval: time.Hour, Logger: logger})

	require.NoError(t, c.Report(10, "a"), "the push failure is not the handler's error")
	require.Empty(t, rec.all())
	require.NoError(t, c.Report(15, "b"))
	_, err := c.Complete(map[string]any{})
	require.NoError(t, err)

	msgs := rec.all()
	require.Len(t, msgs, 2)
	require.Equal(t, "b", progressOf(t, msgs[0]).Message)
	require.Equal(t, protocol.TypeResult, msgs[1].Type)
	require.Contains(t, logs.String(), "progress: push failed")
	require.Contains(t, logs.String(), "request_id=r-9")
}

func TestCompleteWithUnencodableResultStillSendsATerminal(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.NewReporter("r-10", "conn-1", rec)
	res, err := c.Complete(map[string]any{"ch": make(chan int)})
	require.Error(t, err)
	require.Nil(t, res)
	msgs := rec.all()
	require.Len(t, msgs, 1)
	var em protocol.ErrorMessage
	require.NoError(t, json.Unmarshal(msgs[0].Raw, &em))
	require.Equal(t, streamer.ErrCodeInternalError, em.Error.Code)
}

func TestSetConnectionIDRedirectsLaterPushes(t *testing.T) {
	t.Parallel()
	rec := newRecorder(nil)
	c := progress.New(t.Context(), "r-11", "old-conn", rec, progress.Options{Interval: time.Hour})

	require.NoError(t, c.Report(10, "a"))
	require.NoError(t, c.Report(20, "b"))
	c.SetConnectionID("new-conn")
	_, err := c.Complete(map[string]any{})
	require.NoError(t, err)

	msgs := rec.all()
	require.Len(t, msgs, 3)
	require.Equal(t, []string{"old-conn", "new-conn", "new-conn"}, []string{msgs[0].Conn, msgs[1].Conn, msgs[2].Conn})
	require.Equal(t, "b", progressOf(t, msgs[1]).Message)
}

// persisted records Persist calls; it fails the test if two calls overlap.
type persisted struct {
	t        *testing.T
	inflight atomic.Int32
	mu       sync.Mutex
	at       []time.Time
	updates  []progress.ProgressUpdate
	changed  chan struct{}
}

func (p *persisted) persist(_ context.Context, u progress.ProgressUpdate) error {
	if p.inflight.Add(1) > 1 {
		p.t.Error("Persist calls overlap")
	}
	defer p.inflight.Add(-1)
	p.mu.Lock()
	p.at = append(p.at, time.Now())
	p.updates = append(p.updates, u)
	p.mu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return nil
}

func (p *persisted) waitFor(t *testing.T, message string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.updates)
		found := n > 0 && p.updates[n-1].Message == message
		p.mu.Unlock()
		if found {
			return
		}
		select {
		case <-p.changed:
		case <-deadline:
			t.Fatalf("%q not persisted in time", message)
		}
	}
}

func TestPersistAtMostOncePerIntervalWithLatestValues(t *testing.T) {
	t.Parallel()
	p := &persisted{t: t, changed: make(chan struct{}, 1)}
	c := progress.New(t.Context(), "r-12", "conn-1", newRecorder(nil), progress.Options{Persist: p.persist})
	defer c.Close()

	elapsed := pace(250, 10*time.Millisecond, func(i int) {
		require.NoError(t, c.Report(float64(i)/2.5, "step "+strconv.Itoa(i)))
	})
	p.waitFor(t, "step 249")
	c.Close()

	p.mu.Lock()
	defer p.mu.Unlock()
	// Calls start at least PersistInterval apart: 4 calls (0, 1, 2 s and the trailing
	// one) for a 2.5 s run.
	limit := int(elapsed/contract.PersistInterval) + 2
	t.Logf("%d persists over %v (limit %d)", len(p.at), elapsed, limit)
	require.LessOrEqual(t, len(p.at), limit)
	require.GreaterOrEqual(t, len(p.at), 2)
	require.Equal(t, "step 0", p.updates[0].Message, "the first state is persisted at once")
	for i := 1; i < len(p.at); i++ {
		require.GreaterOrEqual(t, p.at[i].Sub(p.at[i-1]), contract.PersistInterval/2)
		require.GreaterOrEqual(t, p.updates[i].Percentage, p.updates[i-1].Percentage)
	}
	last := p.updates[len(p.updates)-1]
	require.InDelta(t, 249/2.5, last.Percentage, 1e-9)
	require.Equal(t, "r-12", last.RequestID)
}

func TestPersistSoonPersistsWithoutAReportWithinTheWindow(t *testing.T) {
	t.Parallel()
	p := &persisted{t: t, changed: make(chan struct{}, 1)}
	c := progress.New(t.Context(), "r-13", "conn-1", newRecorder(nil), progress.Options{PersistInterval: 100 * time.Millisecond, Persist: p.persist})
	defer c.Close()

	require.NoError(t, c.Report(10, "only report"))
	p.waitFor(t, "only report")
	for range 20 { // many requests in one window make one call
		c.PersistSoon()
	}
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.at) == 2
	}, 10*time.Second, 5*time.Millisecond, "PersistSoon makes a call without a new report")
	c.Close()
	c.PersistSoon() // after Close: nothing

	p.mu.Lock()
	defer p.mu.Unlock()
	require.GreaterOrEqual(t, p.at[1].Sub(p.at[0]), 100*time.Millisecond/2, "within the persist window, not at once")
	require.Equal(t, "only report", p.updates[1].Message, "with the latest progress")
	require.Len(t, p.at, 2)
}

func TestPersistDoesNotBlockReport(t *testing.T) {
	t.Parallel()
	entered := make(chan progress.ProgressUpdate, 2)
	release := make(chan struct{})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	c := progress.New(t.Context(), "r-13", "conn-1", newRecorder(nil), progress.Options{
		PersistInterval: 10 * time.Millisecond,
		Logger:          logger,
		Persist: func(_ context.Context, u progress.ProgressUpdate) error {
			entered <- u
			<-release
			return errBoom
		},
	})

	require.NoError(t, c.Report(1, "first"))
	require.Equal(t, "first", (<-entered).Message)
	for i := range 100 {
		require.NoError(t, c.Report(float64(i+2), "later"), "Report returns while Persist is blocked")
	}
	close(release)
	var second progress.ProgressUpdate
	select {
	case second = <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the newer state was never persisted")
	}
	require.Equal(t, "later", second.Message, "the trailing persist has the newest state")
	require.InDelta(t, 100.0, second.Percentage, 1e-9)
	c.Close() // waits for the persist goroutine, so logs is safe to read

	require.Contains(t, logs.String(), "progress: persist failed")
}

func TestFinishWaitsForPersistInFlight(t *testing.T) {
	t.Parallel()
	var persisting atomic.Bool
	entered := make(chan struct{})
	release := make(chan struct{})
	rec := newRecorder(func(msgType string) error {
		if msgType == protocol.TypeResult && persisting.Load() {
			return errors.New("result sent while Persist was running")
		}
		return nil
	})
	c := progress.New(t.Context(), "r-14", "conn-1", rec, progress.Options{
		Persist: func(context.Context, progress.ProgressUpdate) error {
			persisting.Store(true)
			defer persisting.Store(false)
			close(entered)
			<-release
			return nil
		},
	})

	require.NoError(t, c.Report(50, "half"))
	<-entered
	// Give a Complete that does not wait every chance to send while Persist runs.
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	_, err := c.Complete(map[string]any{})
	require.NoError(t, err)
	require.False(t, persisting.Load(), "no persist runs after Complete returns")
}

func TestReportDuringPushIsDeliveredByTrailingPush(t *testing.T) {
	t.Parallel()
	sending := make(chan struct{})
	release := make(chan struct{})
	var first atomic.Bool
	rec := newRecorder(func(string) error {
		if first.CompareAndSwap(false, true) {
			close(sending)
			<-release
		}
		return nil
	})
	c := progress.New(t.Context(), "r-15", "conn-1", rec, progress.Options{Interval: 10 * time.Millisecond})
	defer c.Close()

	reported := make(chan error)
	go func() { reported <- c.Report(10, "a") }() // blocks in the slow first push
	<-sending
	require.NoError(t, c.Report(20, "b"), "a report during a push does not wait for it")
	close(release)
	require.NoError(t, <-reported)

	rec.waitFor(t, func(s sent) bool { return progressOf(t, s).Message == "b" })
	require.Len(t, rec.all(), 2)
}

// TestBlockedSenderKeepsOnlyTheLatestState shows that memory does not grow with the
// number of reports: while a push is stuck in the sender, reports replace one pending
// state instead of queueing, and the push after it delivers only the newest one.
func TestBlockedSenderKeepsOnlyTheLatestState(t *testing.T) {
	t.Parallel()
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	rec := newRecorder(func(string) error {
		once.Do(func() {
			close(entered)
			<-unblock
		})
		return nil
	})
	c := progress.New(t.Context(), "r-mem", "conn-1", rec, progress.Options{Interval: time.Millisecond})
	defer c.Close()

	first := make(chan error, 1)
	go func() { first <- c.Report(1, "first") }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first report was not pushed")
	}
	const reports = 10_000
	for i := range reports {
		require.NoError(t, c.Report(float64(i)/100, "report "+strconv.Itoa(i), map[string]any{"i": i}))
	}
	close(unblock)
	require.NoError(t, <-first)
	rec.waitFor(t, func(s sent) bool { return progressOf(t, s).Message == "report 9999" })
	c.Close()

	ps := progresses(t, rec.all())
	require.Len(t, ps, 2, "the stuck push and one push of the latest state, not one per report")
	require.Equal(t, "first", ps[0].Message)
	require.Equal(t, map[string]any{"i": float64(reports - 1)}, ps[1].Metadata)
}
