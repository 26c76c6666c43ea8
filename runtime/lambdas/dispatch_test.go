package lambdas_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// countingInvoker counts the invocations it passes on to next (nil: it fails them, as a
// throttled or failed Invoke does).
type countingInvoker struct {
	next  executor.Invoker
	calls atomic.Int32
}

func (c *countingInvoker) Invoke(ctx context.Context, ev executor.WorkerEvent) error {
	c.calls.Add(1)
	if c.next == nil {
		return errors.New("lambda: TooManyRequestsException: Rate Exceeded")
	}
	return c.next.Invoke(ctx, ev)
}

// asyncCall routes slow_report r-1 on the fixture's connection and returns the reply.
func (b *bundle) asyncCall(t *testing.T) string {
	t.Helper()
	b.gateway.AddConnection(connectionID, nil)
	resp, err := b.fns.Router(t.Context(), websocketEvent(t, "message.json", `{"action":"slow_report","id":"r-1","payload":{"n":1}}`))
	require.NoError(t, err)
	return resp.Body
}

// awaitResult waits for the request's result on the connection and checks that it is
// its only terminal message, after its progress.
func (b *bundle) awaitResult(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		msgs := b.gateway.GetMessages(connectionID)
		return len(msgs) > 0 && msgs[len(msgs)-1].Type == protocol.TypeResult
	}, 10*time.Second, 5*time.Millisecond)
	streamertest.RequireProtocol(t, b.gateway.GetMessages(connectionID), "r-1")
}

// stored returns request r-1 as stored.
func (b *bundle) stored(t *testing.T) *store.AsyncRequest {
	t.Helper()
	r, err := b.store.Requests().Get(t.Context(), store.ScopedID("acme", "user-7", "r-1"))
	require.NoError(t, err)
	return r
}

// workerRuns is how many times slow_report ran: one "request" log line per run.
func (b *bundle) workerRuns(t *testing.T) int {
	t.Helper()
	n := 0
	for line := range strings.SplitSeq(strings.TrimSpace(b.logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == "request" && rec["action"] == "slow_report" {
			n++
		}
	}
	return n
}

func TestDirectDispatchStartsTheWorkerWithoutTheStream(t *testing.T) {
	t.Parallel()
	var dispatch *countingInvoker
	b := setupWith(t, func(b *bundle) executor.Invoker {
		dispatch = &countingInvoker{next: b.invoker}
		return dispatch
	})
	require.True(t, b.app.DirectDispatch(), "on by default")

	require.Contains(t, b.asyncCall(t), `"type":"ack"`)
	b.awaitResult(t) // no stream record was handed to the processor
	require.EqualValues(t, 1, dispatch.calls.Load())

	// Then the stream delivers the same request: the worker it starts finds it finished
	// and runs nothing. Both deliver, the handler runs once, one result.
	b.dispatch(t)
	require.NoError(t, b.invoker.Shutdown(t.Context()))
	require.Equal(t, store.StatusCompleted, b.stored(t).Status)
	require.Equal(t, 1, b.workerRuns(t))
	b.awaitResult(t)
}

func TestBothDeliveriesAtOnceRunTheHandlerOnce(t *testing.T) {
	t.Parallel()
	// The stream's record reaches the processor while the dispatched worker starts.
	var gate sync.WaitGroup
	gate.Add(1)
	b := setupWith(t, func(b *bundle) executor.Invoker {
		inv := executor.NewGoroutineInvoker(func(ctx context.Context, ev executor.WorkerEvent) error {
			gate.Wait()
			return b.fns.Worker(ctx, ev)
		}, executor.GoroutineOptions{Timeout: time.Minute})
		t.Cleanup(func() { require.NoError(t, inv.Shutdown(context.Background())) })
		return inv
	})
	require.Contains(t, b.asyncCall(t), `"type":"ack"`)
	b.dispatch(t)
	gate.Done()
	b.awaitResult(t)
	require.NoError(t, b.invoker.Shutdown(t.Context()))
	require.Equal(t, 1, b.workerRuns(t))
	require.Equal(t, store.StatusCompleted, b.stored(t).Status)
}

func TestFailedDispatchTheStreamDelivers(t *testing.T) {
	t.Parallel()
	failing := &countingInvoker{}
	b := setupWith(t, func(*bundle) executor.Invoker { return failing })

	require.Contains(t, b.asyncCall(t), `"type":"ack"`, "the client gets its ack all the same")
	require.EqualValues(t, 1, failing.calls.Load())
	require.Equal(t, store.StatusPending, b.stored(t).Status, "no worker started")
	require.Contains(t, b.logs.String(), "direct dispatch failed")

	b.dispatch(t) // the stream
	b.awaitResult(t)
	require.Equal(t, 1, b.workerRuns(t))
}

// dyingInvoker ends the goroutine that calls it, before any invoke leaves: the router's
// Lambda environment dying right after its enqueue.
type dyingInvoker struct{ called atomic.Bool }

func (d *dyingInvoker) Invoke(context.Context, executor.WorkerEvent) error {
	d.called.Store(true)
	runtime.Goexit()
	return nil
}

func TestRouterDyingBetweenEnqueueAndDispatchTheStreamDelivers(t *testing.T) {
	t.Parallel()
	dying := &dyingInvoker{}
	b := setupWith(t, func(*bundle) executor.Invoker { return dying })
	b.gateway.AddConnection(connectionID, nil)
	replied := make(chan string, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		resp, err := b.fns.Router(t.Context(), websocketEvent(t, "message.json", `{"action":"slow_report","id":"r-1","payload":{"n":1}}`))
		if err == nil {
			replied <- resp.Body
		}
	}()
	<-ended
	require.True(t, dying.called.Load())
	require.Empty(t, replied, "the router died: no ack")
	require.Equal(t, store.StatusPending, b.stored(t).Status, "the request was queued before the router died")

	b.dispatch(t) // the stream
	b.awaitResult(t)
	require.Equal(t, 1, b.workerRuns(t))
}

func TestDirectDispatchOff(t *testing.T) {
	t.Parallel()
	var dispatch *countingInvoker
	b := setupWith(t, func(b *bundle) executor.Invoker {
		dispatch = &countingInvoker{next: b.invoker}
		return dispatch
	}, lambdas.WithDirectDispatch(false))
	require.False(t, b.app.DirectDispatch())
	require.Contains(t, b.asyncCall(t), `"type":"ack"`)
	require.Zero(t, dispatch.calls.Load(), "the router leaves the request to the stream")
	b.dispatch(t)
	b.awaitResult(t)
}
