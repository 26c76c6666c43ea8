package executor_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

func TestWorkerCompletesAfterProgress(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	h := b.register(t, "report", func(ctx context.Context, _ int, req *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		require.Equal(t, "r-1", req.ID)
		require.Equal(t, testUser, req.UserID)
		require.Equal(t, testTenant, req.TenantID)
		require.Equal(t, testConn, req.ConnectionID)
		require.JSONEq(t, `{"n":1}`, string(req.Payload))
		for _, pct := range []float64{10, 50, 90} {
			require.NoError(t, rep.Report(pct, "working"))
		}
		return &streamer.Result{Data: map[string]any{"answer": 42}, Metadata: map[string]any{"rows": 3}}, nil
	})
	id := b.enqueue(t, "r-1", "report", 0)

	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))

	r := b.get(t, id)
	require.Equal(t, store.StatusCompleted, r.Status)
	require.JSONEq(t, `{"answer":42}`, string(r.Result))
	require.Equal(t, 100.0, r.Progress)
	msgs := b.sender.messages("r-1")
	term := requireOneTerminalLast(t, msgs)
	require.Equal(t, protocol.TypeResult, term.Type)
	require.True(t, term.Success)
	require.JSONEq(t, `{"answer":42}`, string(term.Data))
	require.Contains(t, string(term.Raw), `"action":"report"`)
	require.Contains(t, string(term.Raw), `"metadata":{"rows":3}`)
	require.Equal(t, store.StatusCompleted, term.StoredStatus, "terminal sent before the outcome was stored")
	require.Equal(t, 90.0, msgs[len(msgs)-2].Percentage, "the latest progress is delivered before the result")

	// A late duplicate delivery does nothing.
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))
	require.EqualValues(t, 1, h.runs.Load())
	require.Len(t, b.sender.messages("r-1"), len(msgs))
}

func TestWorkerReporterCompleteAndFailDoNotSend(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	b.register(t, "complete", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		require.NoError(t, rep.Report(40, "half"))
		res, err := rep.Complete(map[string]any{"ok": true})
		require.NoError(t, err)
		require.ErrorIs(t, rep.Report(50, "late"), progress.ErrFinished)
		return res, nil
	})
	b.register(t, "fail", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		require.NoError(t, rep.Report(40, "half"))
		require.NoError(t, rep.Fail(streamer.NewError(streamer.ErrCodeValidation, "bad dates")))
		return nil, nil
	})
	okID := b.enqueue(t, "ok", "complete", 0)
	failID := b.enqueue(t, "bad", "fail", 0)

	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: okID}))
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: failID}))

	ok := requireOneTerminalLast(t, b.sender.messages("ok"))
	require.Equal(t, protocol.TypeResult, ok.Type)
	require.JSONEq(t, `{"ok":true}`, string(ok.Data))
	require.Equal(t, store.StatusCompleted, ok.StoredStatus)

	bad := requireOneTerminalLast(t, b.sender.messages("bad"))
	require.Equal(t, protocol.TypeError, bad.Type)
	require.Equal(t, streamer.ErrCodeValidation, bad.Error.Code)
	require.Equal(t, store.StatusFailed, bad.StoredStatus)
	r := b.get(t, failID)
	require.Equal(t, 1, r.Attempt, "a non-retryable error is not retried")
	require.Equal(t, streamer.ErrCodeValidation, storedError(t, r).Code)
}

func TestWorkerTakesOverFromDeadWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	h := b.register(t, "job", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		require.NoError(t, rep.Report(50, "half"))
		return &streamer.Result{Data: "done"}, nil
	})
	id := b.enqueue(t, "r-dead", "job", 0)
	// A worker claims the request, reports progress and dies.
	now := time.Now()
	leaseEnd := now.Add(1300 * time.Millisecond)
	_, err := b.queue.Claim(t.Context(), id, "dead-worker", now, leaseEnd)
	require.NoError(t, err)
	_, err = b.queue.Checkpoint(t.Context(), id, "dead-worker", store.ProgressState{Percentage: 30, Message: "before the crash"}, leaseEnd)
	require.NoError(t, err)

	// A delivery right after its last write takes it for alive: a duplicate, it returns.
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))
	require.Equal(t, "dead-worker", b.get(t, id).LeaseOwner)
	require.Zero(t, h.runs.Load())

	// The retried invocation arrives once the dead worker has been silent for Lease/2 (1 s),
	// while its lease still runs: it waits for the lease to end and takes the request over.
	time.Sleep(time.Until(now.Add(fastConfig().Lease/2 + 50*time.Millisecond)))
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))

	r := b.get(t, id)
	require.Equal(t, store.StatusCompleted, r.Status)
	require.NotEqual(t, "dead-worker", r.LeaseOwner)
	require.Equal(t, 1, r.Attempt, "a takeover does not use an attempt")
	require.EqualValues(t, 1, h.runs.Load())
	msgs := b.sender.messages("r-dead")
	requireOneTerminalLast(t, msgs)
	require.Equal(t, 30.0, msgs[0].Percentage, "the retry carries on from the stored progress")

	// Should the dead worker come back, it can no longer finish the request a second time.
	_, err = b.queue.Finish(t.Context(), id, "dead-worker", store.StatusCompleted, store.ProgressState{Percentage: 100}, json.RawMessage(`"zombie"`), nil)
	require.ErrorIs(t, err, store.ErrConflict)
	require.JSONEq(t, `"done"`, string(b.get(t, id).Result))
}

