package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/store"
)

// errGaveUp is the error a re-driver stores on a request it gives up on.
var errGaveUp = json.RawMessage(`{"code":"TIMEOUT","message":"not finished after 3 attempts","retry":{"retryable":true}}`)

// indexWait bounds the wait for the unfinished index, which DynamoDB updates
// asynchronously (usually within a second).
const indexWait = 30 * time.Second

var redriveTests = map[string]func(t *testing.T, b *bundle){
	"RequeuesStalePending": func(t *testing.T, b *bundle) {
		req := b.enqueue(t, "a")
		_, _, err := b.q.Redrive(b.ctx, req.RequestID, req.UpdatedAt, errGaveUp)
		require.ErrorIs(t, err, store.ErrConflict, "written at staleBefore: not stale")

		time.Sleep(2 * time.Millisecond)
		staleBefore := time.Now() // after the enqueue, before the re-drive
		time.Sleep(2 * time.Millisecond)
		got, failed, err := b.q.Redrive(b.ctx, req.RequestID, staleBefore, errGaveUp)
		require.NoError(t, err)
		require.False(t, failed)
		require.Equal(t, store.StatusPending, got.Status)
		require.Equal(t, 2, got.Attempt, "a re-drive uses an attempt, so it is bounded")
		require.True(t, got.UpdatedAt.After(req.UpdatedAt), "the write is a new stream record")
		require.Nil(t, got.Error, "the last error is kept (none here)")
		require.Equal(t, got, b.get(t, req.RequestID))

		_, _, err = b.q.Redrive(b.ctx, req.RequestID, staleBefore, errGaveUp)
		require.ErrorIs(t, err, store.ErrConflict, "the re-driven request is fresh again")
	},
	"TakesOverAnEndedLease": func(t *testing.T, b *bundle) {
		req := b.enqueue(t, "a")
		now := time.Now()
		_, err := b.q.Claim(b.ctx, req.RequestID, "worker-1", now, now.Add(-2*time.Second))
		require.NoError(t, err)
		_, err = b.q.Release(b.ctx, req.RequestID, "worker-1", errRetry)
		require.NoError(t, err, "attempt 2, with a last error")
		now = time.Now()
		_, err = b.q.Claim(b.ctx, req.RequestID, "worker-2", now, now.Add(-2*time.Second))
		require.NoError(t, err, "a worker whose lease ended two seconds ago")

		got, failed, err := b.q.Redrive(b.ctx, req.RequestID, now.Add(-time.Second), errGaveUp)
		require.NoError(t, err)
		require.False(t, failed)
		require.Equal(t, store.StatusPending, got.Status)
		require.Equal(t, 3, got.Attempt)
		require.Empty(t, got.LeaseOwner)
		require.True(t, got.LeaseUntil.IsZero())
		require.JSONEq(t, string(errRetry), string(got.Error), "the last attempt's error stays")

		live := b.claimed(t, "live")
		_, _, err = b.q.Redrive(b.ctx, live.RequestID, time.Now(), errGaveUp)
		require.ErrorIs(t, err, store.ErrConflict, "a live lease is left alone")
		require.Equal(t, live, b.get(t, live.RequestID))
	},
	"FailsAtTheLastAttempt": func(t *testing.T, b *bundle) {
		req := b.request("a")
		req.MaxAttempts = 1
		require.NoError(t, b.q.Enqueue(b.ctx, req))
		got, failed, err := b.q.Redrive(b.ctx, req.RequestID, time.Now().Add(time.Second), errGaveUp)
		require.NoError(t, err)
		require.True(t, failed, "the caller sends the terminal message")
		require.Equal(t, store.StatusFailed, got.Status)
		require.JSONEq(t, string(errGaveUp), string(got.Error))
		require.False(t, got.EndedAt.IsZero())
		requireTerminalNeverChanges(t, b, got)
	},
	"MissingIsNotFound": func(t *testing.T, b *bundle) {
		_, _, err := b.q.Redrive(b.ctx, "t#u#missing-"+uniqueID(), time.Now(), errGaveUp)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"UnfinishedListsRequestsNotFinished": func(t *testing.T, b *bundle) {
		pending := b.enqueue(t, "pending")
		processing := b.claimed(t, "processing")
		done := b.claimed(t, "done")
		_, err := b.q.Finish(b.ctx, done.RequestID, "worker-1", store.StatusCompleted, store.ProgressState{}, resultOK, nil)
		require.NoError(t, err)
		cancelled := b.enqueue(t, "cancelled")
		_, _, err = b.q.RequestCancel(b.ctx, b.owner, "cancelled", errCancelled)
		require.NoError(t, err)
		later := b.request("later")
		later.CreatedAt = time.Now().Add(time.Hour)
		require.NoError(t, b.q.Enqueue(b.ctx, later))

		before := time.Now().Add(time.Minute)
		want := []string{pending.RequestID, processing.RequestID}
		gone := []string{done.RequestID, cancelled.RequestID, later.RequestID}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			ids, err := b.q.Unfinished(b.ctx, before)
			if !assert.NoError(c, err) {
				return
			}
			for _, id := range want {
				assert.Contains(c, ids, id)
			}
			for _, id := range gone {
				assert.NotContains(c, ids, id, "finished, or created after the bound")
			}
		}, indexWait, 100*time.Millisecond)
	},
	"LoadManyReadsStoredRequests": func(t *testing.T, b *bundle) {
		a, c := b.enqueue(t, "a"), b.claimed(t, "c")
		expired := b.request("expired")
		expired.TTL = time.Now().Add(-time.Minute).Unix()
		require.NoError(t, b.q.Enqueue(b.ctx, expired))
		ids := []string{a.RequestID, c.RequestID, expired.RequestID, store.ScopedID(b.owner.TenantID, b.owner.UserID, "missing")}
		got, err := b.q.LoadMany(b.ctx, ids)
		require.NoError(t, err)
		require.Equal(t, map[string]*store.AsyncRequest{a.RequestID: a, c.RequestID: c, expired.RequestID: expired}, got,
			"missing requests are left out; expired ones are there for the caller to judge")

		many := make([]string, 0, 130) // more than one BatchGetItem call takes
		for i := range cap(many) {
			many = append(many, b.enqueue(t, "m"+string(rune('a'+i%26))+uniqueID()).RequestID)
		}
		got, err = b.q.LoadMany(b.ctx, many)
		require.NoError(t, err)
		require.Len(t, got, len(many))
		for _, id := range many {
			require.Contains(t, got, id)
		}
		got, err = b.q.LoadMany(b.ctx, nil)
		require.NoError(t, err)
		require.Empty(t, got)
	},
}
