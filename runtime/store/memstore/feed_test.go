package memstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/internal/clocktest"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
)

func enqueue(t *testing.T, q store.RequestQueue, clientID string) *store.AsyncRequest {
	t.Helper()
	req := &store.AsyncRequest{
		RequestID: store.ScopedID("t", "u", clientID), ClientID: clientID, Action: "echo",
		Payload: json.RawMessage(`{"n":1}`), UserID: "u", TenantID: "t",
	}
	require.NoError(t, q.Enqueue(t.Context(), req))
	return req
}

func TestFeedRecordsEveryRequestWrite(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := memstore.New(memstore.Options{Now: clk.Now, Region: "eu-west-1"})
	ctx := t.Context()
	q := s.Requests()

	req := enqueue(t, q, "a")
	require.ErrorIs(t, q.Enqueue(ctx, &store.AsyncRequest{RequestID: req.RequestID}), store.ErrDuplicate)
	claimed, err := q.Claim(ctx, req.RequestID, "w1", clk.Now(), clk.Now().Add(time.Minute))
	require.NoError(t, err)
	_, err = q.Claim(ctx, req.RequestID, "w2", clk.Now(), clk.Now().Add(time.Minute))
	require.ErrorIs(t, err, store.ErrConflict)
	require.NoError(t, s.Connections().Save(ctx, &store.Connection{ConnectionID: "c1", UserID: "u", TenantID: "t"}))
	done, err := q.Finish(ctx, req.RequestID, "w1", store.StatusCompleted, store.ProgressState{Percentage: 100}, json.RawMessage(`{}`), nil)
	require.NoError(t, err)

	recs, err := s.Feed().Read(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 3, "failed writes and connection writes leave no record")
	for i, want := range []struct {
		event string
		req   *store.AsyncRequest
	}{{"INSERT", req}, {"MODIFY", claimed}, {"MODIFY", done}} {
		rec := recs[i]
		require.Equal(t, want.event, rec.EventName)
		require.Equal(t, "aws:dynamodb", rec.EventSource)
		require.Equal(t, "eu-west-1", rec.AWSRegion)
		require.Equal(t, "NEW_IMAGE", rec.Change.StreamViewType)
		require.Equal(t, fmt.Sprintf("%021d", i+1), rec.Change.SequenceNumber)
		require.Equal(t, req.RequestID, rec.Change.Keys[contract.AttrRequestID].String())
		require.Equal(t, clk.Now(), rec.Change.ApproximateCreationDateTime.Time)
		require.Positive(t, rec.Change.SizeBytes)
		require.Nil(t, rec.UserIdentity)
		got, err := store.DecodeImage(rec.Change.NewImage)
		require.NoError(t, err)
		require.Equal(t, want.req, got)
	}
	require.Equal(t, recs[2].Change.SequenceNumber, s.Feed().Latest())

	page, err := s.Feed().Read(ctx, recs[0].Change.SequenceNumber, 1)
	require.NoError(t, err)
	require.Equal(t, recs[1:2], page, "reads resume after the checkpoint, max at a time")

	page[0].Change.NewImage[contract.AttrStatus] = events.NewStringAttribute("MINE")
	again, err := s.Feed().Read(ctx, recs[0].Change.SequenceNumber, 1)
	require.NoError(t, err)
	require.Equal(t, recs[1:2], again, "readers get copies")
}

func TestFeedReadWaits(t *testing.T) {
	t.Parallel()
	s := memstore.New(memstore.Options{})
	ctx := t.Context()
	enqueue(t, s.Requests(), "a")
	latest := s.Feed().Latest()

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := s.Feed().Read(short, latest, 10)
	require.ErrorIs(t, err, context.DeadlineExceeded, "nothing new: Read waits until ctx ends")

	notify := s.Feed().Notify()
	got := make(chan []events.DynamoDBEventRecord, 1)
	go func() {
		recs, err := s.Feed().Read(ctx, latest, 10)
		if err != nil {
			t.Errorf("read: %v", err)
		}
		got <- recs
	}()
	enqueue(t, s.Requests(), "b")
	<-notify // closed by the append
	recs := <-got
	require.Len(t, recs, 1)
	require.Equal(t, store.ScopedID("t", "u", "b"), recs[0].Change.Keys[contract.AttrRequestID].String())
}