func TestWorkerConcurrentDeliveriesRunOnce(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	cfg.Lease = 600 * time.Millisecond
	b := setup(t, cfg)
	release := make(chan struct{})
	h := b.register(t, "job", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		return reportUntil(ctx, rep, func() (*streamer.Result, bool) {
			select {
			case <-release:
				return &streamer.Result{Data: "once"}, true
			default:
				return nil, false
			}
		})
	})
	id := b.enqueue(t, "r-dup", "job", 0)

	const deliveries = 3
	results := make(chan error, deliveries)
	for range deliveries {
		go func() { results <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()
	}
	// The duplicates return while the first one still runs (it renews its lease).
	for range deliveries - 1 {
		require.NoError(t, await(t, results))
	}
	require.Equal(t, store.StatusProcessing, b.get(t, id).Status)
	close(release)
	require.NoError(t, await(t, results))

	require.EqualValues(t, 1, h.runs.Load())
	require.Equal(t, store.StatusCompleted, b.get(t, id).Status)
	requireOneTerminalLast(t, b.sender.messages("r-dup"))
}

func TestWorkerCancelledWhileRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	started := make(chan struct{})
	b.register(t, "job", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		close(started)
		return reportUntil(ctx, rep, func() (*streamer.Result, bool) { return nil, false })
	})
	id := b.enqueue(t, "r-cancel", "job", 0)
	done := make(chan error, 1)
	go func() { done <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()
	await(t, started)
	cancelJSON, err := json.Marshal(streamer.NewError(streamer.ErrCodeCancelled, "cancelled by the client").WireError())
	require.NoError(t, err)
	r, _, err := b.queue.RequestCancel(t.Context(), testOwner, "r-cancel", cancelJSON)
	require.NoError(t, err)
	require.True(t, r.CancelRequested)
	require.NoError(t, await(t, done))

	r = b.get(t, id)
	require.Equal(t, store.StatusCancelled, r.Status)
	require.Equal(t, streamer.ErrCodeCancelled, storedError(t, r).Code)
	term := requireOneTerminalLast(t, b.sender.messages("r-cancel"))
	require.Equal(t, protocol.TypeError, term.Type)
	require.Equal(t, streamer.ErrCodeCancelled, term.Error.Code)
	require.False(t, term.Error.Retryable())
}

func TestWorkerHandlerPanicFailsAfterRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	h := b.register(t, "boom", func(context.Context, int, *streamer.Request, streamer.Reporter) (*streamer.Result, error) {
		panic("secret internal state")
	})
	id := b.enqueue(t, "r-panic", "boom", 3)

	r := b.handleUntilTerminal(t, id, 5)

	require.Equal(t, store.StatusFailed, r.Status)
	require.Equal(t, 3, r.Attempt)
	require.EqualValues(t, 3, h.runs.Load())
	e := storedError(t, r)
	require.Equal(t, streamer.ErrCodeInternalError, e.Code)
	require.NotContains(t, e.Message, "secret")
	msgs := b.sender.messages("r-panic")
	term := requireOneTerminalLast(t, msgs)
	require.Equal(t, streamer.ErrCodeInternalError, term.Error.Code)
	require.NotContains(t, string(term.Raw), "secret")
	require.Equal(t, 3, term.Error.Retry.Attempt)
	require.Equal(t, 3, term.Error.Retry.MaxTries)
	require.Len(t, msgs, 3, "two retry notes, then the error")
	require.Contains(t, msgs[0].Message, "attempt 2 of 3")
}

func TestWorkerDeadlineReleasesRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	var stoppedEarly atomic.Bool
	h := b.register(t, "slow", func(ctx context.Context, run int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		if run > 1 {
			return &streamer.Result{Data: "second time lucky"}, nil
		}
		require.NoError(t, rep.Report(20, "started"))
		<-ctx.Done()
		dl, _ := ctx.Deadline()
		stoppedEarly.Store(time.Now().Before(dl))
		return nil, ctx.Err()
	})
	id := b.enqueue(t, "r-slow", "slow", 0)

	// The worker stops the handler a tenth of the budget before the deadline (500 ms),
	// room enough on a loaded machine to hand the request back in time.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.worker.Handle(ctx, executor.WorkerEvent{RequestID: id}))
	require.NoError(t, ctx.Err(), "the worker returned after its deadline")
	require.True(t, stoppedEarly.Load(), "the handler was not stopped before the deadline")

	r := b.get(t, id)
	require.Equal(t, store.StatusPending, r.Status)
	require.Equal(t, 2, r.Attempt)
	require.Empty(t, r.LeaseOwner)
	require.Equal(t, streamer.ErrCodeTimeout, storedError(t, r).Code)
	for _, m := range b.sender.messages("r-slow") {
		require.False(t, m.terminal(), "no terminal message for a released request")
	}

	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))
	require.Equal(t, store.StatusCompleted, b.get(t, id).Status)
	require.EqualValues(t, 2, h.runs.Load())
	requireOneTerminalLast(t, b.sender.messages("r-slow"))
}

func TestWorkerAbandonsHandlerIgnoringDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	b.register(t, "stuck", func(context.Context, int, *streamer.Request, streamer.Reporter) (*streamer.Result, error) {
		<-stuck // ignores its context
		return nil, nil
	})
	id := b.enqueue(t, "r-stuck", "stuck", 1)

	// Stopped 500 ms before the deadline, the handler is abandoned 250 ms later, which
	// leaves 250 ms to store the failure even on a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.worker.Handle(ctx, executor.WorkerEvent{RequestID: id}))
	require.NoError(t, ctx.Err(), "the worker returned after its deadline")

	r := b.get(t, id)
	require.Equal(t, store.StatusFailed, r.Status, "the last attempt ran out of time")
	require.Equal(t, streamer.ErrCodeTimeout, storedError(t, r).Code)
	term := requireOneTerminalLast(t, b.sender.messages("r-stuck"))
	require.Equal(t, streamer.ErrCodeTimeout, term.Error.Code)
}

func TestWorkerGoneConnectionKeepsResult(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	b.sender.markGone(testConn)
	b.register(t, "job", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		for pct := range 5 {
			_ = rep.Report(float64(pct*20), "working")
		}
		return &streamer.Result{Data: map[string]any{"kept": true}}, nil
	})
	id := b.enqueue(t, "r-gone", "job", 0)

	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))

	r := b.get(t, id)
	require.Equal(t, store.StatusCompleted, r.Status)
	require.JSONEq(t, `{"kept":true}`, string(r.Result))
	require.Empty(t, b.sender.messages("r-gone"))
}

func TestWorkerFollowsResumedClient(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	started := make(chan struct{})
	b.register(t, "job", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		close(started)
		return reportUntil(ctx, rep, func() (*streamer.Result, bool) {
			msgs := b.sender.messages("r-resume")
			return &streamer.Result{Data: "found you"}, len(msgs) > 0 && msgs[len(msgs)-1].Connection == "conn-2"
		})
	})
	id := b.enqueue(t, "r-resume", "job", 0)
	done := make(chan error, 1)
	go func() { done <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()
	await(t, started)
	b.sender.markGone(testConn)
	_, err := b.queue.Rebind(t.Context(), testOwner, "r-resume", "conn-2")
	require.NoError(t, err)
	require.NoError(t, await(t, done))

	term := requireOneTerminalLast(t, b.sender.messages("r-resume"))
	require.Equal(t, "conn-2", term.Connection)
	require.JSONEq(t, `"found you"`, string(term.Data))
}

