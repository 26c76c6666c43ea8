package streamer_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// benchRoute routes e b.N times and fails on an unexpected reply type. Besides ns/op
// (wall time) it reports cpu-ns/op: the process's CPU time per operation, which holds on
// a machine shared with other work.
func benchRoute(b *testing.B, r *streamer.DefaultRouter, e events.APIGatewayWebsocketProxyRequest, wantPrefix string) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		resp, err := r.Route(ctx, e)
		if err != nil || !strings.HasPrefix(resp.Body, wantPrefix) {
			b.Fatalf("reply %q, %v", resp.Body, err)
		}
	}
	if used := processCPU() - cpu; used > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRouteSyncEcho measures the router's CPU per synchronous echo: JSON frame in,
// JSON reply bytes out, no I/O (issue 7 goal: at most 4.5 µs and 30 allocations).
func BenchmarkRouteSyncEcho(b *testing.B) {
	r := streamer.NewRouter(nil, nil)
	if err := r.Handle("echo", streamer.HandlerFunc(echo)); err != nil {
		b.Fatal(err)
	}
	benchRoute(b, r, withBody(b, `{"action":"echo","id":"r-42","payload":{"message":"hello","n":1}}`), `{"type":"result"`)
}

// BenchmarkRouteSyncEchoMiddleware is the echo with the logging (JSON, discarded) and
// metrics middleware.
func BenchmarkRouteSyncEchoMiddleware(b *testing.B) {
	r := streamer.NewRouter(nil, nil)
	if err := r.Handle("echo", streamer.HandlerFunc(echo)); err != nil {
		b.Fatal(err)
	}
	r.Use(streamer.LoggingMiddleware(slog.New(slog.NewJSONHandler(io.Discard, nil))), streamer.MetricsMiddleware(&streamer.MemoryMetrics{}))
	benchRoute(b, r, withBody(b, `{"action":"echo","id":"r-42","payload":{"message":"hello","n":1}}`), `{"type":"result"`)
}

// BenchmarkRouteAsyncAck measures parsing, validation and the ack of a queued request,
// with an in-memory queue.
func BenchmarkRouteAsyncAck(b *testing.B) {
	r := streamer.NewRouter(newQueue(), nil)
	if err := r.Handle("report", asyncHandler()); err != nil {
		b.Fatal(err)
	}
	benchRoute(b, r, withBody(b, `{"action":"report","payload":{"start_date":"2026-01-01","end_date":"2026-01-31"}}`), `{"type":"ack"`)
}

// BenchmarkRouteBadFrame measures the rejection of a frame that is not JSON.
func BenchmarkRouteBadFrame(b *testing.B) {
	benchRoute(b, streamer.NewRouter(nil, nil), withBody(b, `not json`), `{"type":"error"`)
}

// BenchmarkRoutePing measures streamer.ping.
func BenchmarkRoutePing(b *testing.B) {
	benchRoute(b, streamer.NewRouter(nil, nil), withBody(b, `{"action":"streamer.ping"}`), `{"type":"pong"`)
}
