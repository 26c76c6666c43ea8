// Package storetest is the conformance suite of Streamer's stores: every ConnectionStore
// implementation, and store.Queue on every RequestTable, must pass Run, so the in-memory
// store behaves as the DynamoDB one does.
package storetest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// Stores are the stores under test.
type Stores struct {
	// Connections is the connection store.
	Connections store.ConnectionStore
	// Requests is the request queue on the store's RequestTable.
	Requests *store.Queue
	// Limits is the store's limits table.
	Limits store.LimitTable
	// LoadConnection reads a connection record as stored, expired or not, straight from
	// the store's table; store.ErrNotFound when there is none. The runtime never reads
	// connection records back, so the stores have no method for it: each store's tests
	// supply this read.
	LoadConnection func(ctx context.Context, connectionID string) (*store.Connection, error)
}

// NewStores returns the stores under test. It is called once per subtest; the stores may
// be shared between subtests (every subtest uses its own ids).
type NewStores func(t *testing.T) Stores

// Run runs the conformance suite against the stores newStores returns. Subtests run in
// parallel.
func Run(t *testing.T, newStores NewStores) {
	t.Run("Requests", func(t *testing.T) {
		for name, test := range requestTests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				test(t, newBundle(t, newStores(t).Requests))
			})
		}
	})
	t.Run("Redrive", func(t *testing.T) {
		for name, test := range redriveTests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				test(t, newBundle(t, newStores(t).Requests))
			})
		}
	})
	t.Run("Limits", func(t *testing.T) {
		for name, test := range limitTests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newStores(t)
				test(t, newLimitBundle(t, s))
			})
		}
	})
	t.Run("Connections", func(t *testing.T) {
		for name, test := range connectionTests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				test(t, newStores(t), uniqueID())
			})
		}
	})
}

// bundle is what a request test works with: the queue, a fresh owner and helpers.
type bundle struct {
	ctx   context.Context
	q     *store.Queue
	owner store.Owner
}

func newBundle(t *testing.T, q *store.Queue) *bundle {
	id := uniqueID()
	return &bundle{ctx: t.Context(), q: q, owner: store.Owner{TenantID: "tenant-" + id, UserID: "user-" + id}}
}

// enqueue stores a request of the bundle's owner under clientID.
func (b *bundle) enqueue(t *testing.T, clientID string) *store.AsyncRequest {
	t.Helper()
	req := b.request(clientID)
	require.NoError(t, b.q.Enqueue(b.ctx, req))
	return req
}

func (b *bundle) request(clientID string) *store.AsyncRequest {
	return &store.AsyncRequest{
		RequestID:    store.ScopedID(b.owner.TenantID, b.owner.UserID, clientID),
		ClientID:     clientID,
		ConnectionID: "conn-1",
		Action:       "generate_report",
		Payload:      json.RawMessage(`{"pages":3,"title":"<q&a>"}`),
		UserID:       b.owner.UserID,
		TenantID:     b.owner.TenantID,
	}
}

// claimed enqueues a request and claims it for owner "worker-1" for a minute.
func (b *bundle) claimed(t *testing.T, clientID string) *store.AsyncRequest {
	t.Helper()
	req := b.enqueue(t, clientID)
	now := time.Now()
	got, err := b.q.Claim(b.ctx, req.RequestID, "worker-1", now, now.Add(time.Minute))
	require.NoError(t, err)
	return got
}

// get reads a request that must exist.
func (b *bundle) get(t *testing.T, requestID string) *store.AsyncRequest {
	t.Helper()
	got, err := b.q.Get(b.ctx, requestID)
	require.NoError(t, err)
	return got
}

var (
	errCancelled = json.RawMessage(`{"code":"CANCELLED","message":"cancelled by the client"}`)
	errRetry     = json.RawMessage(`{"code":"SERVICE_UNAVAILABLE","message":"try again","retry":{"retryable":true}}`)
	resultOK     = json.RawMessage(`{"url":"https://example.com/r.pdf","pages":3}`)
)

