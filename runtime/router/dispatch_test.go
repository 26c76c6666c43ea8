package router_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// dispatcher is a Dispatcher that records what it was given, checks that each request
// was stored before it was dispatched, and answers err, or waits for its context to end
// when block is set.
type dispatcher struct {
	tb    testing.TB
	queue *queue
	err   error
	block bool

	mu        sync.Mutex
	ids       []string
	deadlines []time.Duration // how far off each call's context deadline was
}

func (d *dispatcher) Dispatch(ctx context.Context, requestID string) error {
	dl, ok := ctx.Deadline()
	require.True(d.tb, ok, "every dispatch is bounded")
	_, err := d.queue.Get(context.Background(), requestID)
	require.NoError(d.tb, err, "a request is dispatched only once it is stored")
	d.mu.Lock()
	d.ids = append(d.ids, requestID)
	d.deadlines = append(d.deadlines, time.Until(dl))
	d.mu.Unlock()
	if d.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return d.err
}

func (d *dispatcher) dispatched() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...)
}

func TestDirectDispatchAfterTheEnqueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := &dispatcher{tb: t, queue: b.queue}
	b.configure(router.Options{Dispatcher: d})

	require.Equal(t, protocol.TypeAck, route(t, b.router, withBody(t, `{"action":"report","id":"r-1"}`))["type"])
	require.Equal(t, []string{store.ScopedID(fixtureOwner.TenantID, fixtureOwner.UserID, "r-1")}, d.dispatched(),
		"the new request's scoped id")

	// Nothing else is dispatched: a resent id (the request exists), a sync action, a
	// refused frame, a queue that is down.
	require.Equal(t, protocol.TypeStatus, route(t, b.router, withBody(t, `{"action":"report","id":"r-1"}`))["type"])
	require.Equal(t, protocol.TypeResult, route(t, b.router, withBody(t, `{"action":"echo","id":"e-1"}`))["type"])
	require.Equal(t, streamer.ErrCodeInvalidAction, errorCode(t, route(t, b.router, withBody(t, `{"action":"nope","id":"n-1"}`))))
	b.queue.failWith(errors.New("dynamo: RequestLimitExceeded"))
	require.Equal(t, streamer.ErrCodeServiceUnavail, errorCode(t, route(t, b.router, withBody(t, `{"action":"report","id":"r-2"}`))))
	require.Len(t, d.dispatched(), 1)
	require.LessOrEqual(t, d.deadlines[0], router.DefaultDispatchTimeout)
}

func TestFailedDispatchStillAcks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.configure(router.Options{Dispatcher: &dispatcher{tb: t, queue: b.queue, err: errors.New("lambda: TooManyRequestsException")}})

	reply := route(t, b.router, withBody(t, `{"action":"report","id":"r-1"}`))
	require.Equal(t, protocol.TypeAck, reply["type"], "the stream delivers the request: the client gets its ack")
	require.Equal(t, store.StatusPending, b.queue.stored(t, fixtureOwner, "r-1").Status)
	lines := logLines(t, b.logs)
	require.Len(t, lines, 1)
	require.Equal(t, "WARN", lines[0]["level"])
	require.Equal(t, "r-1", lines[0]["request_id"])
	require.Contains(t, lines[0]["error"], "TooManyRequestsException")
}

func TestSlowDispatchIsBoundedByItsTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := &dispatcher{tb: t, queue: b.queue, block: true}
	b.configure(router.Options{Dispatcher: d, DispatchTimeout: 20 * time.Millisecond})

	// The dispatcher never answers: the route gives up at DispatchTimeout and acks.
	require.Equal(t, protocol.TypeAck, route(t, b.router, withBody(t, `{"action":"report","id":"r-1"}`))["type"])
	require.Len(t, d.dispatched(), 1)
	require.LessOrEqual(t, d.deadlines[0], 20*time.Millisecond, "the dispatch's context ends at DispatchTimeout")
	require.Contains(t, logLines(t, b.logs)[0]["error"], context.DeadlineExceeded.Error())
}
