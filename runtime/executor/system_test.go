package executor_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// pump reads the store's change feed in order, like the event source mapping reads a
// shard, and hands each batch to p until the test ends. Every batch must dispatch fully.
func pump(t *testing.T, feed *memstore.Feed, p *executor.Processor) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		after := ""
		for {
			recs, err := feed.Read(ctx, after, 100)
			if err != nil {
				return
			}
			resp, err := p.Handle(ctx, events.DynamoDBEvent{Records: recs})
			if err != nil || len(resp.BatchItemFailures) > 0 {
				t.Errorf("batch not dispatched: %v %v", err, resp.BatchItemFailures)
				return
			}
			after = recs[len(recs)-1].Change.SequenceNumber
		}
	}()
}

// startSystem wires the stream to the workers: feed -> processor -> goroutine invoker ->
// worker, as the local stack does.
func startSystem(t *testing.T, b *bundle) {
	inv := executor.NewGoroutineInvoker(b.worker.Handle, executor.GoroutineOptions{Timeout: 10 * time.Second, Logger: quietLogger()})
	t.Cleanup(func() { require.NoError(t, inv.Shutdown(context.Background())) })
	p, err := executor.NewProcessor(inv, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)
	pump(t, b.store.Feed(), p)
}

func TestPoisonRequestFailsWithoutBlockingOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	othersDone := make(chan struct{})
	poison := b.register(t, "poison", func(ctx context.Context, run int, _ *streamer.Request, _ streamer.Reporter) (*streamer.Result, error) {
		if run == 1 {
			// The first attempt runs until the other requests of the batch are done.
			select {
			case <-othersDone:
			case <-ctx.Done():
			}
		}
		return nil, streamer.NewError(streamer.ErrCodeServiceUnavail, "dependency down")
	})
	good := b.register(t, "good", func(context.Context, int, *streamer.Request, streamer.Reporter) (*streamer.Result, error) {
		return &streamer.Result{Data: "fine"}, nil
	})
	startSystem(t, b)

	poisonID := b.enqueue(t, "poison", "poison", 3)
	b.enqueue(t, "good-1", "good", 0)
	b.enqueue(t, "good-2", "good", 0)

	first, second := b.sender.awaitTerminal(t), b.sender.awaitTerminal(t)
	require.ElementsMatch(t, []string{"good-1", "good-2"}, []string{first.RequestID, second.RequestID},
		"the good requests finish while the poison one still runs")
	close(othersDone)
	last := b.sender.awaitTerminal(t)
	require.Equal(t, "poison", last.RequestID)
	require.Equal(t, streamer.ErrCodeServiceUnavail, last.Error.Code)

	r := b.get(t, poisonID)
	require.Equal(t, store.StatusFailed, r.Status)
	require.Equal(t, 3, r.Attempt)
	require.EqualValues(t, 3, poison.runs.Load())
	require.EqualValues(t, 2, good.runs.Load())
	requireOneTerminalLast(t, b.sender.messages("poison"))
}

func TestStreamRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	h := b.register(t, "flaky", func(_ context.Context, run int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		_ = rep.Report(float64(run*30), "trying")
		if run < 3 {
			return nil, streamer.NewError(streamer.ErrCodeRateLimited, "slow down")
		}
		return &streamer.Result{Data: run}, nil
	})
	startSystem(t, b)
	id := b.enqueue(t, "flaky", "flaky", 3)

	term := b.sender.awaitTerminal(t)
	require.Equal(t, protocol.TypeResult, term.Type)
	require.JSONEq(t, `3`, string(term.Data))
	require.Equal(t, store.StatusCompleted, b.get(t, id).Status)
	require.EqualValues(t, 3, h.runs.Load())
	requireOneTerminalLast(t, b.sender.messages("flaky"))
}

func TestInvokerShutdownHandsRequestsBack(t *testing.T) {
	t.Parallel()
	b := setup(t, fastConfig())
	started := make(chan struct{})
	b.register(t, "long", func(ctx context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		_ = rep.Report(10, "started")
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	id := b.enqueue(t, "r-long", "long", 0)
	inv := executor.NewGoroutineInvoker(b.worker.Handle, executor.GoroutineOptions{Logger: quietLogger()})
	require.NoError(t, inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: id}))
	await(t, started)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, inv.Shutdown(ctx), context.DeadlineExceeded)

	r := b.get(t, id)
	require.Equal(t, store.StatusPending, r.Status, "a stopped worker hands its request back")
	require.Equal(t, 2, r.Attempt)
	for _, m := range b.sender.messages("r-long") {
		require.False(t, m.terminal())
	}
}