func TestFeedRetention(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := memstore.New(memstore.Options{Now: clk.Now, FeedMaxRecords: 3, FeedRetention: time.Hour})
	ctx := t.Context()
	for i := range 5 {
		enqueue(t, s.Requests(), fmt.Sprint(i))
	}
	recs, err := s.Feed().Read(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 3, "at most FeedMaxRecords are kept")
	require.Equal(t, fmt.Sprintf("%021d", 3), recs[0].Change.SequenceNumber, "the oldest go first")

	_, err = s.Feed().Read(ctx, fmt.Sprintf("%021d", 1), 10)
	require.ErrorIs(t, err, memstore.ErrTrimmed, "records after the checkpoint were dropped")
	_, err = s.Feed().Read(ctx, fmt.Sprintf("%021d", 2), 10)
	require.NoError(t, err, "nothing after this checkpoint was dropped")
	_, err = s.Feed().Read(ctx, "garbage", 10)
	require.ErrorIs(t, err, memstore.ErrBadSequence)
	_, err = s.Feed().Read(ctx, fmt.Sprintf("%021d", 99), 10)
	require.ErrorIs(t, err, memstore.ErrBadSequence, "a checkpoint from the future")

	clk.Advance(2 * time.Hour)
	enqueue(t, s.Requests(), "late")
	recs, err = s.Feed().Read(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 1, "records older than FeedRetention are dropped")
	require.Equal(t, fmt.Sprintf("%021d", 6), recs[0].Change.SequenceNumber)
}

func TestTTLExpiryWithClock(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := memstore.New(memstore.Options{Now: clk.Now})
	ctx := t.Context()
	req := enqueue(t, s.Requests(), "a")
	require.NoError(t, s.Connections().Save(ctx, &store.Connection{ConnectionID: "c1", UserID: "u", TenantID: "t"}))
	start := s.Feed().Latest()

	clk.Advance(contract.ConnectionTTL)
	conn, err := s.Connections().Load(ctx, "c1")
	require.NoError(t, err)
	require.True(t, conn.Expired(clk.Now()), "a connection lives ConnectionTTL")
	_, err = s.Requests().Get(ctx, req.RequestID)
	require.NoError(t, err, "a request outlives a connection")

	clk.Advance(contract.RequestTTL - contract.ConnectionTTL)
	_, err = s.Requests().Get(ctx, req.RequestID)
	require.ErrorIs(t, err, store.ErrNotFound, "a request lives RequestTTL")

	require.Equal(t, 2, s.PurgeExpired())
	_, err = s.Connections().Load(ctx, "c1")
	require.ErrorIs(t, err, store.ErrNotFound, "the expired connection is deleted too")
	recs, err := s.Feed().Read(ctx, start, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	rec := recs[0]
	require.Equal(t, "REMOVE", rec.EventName)
	require.Nil(t, rec.Change.NewImage)
	require.Equal(t, req.RequestID, rec.Change.Keys[contract.AttrRequestID].String())
	require.Equal(t, &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}, rec.UserIdentity,
		"a TTL delete is marked as the service's")
	require.Zero(t, s.PurgeExpired())
}

func TestSweepOnWrite(t *testing.T) {
	t.Parallel()
	clk := clocktest.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: time.Minute, FeedRetention: 30 * 24 * time.Hour})
	old := enqueue(t, s.Requests(), "old")
	clk.Advance(contract.RequestTTL)
	enqueue(t, s.Requests(), "new") // the write sweeps first
	recs, err := s.Feed().Read(t.Context(), "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"INSERT", "REMOVE", "INSERT"}, []string{recs[0].EventName, recs[1].EventName, recs[2].EventName})
	require.Equal(t, old.RequestID, recs[1].Change.Keys[contract.AttrRequestID].String())
}

func TestCopiesInAndOut(t *testing.T) {
	t.Parallel()
	s := memstore.New(memstore.Options{})
	ctx := t.Context()
	req := enqueue(t, s.Requests(), "a")
	req.Payload[2] = 'X' // the caller's slice
	got, err := s.Requests().Get(ctx, req.RequestID)
	require.NoError(t, err)
	require.JSONEq(t, `{"n":1}`, string(got.Payload))
	got.Payload[2] = 'Y'
	again, err := s.Requests().Get(ctx, req.RequestID)
	require.NoError(t, err)
	require.JSONEq(t, `{"n":1}`, string(again.Payload))

	conn := &store.Connection{ConnectionID: "c1", Metadata: map[string]string{"k": "v"}}
	require.NoError(t, s.Connections().Save(ctx, conn))
	conn.Metadata["k"] = "changed"
	gotConn, err := s.Connections().Load(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, "v", gotConn.Metadata["k"])
}

func TestFeedReadWithDoneContextPolls(t *testing.T) {
	t.Parallel()
	s := memstore.New(memstore.Options{})
	enqueue(t, s.Requests(), "a")
	done, cancel := context.WithCancel(t.Context())
	cancel()
	recs, err := s.Feed().Read(done, "", 10)
	require.NoError(t, err, "records already there are returned")
	require.Len(t, recs, 1)
	_, err = s.Feed().Read(done, recs[0].Change.SequenceNumber, 10)
	require.ErrorIs(t, err, context.Canceled, "and nothing new does not wait")
}
