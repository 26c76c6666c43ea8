package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
)

// RequestTable is the storage a Queue runs on: the three primitives of the Requests
// table. dynamostore implements it with PutItem, GetItem and UpdateItem; memstore with a
// map under a mutex. The rules (defaults, conditions, what each transition writes) live
// in Queue, once.
type RequestTable interface {
	// Create writes r unless a request with its id exists and is live at now;
	// ErrConflict when one does, ErrTooLarge when the item is over the limit.
	Create(ctx context.Context, r *AsyncRequest, now time.Time) error
	// Load returns the stored request, expired or not, from a strongly consistent
	// read; ErrNotFound when missing.
	Load(ctx context.Context, requestID string) (*AsyncRequest, error)
	// Update applies t atomically when t.Cond holds and returns the request as stored
	// after; ErrConflict (or ErrNotFound) when the condition fails, ErrTooLarge when the
	// item would be over the limit.
	Update(ctx context.Context, requestID string, t Transition) (*AsyncRequest, error)
	// LoadMany returns the stored requests of ids, expired or not, from strongly
	// consistent reads, keyed by id; missing ids are left out.
	LoadMany(ctx context.Context, ids []string) (map[string]*AsyncRequest, error)
	// Unfinished returns the ids of the requests in one shard of the unfinished index
	// (those whose unfinished_shard is shard) created before createdBefore. The index is
	// eventually consistent: a caller reads each request again before acting on it.
	Unfinished(ctx context.Context, shard string, createdBefore time.Time) ([]string, error)
}

// Queue keeps async requests on a RequestTable and moves them through their statuses:
// RequestQueue for application code, the lease-checked transitions of the worker (Claim,
// Checkpoint, Finish, Release, Continue) and the owner-scoped ones of the router (Rebind,
// RequestCancel). Every transition is conditional; a transition from the wrong state
// returns ErrConflict. Both stores use it, so they share every rule by construction; the
// conformance suite checks the tables.
type Queue struct {
	table RequestTable
	now   func() time.Time
}

var _ RequestQueue = (*Queue)(nil)

// NewQueue returns a Queue on table; now is its clock (time.Now when nil), used for
// defaults, timestamps and TTL checks.
func NewQueue(table RequestTable, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{table: table, now: now}
}

// enqueueTries bounds the create/read loop of Enqueue: a duplicate that expires or is
// deleted between the failed create and the read is retried.
const enqueueTries = 3

