package local

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/store"
)

// Compile-time checks: the counting decorators are what the functions take.
var (
	_ store.ConnectionStore = (*countingConnections)(nil)
	_ lambdas.Queue         = (*countingRequests)(nil)
)

// countingConnections counts each ConnectionStore call as the DynamoDB operation
// dynamostore makes for it.
type countingConnections struct {
	next store.ConnectionStore
	m    *counters
	lag  time.Duration // Latency.DynamoDB, added to every call
}

func (c *countingConnections) count(op string, err error) error {
	c.m.dynamoCall(TableConnections, op, err)
	wait(context.Background(), c.lag)
	return err
}

func (c *countingConnections) Save(ctx context.Context, conn *store.Connection) error {
	return c.count(OpPutItem, c.next.Save(ctx, conn))
}

func (c *countingConnections) Delete(ctx context.Context, connectionID string) error {
	return c.count(OpDeleteItem, c.next.Delete(ctx, connectionID))
}

// countingRequests counts each call of the functions' request queue as the DynamoDB
// operation dynamostore makes for it: Enqueue is a conditional PutItem, Get a GetItem,
// every transition one conditional UpdateItem.
type countingRequests struct {
	next lambdas.Queue
	m    *counters
	lag  time.Duration // Latency.DynamoDB, added to every call
}

func (q *countingRequests) count(op string, err error) error {
	q.m.dynamoCall(TableRequests, op, err)
	wait(context.Background(), q.lag)
	return err
}

// Enqueue is a conditional PutItem; a duplicate also reads the existing request.
func (q *countingRequests) Enqueue(ctx context.Context, req *store.AsyncRequest) error {
	err := q.count(OpPutItem, q.next.Enqueue(ctx, req))
	if errors.Is(err, store.ErrDuplicate) {
		q.m.dynamoCall(TableRequests, OpGetItem, nil)
	}
	return err
}

func (q *countingRequests) Get(ctx context.Context, requestID string) (*store.AsyncRequest, error) {
	r, err := q.next.Get(ctx, requestID)
	return r, q.count(OpGetItem, err)
}

func (q *countingRequests) Claim(ctx context.Context, requestID, owner string, now, leaseUntil time.Time) (*store.AsyncRequest, error) {
	r, err := q.next.Claim(ctx, requestID, owner, now, leaseUntil)
	return r, q.count(OpUpdateItem, err)
}

func (q *countingRequests) Checkpoint(ctx context.Context, requestID, owner string, p store.ProgressState, leaseUntil time.Time) (*store.AsyncRequest, error) {
	r, err := q.next.Checkpoint(ctx, requestID, owner, p, leaseUntil)
	return r, q.count(OpUpdateItem, err)
}

func (q *countingRequests) Finish(ctx context.Context, requestID, owner string, status store.RequestStatus, p store.ProgressState, result, errJSON json.RawMessage) (*store.AsyncRequest, error) {
	r, err := q.next.Finish(ctx, requestID, owner, status, p, result, errJSON)
	return r, q.count(OpUpdateItem, err)
}

func (q *countingRequests) Release(ctx context.Context, requestID, owner string, errJSON json.RawMessage) (*store.AsyncRequest, error) {
	r, err := q.next.Release(ctx, requestID, owner, errJSON)
	return r, q.count(OpUpdateItem, err)
}

func (q *countingRequests) Continue(ctx context.Context, requestID, owner string, p store.ProgressState) (*store.AsyncRequest, error) {
	r, err := q.next.Continue(ctx, requestID, owner, p)
	return r, q.count(OpUpdateItem, err)
}

func (q *countingRequests) Rebind(ctx context.Context, owner store.Owner, clientID, connectionID string) (*store.AsyncRequest, error) {
	r, err := q.next.Rebind(ctx, owner, clientID, connectionID)
	return r, q.count(OpUpdateItem, err)
}

func (q *countingRequests) RequestCancel(ctx context.Context, owner store.Owner, clientID string, errJSON json.RawMessage) (*store.AsyncRequest, bool, error) {
	r, cancelled, err := q.next.RequestCancel(ctx, owner, clientID, errJSON)
	return r, cancelled, q.count(OpUpdateItem, err)
}