var requestTests = map[string]func(t *testing.T, b *bundle){
	"EnqueueSetsDefaults": func(t *testing.T, b *bundle) {
		before := time.Now()
		req := b.enqueue(t, "a")
		after := time.Now()
		require.Equal(t, store.StatusPending, req.Status)
		require.Equal(t, 1, req.Attempt)
		require.Equal(t, contract.DefaultMaxAttempts, req.MaxAttempts)
		require.WithinRange(t, req.CreatedAt, before.Add(-time.Millisecond), after.Add(time.Millisecond))
		require.Equal(t, req.CreatedAt, req.UpdatedAt)
		require.GreaterOrEqual(t, req.TTL, before.Add(contract.RequestTTL).Unix())
		require.LessOrEqual(t, req.TTL, after.Add(contract.RequestTTL).Unix())
		require.Equal(t, req, b.get(t, req.RequestID), "Get returns the request as Enqueue stored it")
	},
	"EnqueueKeepsGivenValues": func(t *testing.T, b *bundle) {
		req := b.request("a")
		req.Status = store.StatusCompleted // ignored: a new request is PENDING
		req.MaxAttempts = 5
		req.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		require.NoError(t, b.q.Enqueue(b.ctx, req))
		got := b.get(t, req.RequestID)
		require.Equal(t, store.StatusPending, got.Status)
		require.Equal(t, 5, got.MaxAttempts)
		require.Equal(t, req.CreatedAt, got.CreatedAt)
	},
	"EnqueueIsIdempotent": func(t *testing.T, b *bundle) {
		first := b.enqueue(t, "a")
		again := b.request("a")
		again.Payload = json.RawMessage(`{"other":true}`)
		err := b.q.Enqueue(b.ctx, again)
		require.ErrorIs(t, err, store.ErrDuplicate)
		var dup *store.DuplicateError
		require.ErrorAs(t, err, &dup)
		require.Equal(t, first, dup.Existing, "the duplicate error holds the stored request")
		require.Equal(t, first, b.get(t, first.RequestID), "the stored request is unchanged")
	},
	"EnqueueReplacesExpired": func(t *testing.T, b *bundle) {
		old := b.request("a")
		old.TTL = time.Now().Add(-time.Hour).Unix()
		require.NoError(t, b.q.Enqueue(b.ctx, old))
		fresh := b.request("a")
		fresh.Payload = json.RawMessage(`{"fresh":true}`)
		require.NoError(t, b.q.Enqueue(b.ctx, fresh), "an expired request does not block its id")
		require.JSONEq(t, `{"fresh":true}`, string(b.get(t, fresh.RequestID).Payload))
	},
	"EnqueueNeedsID": func(t *testing.T, b *bundle) {
		require.Error(t, b.q.Enqueue(b.ctx, &store.AsyncRequest{}))
	},
	"ScopedIDsDoNotMeet": func(t *testing.T, b *bundle) {
		other := &bundle{ctx: b.ctx, q: b.q, owner: store.Owner{TenantID: b.owner.TenantID + "-other", UserID: b.owner.UserID}}
		mine := b.enqueue(t, "same")
		theirs := other.request("same")
		theirs.Payload = json.RawMessage(`{"theirs":true}`)
		require.NoError(t, other.q.Enqueue(b.ctx, theirs), "another tenant may use the same client id")
		require.Equal(t, mine, b.get(t, mine.RequestID))
		require.JSONEq(t, `{"theirs":true}`, string(b.get(t, theirs.RequestID).Payload))
	},
	"OwnerMethodsRefuseOthers": func(t *testing.T, b *bundle) {
		b.enqueue(t, "a")
		for _, o := range []store.Owner{
			{TenantID: b.owner.TenantID + "x", UserID: b.owner.UserID},
			{TenantID: b.owner.TenantID, UserID: b.owner.UserID + "x"},
			{},
		} {
			_, err := b.q.Rebind(b.ctx, o, "a", "conn-2")
			require.ErrorIs(t, err, store.ErrNotFound)
			_, _, err = b.q.RequestCancel(b.ctx, o, "a", errCancelled)
			require.ErrorIs(t, err, store.ErrNotFound)
		}
		require.Equal(t, store.StatusPending, b.get(t, store.ScopedID(b.owner.TenantID, b.owner.UserID, "a")).Status)
	},
	"OwnerMustMatchStoredOwner": func(t *testing.T, b *bundle) {
		// An id in the owner's scope that holds someone else's request is not the owner's.
		req := b.request("a")
		req.UserID = "intruder"
		require.NoError(t, b.q.Enqueue(b.ctx, req))
		_, err := b.q.Rebind(b.ctx, b.owner, "a", "conn-2")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, _, err = b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Equal(t, req, b.get(t, req.RequestID), "nothing changed")
	},
	"MissingIsNotFound": func(t *testing.T, b *bundle) {
		id := store.ScopedID(b.owner.TenantID, b.owner.UserID, "missing")
		now := time.Now()
		_, err := b.q.Get(b.ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.q.Claim(b.ctx, id, "worker-1", now, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.q.Checkpoint(b.ctx, id, "worker-1", store.ProgressState{}, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.q.Continue(b.ctx, id, "worker-1", store.ProgressState{})
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, b.q.UpdateStatus(b.ctx, id, store.StatusFailed, ""), store.ErrNotFound)
		require.ErrorIs(t, b.q.FailRequest(b.ctx, id, "boom"), store.ErrNotFound)
		_, err = b.q.Rebind(b.ctx, b.owner, "missing", "conn-2")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, _, err = b.q.RequestCancel(b.ctx, b.owner, "missing", errCancelled)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"ExpiredIsIgnored": func(t *testing.T, b *bundle) {
		req := b.request("a")
		req.TTL = time.Now().Add(-time.Second).Unix()
		require.NoError(t, b.q.Enqueue(b.ctx, req))
		now := time.Now()
		_, err := b.q.Get(b.ctx, req.RequestID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.q.Claim(b.ctx, req.RequestID, "worker-1", now, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound, "an expired request is not claimed")
		_, _, err = b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"ClaimFromPending": func(t *testing.T, b *bundle) {
		req := b.enqueue(t, "a")
		now := time.Now()
		lease := now.Add(time.Minute)
		got, err := b.q.Claim(b.ctx, req.RequestID, "worker-1", now, lease)
		require.NoError(t, err)
		require.Equal(t, store.StatusProcessing, got.Status)
		require.Equal(t, "worker-1", got.LeaseOwner)
		require.True(t, got.LeaseUntil.Equal(lease))
		require.True(t, got.StartedAt.Equal(now))
		require.Equal(t, 1, got.Attempt)
		require.Equal(t, req.Payload, got.Payload)
		require.Equal(t, got, b.get(t, req.RequestID), "Claim returns the request as stored")
	},
	"DoubleClaimConflicts": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		now := time.Now()
		_, err := b.q.Claim(b.ctx, req.RequestID, "worker-2", now, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = b.q.Claim(b.ctx, req.RequestID, "worker-1", now, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrConflict, "a live lease is not claimable, not even by its holder")
		require.Equal(t, "worker-1", b.get(t, req.RequestID).LeaseOwner)
	},
	"ReclaimAfterLeaseExpiry": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a") // lease until now+1m
		later := time.Now().Add(2 * time.Minute)
		got, err := b.q.Claim(b.ctx, req.RequestID, "worker-2", later, later.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, "worker-2", got.LeaseOwner)
		require.Equal(t, 1, got.Attempt, "a reclaim does not use up an attempt")
		_, err = b.q.Checkpoint(b.ctx, req.RequestID, "worker-1", store.ProgressState{Percentage: 50}, later.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrConflict, "the first worker lost its lease")
		_, err = b.q.Finish(b.ctx, req.RequestID, "worker-1", store.StatusCompleted, store.ProgressState{}, resultOK, nil)
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = b.q.Release(b.ctx, req.RequestID, "worker-1", errRetry)
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = b.q.Continue(b.ctx, req.RequestID, "worker-1", store.ProgressState{Checkpoint: stateAt(1)})
		require.ErrorIs(t, err, store.ErrConflict)
		require.Equal(t, got, b.get(t, req.RequestID))
	},
	"CheckpointPersistsAndExtends": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		lease := time.Now().Add(5 * time.Minute)
		got, err := b.q.Checkpoint(b.ctx, req.RequestID, "worker-1",
			store.ProgressState{Percentage: 42.5, Message: "page 2", Metadata: map[string]any{"page": 2}}, lease)
		require.NoError(t, err)
		require.Equal(t, 42.5, got.Progress)
		require.Equal(t, "page 2", got.ProgressMessage)
		require.JSONEq(t, `{"page":2}`, string(got.ProgressMetadata))
		require.True(t, got.LeaseUntil.Equal(lease))
		require.False(t, got.CancelRequested)
		require.Equal(t, got, b.get(t, req.RequestID))
	},
	"CheckpointSeesCancelAndRebind": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		c, cancelled, err := b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.NoError(t, err)
		require.False(t, cancelled, "a running request is not cancelled by the call")
		require.Equal(t, store.StatusProcessing, c.Status, "a running request is flagged, not cancelled")
		require.True(t, c.CancelRequested)
		r, err := b.q.Rebind(b.ctx, b.owner, "a", "conn-2")
		require.NoError(t, err)
		require.Equal(t, "conn-2", r.ConnectionID)
		got, err := b.q.Checkpoint(b.ctx, req.RequestID, "worker-1", store.ProgressState{Percentage: 10}, time.Now().Add(time.Minute))
		require.NoError(t, err)
		require.True(t, got.CancelRequested, "the worker learns of the cancel at its checkpoint")
		require.Equal(t, "conn-2", got.ConnectionID, "and of the client's new connection")
		again, cancelled, err := b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.NoError(t, err)
		require.False(t, cancelled)
		require.Equal(t, got, again, "a second cancel changes nothing")
	},
	"FinishEndsTheRequest": func(t *testing.T, b *bundle) {
		for _, tc := range []struct {
			status  store.RequestStatus
			result  json.RawMessage
			errJSON json.RawMessage
		}{
			{store.StatusCompleted, resultOK, nil},
			{store.StatusFailed, nil, json.RawMessage(`{"code":"INTERNAL_ERROR","message":"boom"}`)},
			{store.StatusCancelled, nil, errCancelled},
		} {
			req := b.claimed(t, string(tc.status))
			p := store.ProgressState{Percentage: 100, Message: "done"}
			got, err := b.q.Finish(b.ctx, req.RequestID, "worker-1", tc.status, p, tc.result, tc.errJSON)
			require.NoError(t, err)
			require.Equal(t, tc.status, got.Status)
			require.Equal(t, tc.result, got.Result)
			require.Equal(t, tc.errJSON, got.Error)
			require.Equal(t, 100.0, got.Progress)
			require.Equal(t, "done", got.ProgressMessage)
			require.False(t, got.EndedAt.IsZero())
			require.Equal(t, got, b.get(t, req.RequestID))
			requireTerminalNeverChanges(t, b, got)
		}
	},
	"FinishNeedsTerminalStatus": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		_, err := b.q.Finish(b.ctx, req.RequestID, "worker-1", store.StatusPending, store.ProgressState{}, nil, nil)
		require.Error(t, err)
		require.Equal(t, store.StatusProcessing, b.get(t, req.RequestID).Status)
	},
	"ReleaseRequeues": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		got, err := b.q.Release(b.ctx, req.RequestID, "worker-1", errRetry)
		require.NoError(t, err)
		require.Equal(t, store.StatusPending, got.Status)
		require.Equal(t, 2, got.Attempt)
		require.Empty(t, got.LeaseOwner)
		require.True(t, got.LeaseUntil.IsZero())
		require.JSONEq(t, string(errRetry), string(got.Error))
		require.Equal(t, got, b.get(t, req.RequestID))
		_, err = b.q.Release(b.ctx, req.RequestID, "worker-1", errRetry)
		require.ErrorIs(t, err, store.ErrConflict, "a released request is no longer held")
		now := time.Now()
		again, err := b.q.Claim(b.ctx, req.RequestID, "worker-2", now, now.Add(time.Minute))
		require.NoError(t, err, "a released request is claimable")
		require.Equal(t, 2, again.Attempt)
	},
	"CheckpointStoresTheHandlersState": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		lease := time.Now().Add(time.Minute)
		got, err := b.q.Checkpoint(b.ctx, req.RequestID, "worker-1", store.ProgressState{Percentage: 20, Checkpoint: stateAt(4)}, lease)
		require.NoError(t, err)
		require.JSONEq(t, string(stateAt(4)), string(got.Checkpoint))
		got, err = b.q.Checkpoint(b.ctx, req.RequestID, "worker-1", store.ProgressState{Percentage: 30}, lease)
		require.NoError(t, err)
		require.JSONEq(t, string(stateAt(4)), string(got.Checkpoint), "a progress write without a checkpoint keeps the stored one")
		require.Equal(t, got, b.get(t, req.RequestID))
	},
	"ContinueHandsOnWithoutAnAttempt": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		_, _, err := b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.NoError(t, err)
		p := store.ProgressState{Percentage: 40, Message: "step 8", Metadata: map[string]any{"step": 8}, Checkpoint: stateAt(8)}
		got, err := b.q.Continue(b.ctx, req.RequestID, "worker-1", p)
		require.NoError(t, err)
		require.Equal(t, store.StatusPending, got.Status)
		require.Equal(t, 1, got.Attempt, "a continuation uses no attempt")
		require.Equal(t, 1, got.Continuations)
		require.Empty(t, got.LeaseOwner)
		require.True(t, got.LeaseUntil.IsZero())
		require.Empty(t, got.Error, "a continuation is not a failure")
		require.Equal(t, 40.0, got.Progress)
		require.Equal(t, "step 8", got.ProgressMessage)
		require.JSONEq(t, `{"step":8}`, string(got.ProgressMetadata))
		require.JSONEq(t, string(stateAt(8)), string(got.Checkpoint))
		require.True(t, got.CancelRequested, "a cancel requested meanwhile stays for the next invocation")
		require.Equal(t, got, b.get(t, req.RequestID))

		_, err = b.q.Continue(b.ctx, req.RequestID, "worker-1", p)
		require.ErrorIs(t, err, store.ErrConflict, "a continued request is no longer held")
		now := time.Now()
		next, err := b.q.Claim(b.ctx, req.RequestID, "worker-2", now, now.Add(time.Minute))
		require.NoError(t, err, "the next invocation claims it")
		require.JSONEq(t, string(stateAt(8)), string(next.Checkpoint), "and resumes from the checkpoint")
		again, err := b.q.Continue(b.ctx, req.RequestID, "worker-2", store.ProgressState{Percentage: 70})
		require.NoError(t, err)
		require.Equal(t, 2, again.Continuations)
		require.JSONEq(t, string(stateAt(8)), string(again.Checkpoint), "a continuation without a new checkpoint keeps the stored one")
	},
	"ReleaseKeepsAndFinishRemovesTheCheckpoint": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		_, err := b.q.Checkpoint(b.ctx, req.RequestID, "worker-1", store.ProgressState{Checkpoint: stateAt(3)}, time.Now().Add(time.Minute))
		require.NoError(t, err)
		released, err := b.q.Release(b.ctx, req.RequestID, "worker-1", errRetry)
		require.NoError(t, err)
		require.JSONEq(t, string(stateAt(3)), string(released.Checkpoint), "a retry resumes from the checkpoint")
		now := time.Now()
		_, err = b.q.Claim(b.ctx, req.RequestID, "worker-2", now, now.Add(time.Minute))
		require.NoError(t, err)
		done, err := b.q.Finish(b.ctx, req.RequestID, "worker-2", store.StatusCompleted, store.ProgressState{Percentage: 100, Checkpoint: stateAt(9)}, resultOK, nil)
		require.NoError(t, err)
		require.Empty(t, done.Checkpoint, "a finished request has nothing to resume")
		require.Equal(t, done, b.get(t, req.RequestID))
	},
	"CheckpointTooLarge": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		_, err := b.q.Checkpoint(b.ctx, req.RequestID, "worker-1", store.ProgressState{Checkpoint: bigJSON(contract.MaxItemBytes)}, time.Now().Add(time.Minute))
		require.ErrorIs(t, err, store.ErrTooLarge)
		_, err = b.q.Continue(b.ctx, req.RequestID, "worker-1", store.ProgressState{Checkpoint: bigJSON(contract.MaxItemBytes)})
		require.ErrorIs(t, err, store.ErrTooLarge)
		require.Equal(t, req, b.get(t, req.RequestID), "nothing changed")
	},
	"CancelPending": func(t *testing.T, b *bundle) {
		req := b.enqueue(t, "a")
		got, cancelled, err := b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.NoError(t, err)
		require.True(t, cancelled, "this call ended the pending request")
		require.Equal(t, store.StatusCancelled, got.Status)
		require.JSONEq(t, string(errCancelled), string(got.Error))
		require.False(t, got.EndedAt.IsZero())
		require.Equal(t, got, b.get(t, req.RequestID))
		now := time.Now()
		_, err = b.q.Claim(b.ctx, req.RequestID, "worker-1", now, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrConflict, "a cancelled request is not claimed")
		requireTerminalNeverChanges(t, b, got)
	},
	"CancelAfterRelease": func(t *testing.T, b *bundle) {
		// A cancel that came while an attempt ran stays on the request when the worker
		// releases it; the next claimer sees it, and a new cancel ends it at once.
		req := b.claimed(t, "a")
		_, _, err := b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.NoError(t, err)
		released, err := b.q.Release(b.ctx, req.RequestID, "worker-1", errRetry)
		require.NoError(t, err)
		require.True(t, released.CancelRequested)
		got, cancelled, err := b.q.RequestCancel(b.ctx, b.owner, "a", errCancelled)
		require.NoError(t, err)
		require.True(t, cancelled)
		require.Equal(t, store.StatusCancelled, got.Status)

		other := b.claimed(t, "b")
		_, _, err = b.q.RequestCancel(b.ctx, b.owner, "b", errCancelled)
		require.NoError(t, err)
		_, err = b.q.Release(b.ctx, other.RequestID, "worker-1", errRetry)
		require.NoError(t, err)
		now := time.Now()
		reclaimed, err := b.q.Claim(b.ctx, other.RequestID, "worker-2", now, now.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, reclaimed.CancelRequested, "the next worker learns of the cancel from its claim")
	},
	"EmptyLeaseOwnerIsRefused": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		now := time.Now()
		_, err := b.q.Claim(b.ctx, b.enqueue(t, "b").RequestID, "", now, now.Add(time.Minute))
		require.Error(t, err)
		_, err = b.q.Checkpoint(b.ctx, req.RequestID, "", store.ProgressState{}, now.Add(time.Minute))
		require.Error(t, err)
		_, err = b.q.Finish(b.ctx, req.RequestID, "", store.StatusCompleted, store.ProgressState{}, resultOK, nil)
		require.Error(t, err)
		_, err = b.q.Release(b.ctx, req.RequestID, "", errRetry)
		require.Error(t, err)
		_, err = b.q.Continue(b.ctx, req.RequestID, "", store.ProgressState{})
		require.Error(t, err)
		require.Equal(t, req, b.get(t, req.RequestID))
	},
	"RebindPending": func(t *testing.T, b *bundle) {
		req := b.enqueue(t, "a")
		got, err := b.q.Rebind(b.ctx, b.owner, "a", "conn-2")
		require.NoError(t, err)
		require.Equal(t, "conn-2", got.ConnectionID)
		require.Equal(t, store.StatusPending, got.Status)
		require.Equal(t, got, b.get(t, req.RequestID))
	},
	"RequestQueueMethods": func(t *testing.T, b *bundle) {
		req := b.enqueue(t, "a")
		require.ErrorIs(t, b.q.UpdateProgress(b.ctx, req.RequestID, 10, "x", nil), store.ErrConflict, "no progress before a claim")
		require.ErrorIs(t, b.q.CompleteRequest(b.ctx, req.RequestID, map[string]any{"ok": true}), store.ErrConflict)
		b.claimed(t, "b")
		id := store.ScopedID(b.owner.TenantID, b.owner.UserID, "b")
		require.NoError(t, b.q.UpdateProgress(b.ctx, id, 60, "almost", map[string]any{"step": "render"}))
		got := b.get(t, id)
		require.Equal(t, 60.0, got.Progress)
		require.Equal(t, "almost", got.ProgressMessage)
		require.JSONEq(t, `{"step":"render"}`, string(got.ProgressMetadata))
		require.NoError(t, b.q.CompleteRequest(b.ctx, id, map[string]any{"url": "https://example.com/r.pdf"}))
		got = b.get(t, id)
		require.Equal(t, store.StatusCompleted, got.Status)
		require.Equal(t, 100.0, got.Progress)
		require.JSONEq(t, `{"url":"https://example.com/r.pdf"}`, string(got.Result))
		requireTerminalNeverChanges(t, b, got)

		require.NoError(t, b.q.FailRequest(b.ctx, req.RequestID, "bad input"), "a PENDING request can fail")
		got = b.get(t, req.RequestID)
		require.Equal(t, store.StatusFailed, got.Status)
		require.JSONEq(t, `{"code":"INTERNAL_ERROR","message":"bad input"}`, string(got.Error))
		requireTerminalNeverChanges(t, b, got)

		b.enqueue(t, "c")
		id = store.ScopedID(b.owner.TenantID, b.owner.UserID, "c")
		require.Error(t, b.q.UpdateStatus(b.ctx, id, "BOGUS", ""))
		require.NoError(t, b.q.UpdateStatus(b.ctx, id, store.StatusCancelled, "by an operator"))
		got = b.get(t, id)
		require.Equal(t, store.StatusCancelled, got.Status)
		require.Equal(t, "by an operator", got.ProgressMessage)
		requireTerminalNeverChanges(t, b, got)
	},
	"PayloadTooLarge": func(t *testing.T, b *bundle) {
		req := b.request("a")
		req.Payload = bigJSON(contract.MaxItemBytes)
		require.ErrorIs(t, b.q.Enqueue(b.ctx, req), store.ErrTooLarge)
		_, err := b.q.Get(b.ctx, req.RequestID)
		require.ErrorIs(t, err, store.ErrNotFound, "nothing was stored")
	},
	"ResultTooLarge": func(t *testing.T, b *bundle) {
		req := b.claimed(t, "a")
		_, err := b.q.Finish(b.ctx, req.RequestID, "worker-1", store.StatusCompleted, store.ProgressState{}, bigJSON(contract.MaxItemBytes), nil)
		require.ErrorIs(t, err, store.ErrTooLarge)
		require.Equal(t, req, b.get(t, req.RequestID), "the request is unchanged and can still be failed")
		_, err = b.q.Finish(b.ctx, req.RequestID, "worker-1", store.StatusFailed, store.ProgressState{}, nil,
			json.RawMessage(`{"code":"PAYLOAD_TOO_LARGE","message":"result over 400 KB"}`))
		require.NoError(t, err)
	},
	"ResultTooLargeWithPayload": func(t *testing.T, b *bundle) {
		// Payload and result each fit, together they do not: the whole item counts.
		req := b.request("a")
		req.Payload = bigJSON(contract.MaxItemBytes / 2)
		require.NoError(t, b.q.Enqueue(b.ctx, req))
		now := time.Now()
		_, err := b.q.Claim(b.ctx, req.RequestID, "worker-1", now, now.Add(time.Minute))
		require.NoError(t, err)
		_, err = b.q.Finish(b.ctx, req.RequestID, "worker-1", store.StatusCompleted, store.ProgressState{}, bigJSON(contract.MaxItemBytes*3/5), nil)
		require.ErrorIs(t, err, store.ErrTooLarge)
		require.Equal(t, store.StatusProcessing, b.get(t, req.RequestID).Status)
	},
	"ConcurrentClaimsOneWins": func(t *testing.T, b *bundle) {
		const workers = 16
		req := b.enqueue(t, "a")
		now := time.Now()
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			winners   []string
			conflicts int
		)
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				owner := fmt.Sprintf("worker-%d", i)
				_, err := b.q.Claim(b.ctx, req.RequestID, owner, now, now.Add(time.Minute))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, owner)
				case errors.Is(err, store.ErrConflict):
					conflicts++
				default:
					t.Errorf("claim by %s: %v", owner, err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Len(t, winners, 1, "exactly one claim wins")
		require.Equal(t, workers-1, conflicts)
		require.Equal(t, winners[0], b.get(t, req.RequestID).LeaseOwner)
	},
}

