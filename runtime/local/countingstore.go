package local

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/streamer-go/streamer/runtime/store"
)

// Compile-time checks: the counting decorators are drop-in stores.
var (
	_ store.ConnectionStore = (*countingConnections)(nil)
	_ store.RequestQueue    = (*countingRequests)(nil)
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

func (c *countingConnections) Get(ctx context.Context, connectionID string) (*store.Connection, error) {
	conn, err := c.next.Get(ctx, connectionID)
	return conn, c.count(OpGetItem, err)
}

func (c *countingConnections) Delete(ctx context.Context, connectionID string) error {
	return c.count(OpDeleteItem, c.next.Delete(ctx, connectionID))
}

func (c *countingConnections) Touch(ctx context.Context, connectionID string, at time.Time) error {
	return c.count(OpUpdateItem, c.next.Touch(ctx, connectionID, at))
}

func (c *countingConnections) ListByUser(ctx context.Context, tenantID, userID string) ([]*store.Connection, error) {
	conns, err := c.next.ListByUser(ctx, tenantID, userID)
	return conns, c.count(OpQuery, err)
}

func (c *countingConnections) ListByTenant(ctx context.Context, tenantID string) ([]*store.Connection, error) {
	conns, err := c.next.ListByTenant(ctx, tenantID)
	return conns, c.count(OpQuery, err)
}

// countingRequests counts each RequestQueue call as the DynamoDB operation dynamostore
// makes for it: Enqueue is a conditional PutItem, reads are GetItem, every transition is
// one conditional UpdateItem.
type countingRequests struct {
	next store.RequestQueue
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

func (q *countingRequests) GetForOwner(ctx context.Context, owner store.Owner, clientID string) (*store.AsyncRequest, error) {
	r, err := q.next.GetForOwner(ctx, owner, clientID)
	return r, q.count(OpGetItem, err)
}

func (q *countingRequests) UpdateStatus(ctx context.Context, requestID string, status store.RequestStatus, message string) error {
	return q.count(OpUpdateItem, q.next.UpdateStatus(ctx, requestID, status, message))
}

func (q *countingRequests) UpdateProgress(ctx context.Context, requestID string, progress float64, message string, details map[string]any) error {
	return q.count(OpUpdateItem, q.next.UpdateProgress(ctx, requestID, progress, message, details))
}

func (q *countingRequests) CompleteRequest(ctx context.Context, requestID string, result map[string]any) error {
	return q.count(OpUpdateItem, q.next.CompleteRequest(ctx, requestID, result))
}

func (q *countingRequests) FailRequest(ctx context.Context, requestID string, errMsg string) error {
	return q.count(OpUpdateItem, q.next.FailRequest(ctx, requestID, errMsg))
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
