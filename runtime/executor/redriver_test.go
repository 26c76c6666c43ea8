package executor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

func TestRedriverSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	ctx := t.Context()
	r, err := executor.NewRedriver(b.queue, b.sender, executor.RedriverConfig{After: time.Minute, Logger: quietLogger()})
	require.NoError(t, err)

	pending := b.enqueue(t, "pending", "job", 3)
	orphaned := b.enqueue(t, "orphaned", "job", 3) // its worker died; Lambda's retries too
	now := time.Now()
	_, err = b.queue.Claim(ctx, orphaned, "worker-1", now, now.Add(-time.Second))
	require.NoError(t, err)
	exhausted := b.enqueue(t, "exhausted", "job", 1)
	alive := b.enqueue(t, "alive", "job", 3)
	_, err = b.queue.Claim(ctx, alive, "worker-2", now, now.Add(time.Hour))
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond)
	staleBefore := time.Now()
	fresh := b.enqueue(t, "fresh", "job", 3)

	rep, err := r.Sweep(ctx, staleBefore)
	require.NoError(t, err)
	require.Equal(t, executor.RedriveReport{Unfinished: 4, Requeued: 2, Failed: 1}, rep, "fresh was created after the bound")
	for _, id := range []string{pending, orphaned} {
		got := b.get(t, id)
		require.Equal(t, store.StatusPending, got.Status, id)
		require.Equal(t, 2, got.Attempt, "a re-drive uses an attempt")
		require.Empty(t, got.LeaseOwner)
	}
	require.Equal(t, store.StatusProcessing, b.get(t, alive).Status, "a live lease is left alone")
	require.Equal(t, 1, b.get(t, fresh).Attempt)

	given := b.get(t, exhausted)
	require.Equal(t, store.StatusFailed, given.Status)
	require.Equal(t, streamer.ErrCodeTimeout, storedError(t, given).Code)
	term := b.sender.awaitTerminal(t)
	require.Equal(t, protocol.TypeError, term.Type)
	require.Equal(t, "exhausted", term.RequestID)
	require.Equal(t, testConn, term.Connection)
	require.Equal(t, streamer.ErrCodeTimeout, term.Error.Code)
	require.True(t, term.Error.Retryable())
	require.Equal(t, 1, term.Error.Retry.Attempt)
	require.Equal(t, store.StatusFailed, term.StoredStatus, "the terminal message follows the stored outcome")

	rep, err = r.Sweep(ctx, staleBefore)
	require.NoError(t, err)
	require.Equal(t, executor.RedriveReport{Unfinished: 3}, rep, "a re-driven request is fresh again; nothing is done twice")

	// Handle is the scheduled entry point: it uses After.
	rep, err = r.Handle(ctx, events.EventBridgeEvent{})
	require.NoError(t, err)
	require.Zero(t, rep.Requeued+rep.Failed, "nothing is a minute old")
}

// TestInFlightReturnsToZeroAfterWorkersDie kills the workers of a user's requests in the
// middle of their runs (no write, no message after the kill, as when a process dies),
// and shows that the limiter's in-flight count returns to zero: the leases end, the
// re-driver hands the requests out again, new workers finish them, each with exactly one
// terminal message. On the in-memory store and on DynamoDB Local.
func TestInFlightReturnsToZeroAfterWorkersDie(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) (*store.Queue, store.LimitTable){
		"memory": func(*testing.T) (*store.Queue, store.LimitTable) {
			s := memstore.New(memstore.Options{})
			return s.Requests(), s.Limits()
		},
		"dynamodb": func(t *testing.T) (*store.Queue, store.LimitTable) {
			db := dynamotest.DB(t)
			s := dynamostore.New(db, dynamotest.Tables(t, db, "killed"))
			return s.Requests(), s.Limits()
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			queue, limits := open(t)
			testWorkersKilled(t, queue, limits)
		})
	}
}