// requireTerminalNeverChanges tries every write on a terminal request and checks that
// none changes it.
func requireTerminalNeverChanges(t *testing.T, b *bundle, final *store.AsyncRequest) {
	t.Helper()
	id := final.RequestID
	now := time.Now().Add(time.Hour) // even with every lease long expired
	owner := store.Owner{TenantID: final.TenantID, UserID: final.UserID}
	holder := cmp.Or(final.LeaseOwner, "worker-1") // the last holder, if there was one
	_, err := b.q.Claim(b.ctx, id, "worker-9", now, now.Add(time.Minute))
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = b.q.Checkpoint(b.ctx, id, holder, store.ProgressState{Percentage: 1}, now)
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = b.q.Finish(b.ctx, id, holder, store.StatusCompleted, store.ProgressState{}, resultOK, nil)
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = b.q.Release(b.ctx, id, holder, errRetry)
	require.ErrorIs(t, err, store.ErrConflict)
	_, err = b.q.Continue(b.ctx, id, holder, store.ProgressState{Checkpoint: stateAt(1)})
	require.ErrorIs(t, err, store.ErrConflict)
	require.ErrorIs(t, b.q.UpdateStatus(b.ctx, id, store.StatusPending, "again"), store.ErrConflict)
	require.ErrorIs(t, b.q.UpdateProgress(b.ctx, id, 1, "again", nil), store.ErrConflict)
	require.ErrorIs(t, b.q.CompleteRequest(b.ctx, id, map[string]any{"again": true}), store.ErrConflict)
	require.ErrorIs(t, b.q.FailRequest(b.ctx, id, "again"), store.ErrConflict)
	got, cancelled, err := b.q.RequestCancel(b.ctx, owner, final.ClientID, errCancelled)
	require.NoError(t, err)
	require.False(t, cancelled, "a terminal request is not cancelled again")
	require.Equal(t, final, got, "cancel returns a terminal request unchanged")
	got, err = b.q.Rebind(b.ctx, owner, final.ClientID, "conn-9")
	require.NoError(t, err)
	require.Equal(t, final, got, "rebind returns a terminal request unchanged")
	_, _, err = b.q.Redrive(b.ctx, id, now, errRetry)
	require.ErrorIs(t, err, store.ErrConflict, "a finished request is never re-driven")
	require.Equal(t, final, b.get(t, id))
}

