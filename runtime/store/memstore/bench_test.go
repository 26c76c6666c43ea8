package memstore_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
)

// benchRequest is a queued request as the router enqueues it.
func benchRequest(i int) *store.AsyncRequest {
	id := strconv.Itoa(i)
	return &store.AsyncRequest{
		RequestID:    store.ScopedID("acme", "user-7", "r-"+id),
		ClientID:     "r-" + id,
		ConnectionID: "conn-1",
		Status:       store.StatusPending,
		Action:       "generate_report",
		Payload:      json.RawMessage(`{"start_date":"2026-01-01","end_date":"2026-01-31"}`),
		UserID:       "user-7",
		TenantID:     "acme",
	}
}

// enqueued returns a store holding n pending requests, with a feed large enough to keep
// every record of the benchmark.
func enqueued(b *testing.B, n int) (*memstore.Store, []*store.AsyncRequest) {
	b.Helper()
	s := memstore.New(memstore.Options{FeedMaxRecords: 1 << 20})
	reqs := make([]*store.AsyncRequest, n)
	for i := range reqs {
		reqs[i] = benchRequest(i)
		if err := s.Requests().Enqueue(context.Background(), reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	return s, reqs
}

// BenchmarkEnqueue measures the router's write of a new async request (with its feed
// record).
func BenchmarkEnqueue(b *testing.B) {
	s := memstore.New(memstore.Options{FeedMaxRecords: 1 << 20})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Requests().Enqueue(ctx, benchRequest(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLifecycle measures the worker's writes of one request: claim, one progress
// checkpoint, finish.
func BenchmarkLifecycle(b *testing.B) {
	s, _ := enqueued(b, 0)
	ctx := context.Background()
	now := time.Now()
	lease := now.Add(time.Minute)
	result := json.RawMessage(`{"days":31,"pages":1}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		req := benchRequest(i)
		if err := s.Requests().Enqueue(ctx, req); err != nil {
			b.Fatal(err)
		}
		i++
		b.StartTimer()
		if _, err := s.Requests().Claim(ctx, req.RequestID, "worker", now, lease); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Requests().Checkpoint(ctx, req.RequestID, "worker", store.ProgressState{Percentage: 50, Message: "half"}, lease); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Requests().Finish(ctx, req.RequestID, "worker", store.StatusCompleted, store.ProgressState{Percentage: 100}, result, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures the worker's read of a request among 1,000.
func BenchmarkGet(b *testing.B) {
	s, reqs := enqueued(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Requests().Get(ctx, reqs[i%len(reqs)].RequestID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkConnectionSaveDelete measures $connect's write and $disconnect's delete of a
// connection record.
func BenchmarkConnectionSaveDelete(b *testing.B) {
	s := memstore.New(memstore.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := "conn-" + strconv.Itoa(i%1000)
		if err := s.Connections().Save(ctx, &store.Connection{ConnectionID: id, UserID: "user-7", TenantID: "acme", ConnectedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if err := s.Connections().Delete(ctx, id); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFeedRead measures the stream poller's read of a batch of 100 records.
func BenchmarkFeedRead(b *testing.B) {
	s, _ := enqueued(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.Feed().Read(ctx, "", 100)
		if err != nil || len(recs) != 100 {
			b.Fatalf("read %d records: %v", len(recs), err)
		}
	}
}
