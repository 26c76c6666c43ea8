package local

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/store"
)

// Compile-time checks: the counting decorators are what the functions take.
var (
	_ store.ConnectionStore = (*countingConnections)(nil)
	_ lambdas.Queue         = (*countingRequests)(nil)
	_ store.LimitTable      = (*countingLimits)(nil)
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

// LoadMany is one BatchGetItem per 100 ids.
func (q *countingRequests) LoadMany(ctx context.Context, ids []string) (map[string]*store.AsyncRequest, error) {
	r, err := q.next.LoadMany(ctx, ids)
	for range (len(ids) + 99) / 100 {
		q.count(OpBatchGetItem, err)
	}
	return r, err
}

// Unfinished is one Query per shard of the unfinished index.
func (q *countingRequests) Unfinished(ctx context.Context, createdBefore time.Time) ([]string, error) {
	ids, err := q.next.Unfinished(ctx, createdBefore)
	for range contract.UnfinishedShards {
		q.count(OpQuery, err)
	}
	return ids, err
}

// Redrive is a consistent read, then a conditional UpdateItem when the request is stale
// (counted when it succeeds: a write that lost a race to another writer is not told
// apart from a request found fresh by the read).
func (q *countingRequests) Redrive(ctx context.Context, requestID string, staleBefore time.Time, errJSON json.RawMessage) (*store.AsyncRequest, bool, error) {
	r, failed, err := q.next.Redrive(ctx, requestID, staleBefore, errJSON)
	q.m.dynamoCall(TableRequests, OpGetItem, nil)
	if err == nil {
		q.m.dynamoCall(TableRequests, OpUpdateItem, nil)
	}
	return r, failed, err
}

// countingLimits counts each LimitTable call as the DynamoDB operation dynamostore makes
// for it: a consistent GetItem, a conditional PutItem.
type countingLimits struct {
	next store.LimitTable
	m    *counters
}

func (l *countingLimits) LoadLimits(ctx context.Context, tenantID string) (store.LimitItem, error) {
	item, err := l.next.LoadLimits(ctx, tenantID)
	l.m.dynamoCall(TableLimits, OpGetItem, err)
	return item, err
}

func (l *countingLimits) SaveLimits(ctx context.Context, tenantID string, item store.LimitItem, prev int64) error {
	err := l.next.SaveLimits(ctx, tenantID, item, prev)
	l.m.dynamoCall(TableLimits, OpPutItem, err)
	return err
}