var connectionTests = map[string]func(t *testing.T, s Stores, id string){
	"SaveAndDelete": func(t *testing.T, s Stores, id string) {
		ctx := t.Context()
		c := s.Connections
		before := time.Now()
		conn := &store.Connection{ConnectionID: "c-" + id, UserID: "u-" + id, TenantID: "t-" + id,
			Endpoint: "https://example.com/prod", Metadata: map[string]string{"agent": "test"}}
		require.NoError(t, c.Save(ctx, conn))
		after := time.Now()
		require.WithinRange(t, conn.ConnectedAt, before.Add(-time.Millisecond), after.Add(time.Millisecond))
		require.Equal(t, conn.ConnectedAt, conn.LastSeen)
		require.GreaterOrEqual(t, conn.TTL, before.Add(contract.ConnectionTTL).Unix())
		require.LessOrEqual(t, conn.TTL, after.Add(contract.ConnectionTTL).Unix())
		got, err := s.LoadConnection(ctx, conn.ConnectionID)
		require.NoError(t, err)
		require.Equal(t, conn, got, "the record is stored as Save returned it")

		conn.Endpoint = "https://example.com/dev"
		require.NoError(t, c.Save(ctx, conn), "Save replaces")
		got, err = s.LoadConnection(ctx, conn.ConnectionID)
		require.NoError(t, err)
		require.Equal(t, "https://example.com/dev", got.Endpoint)

		require.NoError(t, c.Delete(ctx, conn.ConnectionID))
		_, err = s.LoadConnection(ctx, conn.ConnectionID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, c.Delete(ctx, conn.ConnectionID), "deleting a missing record is not an error")
		require.Error(t, c.Save(ctx, &store.Connection{}), "a connection needs an id")
	},
	"SaveKeepsGivenValues": func(t *testing.T, s Stores, id string) {
		ctx := t.Context()
		connected := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
		conn := &store.Connection{ConnectionID: "c-" + id, UserID: "u-" + id, TenantID: "t-" + id,
			ConnectedAt: connected, LastSeen: connected.Add(time.Minute),
			TTL: time.Now().Add(-time.Second).Unix(), Metadata: map[string]string{}}
		require.NoError(t, s.Connections.Save(ctx, conn))
		require.Equal(t, connected.UTC(), conn.ConnectedAt, "times are stored in UTC")
		require.Nil(t, conn.Metadata, "empty metadata is not stored")
		got, err := s.LoadConnection(ctx, conn.ConnectionID)
		require.NoError(t, err, "an expired TTL is stored as given (deleting it is DynamoDB's TTL's job)")
		require.Equal(t, conn, got)
		require.NoError(t, s.Connections.Delete(ctx, conn.ConnectionID), "an expired record can be deleted")
		_, err = s.LoadConnection(ctx, conn.ConnectionID)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
}

// bigJSON returns a JSON string value of n bytes.
func bigJSON(n int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)
}

// uniqueID returns a random id, so subtests sharing a store never meet.
// stateAt is a handler's checkpoint after step n.
func stateAt(n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"next_step":%d,"total":"<&>"}`, n))
}

func uniqueID() string { return rand.Text()[:12] }