// Enqueue implements RequestQueue.
func (q *Queue) Enqueue(ctx context.Context, req *AsyncRequest) error {
	if req == nil || req.RequestID == "" {
		return errors.New("store: enqueue: request id is empty")
	}
	now := q.now()
	req.Status = StatusPending
	req.CreatedAt = orNow(req.CreatedAt, now).UTC() // as it reads back
	req.UpdatedAt = orNow(req.UpdatedAt, req.CreatedAt).UTC()
	if req.Attempt == 0 {
		req.Attempt = 1
	}
	if req.MaxAttempts == 0 {
		req.MaxAttempts = contract.DefaultMaxAttempts
	}
	if req.TTL == 0 {
		req.TTL = now.Add(contract.RequestTTL).Unix()
	}
	for range enqueueTries {
		err := q.table.Create(ctx, req, now)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		existing, err := q.Get(ctx, req.RequestID)
		if err == nil {
			return &DuplicateError{Existing: existing}
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return fmt.Errorf("%w: enqueue %s: the existing request keeps changing", ErrConflict, req.RequestID)
}

// Get implements RequestQueue.
func (q *Queue) Get(ctx context.Context, requestID string) (*AsyncRequest, error) {
	return q.load(ctx, requestID, Condition{Now: q.now()})
}

// LoadMany returns the stored requests of ids, keyed by id, expired or not (callers
// check Expired with their clock), from strongly consistent reads (BatchGetItem in
// dynamostore); missing ids are left out.
func (q *Queue) LoadMany(ctx context.Context, ids []string) (map[string]*AsyncRequest, error) {
	if len(ids) == 0 {
		return map[string]*AsyncRequest{}, nil
	}
	return q.table.LoadMany(ctx, ids)
}

// Unfinished returns the ids of the requests not yet finished that were created before
// createdBefore, from every shard of the unfinished index. The index lags the table a
// little: Redrive checks each request again.
func (q *Queue) Unfinished(ctx context.Context, createdBefore time.Time) ([]string, error) {
	var ids []string
	for n := range contract.UnfinishedShards {
		found, err := q.table.Unfinished(ctx, UnfinishedShardName(n), createdBefore)
		if err != nil {
			return nil, err
		}
		ids = append(ids, found...)
	}
	return ids, nil
}

// Redrive hands out again a request nobody is working on: PENDING and not written since
// staleBefore, or PROCESSING with a lease that ended before staleBefore (its worker and
// every retry of it are gone). With attempts left it becomes PENDING with Attempt+1 and
// no lease, a write that re-triggers the stream; at the last attempt it becomes FAILED
// with errJSON as its error, and failed is true: the caller sends its terminal message.
// ErrConflict when the request is not stale (any more), finished, or changed meanwhile;
// ErrNotFound when it is missing or expired.
func (q *Queue) Redrive(ctx context.Context, requestID string, staleBefore time.Time, errJSON json.RawMessage) (r *AsyncRequest, failed bool, err error) {
	now := q.now()
	cond := Condition{Now: now, Statuses: nonTerminal, StaleBefore: staleBefore}
	cur, err := q.load(ctx, requestID, cond)
	if err != nil {
		return nil, false, err
	}
	if cur.Attempt >= cmp.Or(cur.MaxAttempts, contract.DefaultMaxAttempts) {
		r, err := q.apply(ctx, requestID, cond, &AsyncRequest{Status: StatusFailed, Error: errJSON, EndedAt: now, UpdatedAt: now},
			contract.AttrStatus, contract.AttrError, contract.AttrEndedAt, contract.AttrUpdatedAt, contract.AttrLeaseOwner, contract.AttrLeaseUntil)
		return r, err == nil, err
	}
	t, err := change(cond, &AsyncRequest{Status: StatusPending, UpdatedAt: now},
		contract.AttrStatus, contract.AttrUpdatedAt, contract.AttrLeaseOwner, contract.AttrLeaseUntil)
	if err != nil {
		return nil, false, fmt.Errorf("store: redrive %s: %w", requestID, err)
	}
	t.Increment = []string{contract.AttrAttempt}
	r, err = q.update(ctx, requestID, t)
	return r, false, err
}

// load reads a request and checks it against cond.
func (q *Queue) load(ctx context.Context, requestID string, cond Condition) (*AsyncRequest, error) {
	r, err := q.table.Load(ctx, requestID)
	if err != nil {
		return nil, err
	}
	if err := cond.Check(r); err != nil {
		return nil, err
	}
	return r, nil
}

// UpdateStatus implements RequestQueue.
func (q *Queue) UpdateStatus(ctx context.Context, requestID string, status RequestStatus, message string) error {
	if !slices.Contains(allStatuses, status) {
		return fmt.Errorf("store: update status of %s: unknown status %q", requestID, status)
	}
	now := q.now()
	r := &AsyncRequest{Status: status, ProgressMessage: message, UpdatedAt: now}
	names := []string{contract.AttrStatus, contract.AttrUpdatedAt}
	if message != "" {
		names = append(names, contract.AttrProgressMessage)
	}
	if status.Terminal() {
		r.EndedAt = now
		names = append(names, contract.AttrEndedAt, contract.AttrLeaseUntil)
	}
	_, err := q.apply(ctx, requestID, live(now, nonTerminal...), r, names...)
	return err
}

// UpdateProgress implements RequestQueue.
func (q *Queue) UpdateProgress(ctx context.Context, requestID string, progress float64, message string, details map[string]any) error {
	now := q.now()
	r, err := withProgress(&AsyncRequest{UpdatedAt: now}, ProgressState{Percentage: progress, Message: message, Metadata: details})
	if err != nil {
		return err
	}
	_, err = q.apply(ctx, requestID, live(now, StatusProcessing), r, progressNames...)
	return err
}

// CompleteRequest implements RequestQueue. Progress becomes 100.
func (q *Queue) CompleteRequest(ctx context.Context, requestID string, result map[string]any) error {
	data, err := marshalJSON(result)
	if err != nil {
		return fmt.Errorf("store: complete %s: result: %w", requestID, err)
	}
	now := q.now()
	r := &AsyncRequest{Status: StatusCompleted, Result: data, Progress: 100, EndedAt: now, UpdatedAt: now}
	_, err = q.apply(ctx, requestID, live(now, StatusProcessing), r,
		contract.AttrStatus, contract.AttrResult, contract.AttrProgress, contract.AttrEndedAt, contract.AttrUpdatedAt, contract.AttrLeaseUntil)
	return err
}

// FailRequest implements RequestQueue. The error stored is {"code":"INTERNAL_ERROR",
// "message":errMsg}, the JSON of a streamer.Error.
func (q *Queue) FailRequest(ctx context.Context, requestID string, errMsg string) error {
	data, err := marshalJSON(map[string]string{"code": "INTERNAL_ERROR", "message": errMsg})
	if err != nil {
		return fmt.Errorf("store: fail %s: %w", requestID, err)
	}
	now := q.now()
	r := &AsyncRequest{Status: StatusFailed, Error: data, EndedAt: now, UpdatedAt: now}
	_, err = q.apply(ctx, requestID, live(now, nonTerminal...), r,
		contract.AttrStatus, contract.AttrError, contract.AttrEndedAt, contract.AttrUpdatedAt, contract.AttrLeaseUntil)
	return err
}

// Claim moves a request to PROCESSING for owner (a worker's invocation id) until
// leaseUntil: from PENDING, or from PROCESSING whose lease expired before now (the
// previous worker died). Returns the claimed request; ErrConflict when it is not
// claimable (already claimed or finished), ErrNotFound when missing. A reclaim keeps
// Attempt: only a Release counts an attempt as used. The request returned may carry
// CancelRequested (a cancel that came while an earlier attempt ran): the worker then
// finishes it CANCELLED.
func (q *Queue) Claim(ctx context.Context, requestID, owner string, now, leaseUntil time.Time) (*AsyncRequest, error) {
	if err := checkOwner("claim", requestID, owner); err != nil {
		return nil, err
	}
	cond := Condition{Now: now, Statuses: nonTerminal, LeaseExpired: true}
	r := &AsyncRequest{Status: StatusProcessing, LeaseOwner: owner, LeaseUntil: leaseUntil, StartedAt: now, UpdatedAt: now}
	return q.apply(ctx, requestID, cond, r,
		contract.AttrStatus, contract.AttrLeaseOwner, contract.AttrLeaseUntil, contract.AttrStartedAt, contract.AttrUpdatedAt)
}

// Checkpoint persists progress (and p.Checkpoint, when set) and extends the lease, if
// owner still holds it. Returns the request as stored after the write, so the worker sees
// cancel_requested and the current connection_id (a resumed client). ErrConflict when
// the lease is lost.
func (q *Queue) Checkpoint(ctx context.Context, requestID, owner string, p ProgressState, leaseUntil time.Time) (*AsyncRequest, error) {
	if err := checkOwner("checkpoint", requestID, owner); err != nil {
		return nil, err
	}
	now := q.now()
	r, err := withProgress(&AsyncRequest{LeaseUntil: leaseUntil, UpdatedAt: now}, p)
	if err != nil {
		return nil, err
	}
	return q.apply(ctx, requestID, held(now, owner), r, progressWrite(p, contract.AttrLeaseUntil)...)
}

// Finish moves a PROCESSING request held by owner to COMPLETED (result set), FAILED or
// CANCELLED (errJSON set), records progress p and EndedAt, and removes the checkpoint
// (a finished request has nothing to resume). Returns the stored request;
// ErrConflict when the lease is lost; ErrTooLarge when result is over the item limit
// (the caller then fails the request with PAYLOAD_TOO_LARGE).
func (q *Queue) Finish(ctx context.Context, requestID, owner string, status RequestStatus, p ProgressState, result, errJSON json.RawMessage) (*AsyncRequest, error) {
	if !status.Terminal() {
		return nil, fmt.Errorf("store: finish %s: status %q is not terminal", requestID, status)
	}
	if err := checkOwner("finish", requestID, owner); err != nil {
		return nil, err
	}
	now := q.now()
	r, err := withProgress(&AsyncRequest{Status: status, Result: result, Error: errJSON, EndedAt: now, UpdatedAt: now}, p)
	if err != nil {
		return nil, err
	}
	r.Checkpoint = nil // a finished request has nothing to resume
	names := slices.Concat(progressNames, []string{contract.AttrStatus, contract.AttrEndedAt, contract.AttrLeaseUntil, contract.AttrCheckpoint})
	if len(result) > 0 {
		names = append(names, contract.AttrResult)
	}
	if len(errJSON) > 0 {
		names = append(names, contract.AttrError)
	}
	return q.apply(ctx, requestID, held(now, owner), r, names...)
}

// Release puts a PROCESSING request held by owner back to PENDING with Attempt+1 and no
// lease (a retryable failure, or a worker about to run out of time), recording errJSON
// as the last error. That write re-triggers the stream. ErrConflict when the lease is
// lost.
func (q *Queue) Release(ctx context.Context, requestID, owner string, errJSON json.RawMessage) (*AsyncRequest, error) {
	if err := checkOwner("release", requestID, owner); err != nil {
		return nil, err
	}
	now := q.now()
	r := &AsyncRequest{Status: StatusPending, Error: errJSON, UpdatedAt: now}
	names := []string{contract.AttrStatus, contract.AttrUpdatedAt, contract.AttrLeaseOwner, contract.AttrLeaseUntil}
	if len(errJSON) > 0 {
		names = append(names, contract.AttrError)
	}
	t, err := change(held(now, owner), r, names...)
	if err != nil {
		return nil, fmt.Errorf("store: release %s: %w", requestID, err)
	}
	t.Increment = []string{contract.AttrAttempt}
	return q.update(ctx, requestID, t)
}

// Continue puts a PROCESSING request held by owner back to PENDING for a new invocation
// to carry on (its worker is about to run out of time and the handler checkpointed):
// Continuations+1, Attempt unchanged, no lease, progress and checkpoint from p. That
// write re-triggers the stream. Unlike Release it uses no attempt and records no error:
// the request is not failing, it is going on in another invocation. ErrConflict when the
// lease is lost.
func (q *Queue) Continue(ctx context.Context, requestID, owner string, p ProgressState) (*AsyncRequest, error) {
	if err := checkOwner("continue", requestID, owner); err != nil {
		return nil, err
	}
	now := q.now()
	r, err := withProgress(&AsyncRequest{Status: StatusPending, UpdatedAt: now}, p)
	if err != nil {
		return nil, err
	}
	t, err := change(held(now, owner), r, progressWrite(p, contract.AttrStatus, contract.AttrLeaseOwner, contract.AttrLeaseUntil)...)
	if err != nil {
		return nil, fmt.Errorf("store: continue %s: %w", requestID, err)
	}
	t.Increment = []string{contract.AttrContinuations}
	return q.update(ctx, requestID, t)
}

// Rebind points the owner's request at connectionID (resume after reconnect) and
// returns it; ErrNotFound when it is not the owner's. A terminal request is returned
// unchanged: there is no more work to deliver, and a finished request never changes.
func (q *Queue) Rebind(ctx context.Context, owner Owner, clientID, connectionID string) (*AsyncRequest, error) {
	requestID := ScopedID(owner.TenantID, owner.UserID, clientID)
	now := q.now()
	cond := Condition{Now: now, Statuses: nonTerminal, Owner: &owner}
	r, err := q.apply(ctx, requestID, cond, &AsyncRequest{ConnectionID: connectionID, UpdatedAt: now},
		contract.AttrRequestConnectionID, contract.AttrUpdatedAt)
	if errors.Is(err, ErrConflict) {
		return q.terminal(ctx, requestID, owner, err)
	}
	return r, err
}

// cancelTries bounds RequestCancel's read/write loop; each retry means the status moved
// on between the read and the write.
const cancelTries = 4

// RequestCancel cancels the owner's request: a PENDING one becomes CANCELLED at once
// (with errJSON as its error), a PROCESSING one gets cancel_requested; a terminal one is
// returned unchanged. Returns the request after the write, and cancelled = true only
// when this call moved it from PENDING to CANCELLED (so whoever made the transition, and
// only they, sends its terminal message). ErrNotFound when it is not the owner's.
func (q *Queue) RequestCancel(ctx context.Context, owner Owner, clientID string, errJSON json.RawMessage) (*AsyncRequest, bool, error) {
	requestID := ScopedID(owner.TenantID, owner.UserID, clientID)
	for range cancelTries {
		cur, err := q.load(ctx, requestID, Condition{Now: q.now(), Owner: &owner})
		if err != nil {
			return nil, false, err
		}
		now := q.now()
		cancelled := false
		switch {
		case cur.Status.Terminal():
			return cur, false, nil
		case cur.Status == StatusPending:
			r := &AsyncRequest{Status: StatusCancelled, Error: errJSON, EndedAt: now, UpdatedAt: now}
			cur, err = q.apply(ctx, requestID, Condition{Now: now, Statuses: []RequestStatus{StatusPending}, Owner: &owner}, r,
				contract.AttrStatus, contract.AttrError, contract.AttrEndedAt, contract.AttrUpdatedAt)
			cancelled = err == nil
		case cur.CancelRequested:
			return cur, false, nil
		default:
			r := &AsyncRequest{CancelRequested: true, UpdatedAt: now}
			cur, err = q.apply(ctx, requestID, Condition{Now: now, Statuses: []RequestStatus{StatusProcessing}, Owner: &owner}, r,
				contract.AttrCancelRequested, contract.AttrUpdatedAt)
		}
		if !errors.Is(err, ErrConflict) {
			if err != nil {
				return nil, false, err
			}
			return cur, cancelled, nil
		}
	}
	return nil, false, fmt.Errorf("%w: cancel %s: the request keeps changing", ErrConflict, requestID)
}

// terminal returns the owner's request when it is terminal, else conflictErr.
func (q *Queue) terminal(ctx context.Context, requestID string, owner Owner, conflictErr error) (*AsyncRequest, error) {
	cur, err := q.load(ctx, requestID, Condition{Now: q.now(), Owner: &owner})
	if err != nil {
		return nil, err
	}
	if cur.Status.Terminal() {
		return cur, nil
	}
	return nil, conflictErr
}

// apply writes the named attributes of r under cond.
func (q *Queue) apply(ctx context.Context, requestID string, cond Condition, r *AsyncRequest, names ...string) (*AsyncRequest, error) {
	t, err := change(cond, r, names...)
	if err != nil {
		return nil, fmt.Errorf("store: request %s: %w", requestID, err)
	}
	return q.update(ctx, requestID, t)
}

// update runs t. Values alone over the item limit fail before the write; a failed
// condition is classified from a fresh read, so the caller learns ErrNotFound (missing,
// expired, someone else's) apart from ErrConflict (wrong state), with the reason.
func (q *Queue) update(ctx context.Context, requestID string, t Transition) (*AsyncRequest, error) {
	if err := CheckItemSize(t.Set); err != nil {
		return nil, fmt.Errorf("store: request %s: %w", requestID, err)
	}
	r, err := q.table.Update(ctx, requestID, t)
	if !errors.Is(err, ErrConflict) {
		return r, err
	}
	cur, lerr := q.table.Load(ctx, requestID)
	if lerr != nil {
		return nil, lerr
	}
	if cerr := t.Cond.Check(cur); cerr != nil {
		return nil, cerr
	}
	return nil, err
}

// checkOwner rejects an empty lease owner, which would match a request without one.
func checkOwner(op, requestID, owner string) error {
	if owner == "" {
		return fmt.Errorf("store: %s %s: lease owner is empty", op, requestID)
	}
	return nil
}

var allStatuses = []RequestStatus{StatusPending, StatusProcessing, StatusCompleted, StatusFailed, StatusCancelled}

// orNow returns t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// marshalJSON encodes v without HTML escaping: the text is stored and sent as is.
func marshalJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