func testWorkersKilled(t *testing.T, queue *store.Queue, limits store.LimitTable) {
	const jobs = 5
	ctx := t.Context()
	limiter, err := store.NewLimiter(limits, queue, store.Limits{UserMaxInFlight: jobs, UserRate: store.Unlimited, TenantRate: store.Unlimited}, nil)
	require.NoError(t, err)
	b := &bundle{queue: queue, reg: streamer.NewRegistry()}
	b.sender = &recordingSender{queue: queue, terminals: make(chan wire, jobs), gone: map[string]bool{}}
	started := make(chan string, jobs)
	b.register(t, "job", func(ctx context.Context, run int, req *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		if run <= jobs { // the first run of each request: until its process dies
			started <- req.ID
			return reportUntil(ctx, rep, func() (*streamer.Result, bool) { return nil, false })
		}
		return &streamer.Result{Data: map[string]any{"run": run}}, nil
	})

	ids := make([]string, jobs)
	for i := range ids {
		clientID := fmt.Sprint("job-", i)
		a, err := limiter.Admit(ctx, testOwner, clientID)
		require.NoError(t, err)
		require.True(t, a.Admitted)
		ids[i] = b.enqueue(t, clientID, "job", 3)
	}
	a, err := limiter.Admit(ctx, testOwner, "one-more")
	require.NoError(t, err)
	require.Equal(t, store.LimitUserInFlight, a.Limit, "the cap is full")

	// The doomed workers: their process dies while the handlers run.
	death := &killSwitch{}
	cfg := fastConfig()
	cfg.Lease = time.Second
	dying, err := executor.NewWorker(&killableQueue{queue, death}, b.reg, killableSender{b.sender, death}, cfg)
	require.NoError(t, err)
	workerCtx, kill := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, id := range ids {
		running.Go(func() { _ = dying.Handle(workerCtx, executor.WorkerEvent{RequestID: id}) })
	}
	for range jobs {
		await(t, started)
	}
	death.kill()
	kill()
	running.Wait()
	for _, id := range ids {
		require.Equal(t, store.StatusProcessing, b.get(t, id).Status, "a dead worker writes nothing")
	}
	usage, err := limiter.InFlight(ctx, testOwner)
	require.NoError(t, err)
	require.Equal(t, jobs, usage.UserInFlight, "the requests still count while their leases hold")

	// The leases end; the re-driver's sweep hands the requests out again (the index may
	// lag a moment on DynamoDB); each is dispatched to a healthy worker, as the stream
	// would.
	healthy, err := executor.NewWorker(queue, b.reg, b.sender, cfg)
	require.NoError(t, err)
	// After is longer than the loop below can take once the first request is re-driven,
	// so none is re-driven twice.
	r, err := executor.NewRedriver(queue, b.sender, executor.RedriverConfig{After: 3 * time.Second, Logger: quietLogger()})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := r.Handle(ctx, events.EventBridgeEvent{})
		require.NoError(t, err)
		for _, id := range ids {
			if got := b.get(t, id); got.Status != store.StatusPending || got.Attempt != 2 {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond)
	for _, id := range ids {
		require.NoError(t, healthy.Handle(ctx, executor.WorkerEvent{RequestID: id}))
	}
	for i := range ids {
		// Exactly one terminal message, last. (Progress may step back once: the new
		// attempt starts from the last persisted state, which can be one persist interval
		// behind what the dead worker had pushed, as ARCHITECTURE.md says.)
		msgs := b.sender.messages(fmt.Sprint("job-", i))
		terminals := 0
		for _, m := range msgs {
			if m.terminal() {
				terminals++
			}
		}
		require.Equal(t, 1, terminals)
		term := msgs[len(msgs)-1]
		require.Equal(t, protocol.TypeResult, term.Type)
		got := b.get(t, ids[i])
		require.Equal(t, store.StatusCompleted, got.Status)
		require.Equal(t, 2, got.Attempt)
	}
	usage, err = limiter.InFlight(ctx, testOwner)
	require.NoError(t, err)
	require.Equal(t, store.Usage{}, usage, "every slot is free again")
	a, err = limiter.Admit(ctx, testOwner, "one-more")
	require.NoError(t, err)
	require.True(t, a.Admitted)
}