// TestTerminalFollowsAResumeJustBeforeFinish: a client that resumes after the worker's
// last checkpoint gets the terminal message on its new connection; the worker learns
// of the move from what Finish stored.
func TestTerminalFollowsAResumeJustBeforeFinish(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	cfg.PersistInterval = time.Hour // no checkpoint between the resume and the finish
	cfg.Lease = time.Hour
	b := setup(t, cfg)
	b.register(t, "job", func(context.Context, int, *streamer.Request, streamer.Reporter) (*streamer.Result, error) {
		b.sender.markGone(testConn)
		_, err := b.queue.Rebind(t.Context(), testOwner, "r-late", "conn-2")
		require.NoError(t, err)
		return &streamer.Result{Data: "here"}, nil
	})
	id := b.enqueue(t, "r-late", "job", 0)
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))

	term := requireOneTerminalLast(t, b.sender.messages("r-late"))
	require.Equal(t, "conn-2", term.Connection)
	require.JSONEq(t, `"here"`, string(term.Data))
}

func TestWorkerFailsWithoutRunning(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	big := strings.Repeat("x", 500*1024)
	b.register(t, "big", func(context.Context, int, *streamer.Request, streamer.Reporter) (*streamer.Result, error) {
		return &streamer.Result{Data: big}, nil
	})
	for _, tc := range []struct {
		clientID, action, code string
	}{
		{"r-unknown", "no_such_action", streamer.ErrCodeInvalidAction},
		{"r-big", "big", streamer.ErrCodePayloadTooLarge},
	} {
		id := b.enqueue(t, tc.clientID, tc.action, 0)
		require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))
		r := b.get(t, id)
		require.Equal(t, store.StatusFailed, r.Status, tc.clientID)
		require.Equal(t, tc.code, storedError(t, r).Code, tc.clientID)
		require.Empty(t, r.Result, tc.clientID)
		term := requireOneTerminalLast(t, b.sender.messages(tc.clientID))
		require.Equal(t, tc.code, term.Error.Code, tc.clientID)
	}
}

func TestWorkerRunsPlainHandlerThroughMiddleware(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	var seen atomic.Value
	b.reg.Use(func(next streamer.ProcessFunc) streamer.ProcessFunc {
		return func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
			seen.Store(req.Action)
			return next(ctx, req)
		}
	})
	require.NoError(t, b.reg.Handle("plain", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Data: []int{1, 2, 3}}, nil
	})))
	id := b.enqueue(t, "r-plain", "plain", 0)

	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}))

	require.Equal(t, "plain", seen.Load())
	term := requireOneTerminalLast(t, b.sender.messages("r-plain"))
	require.JSONEq(t, `[1,2,3]`, string(term.Data))
}

func TestWorkerRejectsBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	require.ErrorIs(t, b.worker.Handle(t.Context(), executor.WorkerEvent{}), executor.ErrInvalidEvent)
	require.NoError(t, b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: "t#u#missing"}), "a missing request needs nothing")

	_, err := executor.NewWorker(b.queue, b.reg, b.sender, executor.Config{Lease: -time.Second})
	require.ErrorIs(t, err, executor.ErrInvalidConfig)
	_, err = executor.NewWorker(nil, b.reg, b.sender, executor.Config{})
	require.ErrorIs(t, err, executor.ErrInvalidConfig)
}

func TestWorkerRenewsLeaseAndNoticesCancelWithoutProgress(t *testing.T) {
	t.Parallel()
	cfg := fastConfig()
	cfg.Lease = 300 * time.Millisecond
	b := setup(t, cfg)
	b.register(t, "quiet", func(ctx context.Context, _ int, _ *streamer.Request, _ streamer.Reporter) (*streamer.Result, error) {
		<-ctx.Done() // never reports
		return nil, ctx.Err()
	})
	id := b.enqueue(t, "r-quiet", "quiet", 0)
	done := make(chan error, 1)
	go func() { done <- b.worker.Handle(t.Context(), executor.WorkerEvent{RequestID: id}) }()

	var first time.Time
	require.Eventually(t, func() bool {
		r := b.get(t, id)
		if r.Status != store.StatusProcessing {
			return false
		}
		if first.IsZero() {
			first = r.LeaseUntil
		}
		return r.LeaseUntil.After(first.Add(cfg.Lease))
	}, 10*time.Second, 20*time.Millisecond, "the lease was not renewed past its first end")
	_, _, err := b.queue.RequestCancel(t.Context(), testOwner, "r-quiet", nil)
	require.NoError(t, err)
	require.NoError(t, await(t, done))

	require.Equal(t, store.StatusCancelled, b.get(t, id).Status)
	term := requireOneTerminalLast(t, b.sender.messages("r-quiet"))
	require.Equal(t, streamer.ErrCodeCancelled, term.Error.Code)
}
