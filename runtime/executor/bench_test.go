package executor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

type countingSender struct{ n atomic.Int64 }

func (s *countingSender) Send(context.Context, string, any) error {
	s.n.Add(1)
	return nil
}

// BenchmarkWorkerHandle measures one async request end to end on memstore with the
// default intervals: claim, a handler reporting 10 times, finish, terminal message. It
// reports the store writes (stream records) and messages per request.
func BenchmarkWorkerHandle(b *testing.B) {
	s := memstore.New(memstore.Options{FeedMaxRecords: 1 << 24})
	sender := &countingSender{}
	reg := streamer.NewRegistry()
	h := &testHandler{fn: func(_ context.Context, _ int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		for i := range 10 {
			_ = rep.Report(float64(i*10), "working")
		}
		return &streamer.Result{Data: map[string]any{"ok": true}}, nil
	}}
	if err := reg.Handle("job", h); err != nil {
		b.Fatal(err)
	}
	w, err := executor.NewWorker(s.Requests(), reg, sender, executor.Config{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := s.Feed().Latest()
	n := 0
	for b.Loop() {
		id := store.ScopedID(testTenant, testUser, fmt.Sprint("r-", n))
		n++
		err := s.Requests().Enqueue(ctx, &store.AsyncRequest{RequestID: id, ClientID: id, ConnectionID: testConn, Action: "job", UserID: testUser, TenantID: testTenant})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Handle(ctx, executor.WorkerEvent{RequestID: id}); err != nil {
			b.Fatal(err)
		}
	}
	recs, err := s.Feed().Read(ctx, start, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(recs))/float64(n), "writes/req")
	b.ReportMetric(float64(sender.n.Load())/float64(n), "msgs/req")
}

// BenchmarkWorkerHandleDuplicate measures the second delivery of a request another
// invocation holds (the stream's record of a request the router dispatched directly):
// one read, no write, no message.
func BenchmarkWorkerHandleDuplicate(b *testing.B) {
	s := memstore.New(memstore.Options{})
	w, err := executor.NewWorker(s.Requests(), streamer.NewRegistry(), &countingSender{}, executor.Config{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := store.ScopedID(testTenant, testUser, "r-held")
	if err := s.Requests().Enqueue(ctx, &store.AsyncRequest{RequestID: id, ClientID: "r-held", ConnectionID: testConn, Action: "job", UserID: testUser, TenantID: testTenant}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	if _, err := s.Requests().Claim(ctx, id, "worker-holder", now, now.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	start := s.Feed().Latest()
	for b.Loop() {
		// The holder's last write is recent (b.Loop's runs take well under Lease/2).
		if err := w.Handle(ctx, executor.WorkerEvent{RequestID: id}); err != nil {
			b.Fatal(err)
		}
	}
	if r, err := s.Requests().Get(ctx, id); err != nil || r.LeaseOwner != "worker-holder" {
		b.Fatalf("the duplicate took the request: %v %v", r, err)
	}
	if s.Feed().Latest() != start {
		b.Fatal("a duplicate delivery wrote to the store")
	}
}
