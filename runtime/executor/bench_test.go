package executor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
