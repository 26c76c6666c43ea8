package router_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/middleware"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// benchRoute routes e b.N times and fails on an unexpected reply type. Besides ns/op
// (wall time) it reports cpu-ns/op: the process's CPU time per operation, which holds on
// a machine shared with other work.
func benchRoute(b *testing.B, r *router.Router, e events.APIGatewayWebsocketProxyRequest, wantPrefix string) {
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

// newRouter returns a router without queue or sender over a registry holding h as
// "echo" (or "report").
func newRouter(b *testing.B, action string, h streamer.Handler, queue router.Queue, mw ...streamer.Middleware) *router.Router {
	b.Helper()
	reg := streamer.NewRegistry()
	if h != nil {
		if err := reg.Handle(action, h); err != nil {
			b.Fatal(err)
		}
	}
	reg.Use(mw...)
	return router.New(reg, queue, nil, router.Options{})
}

// echoFrame is the frame of the echo benchmarks.
const echoFrame = `{"action":"echo","id":"r-42","payload":{"message":"hello","n":1}}`

// echoPayload is echoFrame's payload as a Go type.
type echoPayload struct {
	Message string `json:"message"`
	N       int    `json:"n"`
}

// BenchmarkRouteSyncEcho measures the router's CPU per synchronous echo of the raw
// payload: JSON frame in, JSON reply bytes out, no I/O (goal: at most 4.5 µs and 30
// allocations).
func BenchmarkRouteSyncEcho(b *testing.B) {
	benchRoute(b, newRouter(b, "echo", streamer.HandlerFunc(echo), nil), withBody(b, echoFrame), `{"type":"result"`)
}

// BenchmarkRouteSyncEchoDecoded is an untyped echo that decodes its payload into a Go
// struct (UnmarshalPayload) and returns it, as a seed-style handler does.
func BenchmarkRouteSyncEchoDecoded(b *testing.B) {
	h := streamer.HandlerFunc(func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
		var p echoPayload
		if err := req.UnmarshalPayload(&p); err != nil {
			return nil, err
		}
		return &streamer.Result{RequestID: req.ID, Success: true, Data: p}, nil
	})
	benchRoute(b, newRouter(b, "echo", h, nil), withBody(b, echoFrame), `{"type":"result"`)
}

// BenchmarkRouteSyncEchoTyped is the same echo as a typed action: decoded strictly
// (unknown fields refused), validated, returned typed (goal: at most 2 allocations more
// than BenchmarkRouteSyncEchoDecoded).
func BenchmarkRouteSyncEchoTyped(b *testing.B) {
	h := streamer.Sync(func(_ context.Context, job *streamer.Job[echoPayload]) (echoPayload, error) {
		return job.Payload, nil
	})
	benchRoute(b, newRouter(b, "echo", h, nil), withBody(b, echoFrame), `{"type":"result"`)
}

// BenchmarkRouteSyncEchoMiddleware is the echo with the logging (JSON, discarded) and
// metrics middleware.
func BenchmarkRouteSyncEchoMiddleware(b *testing.B) {
	r := newRouter(b, "echo", streamer.HandlerFunc(echo), nil,
		middleware.Logging(slog.New(slog.NewJSONHandler(io.Discard, nil))), middleware.Metrics(&middleware.MemoryMetrics{}))
	benchRoute(b, r, withBody(b, echoFrame), `{"type":"result"`)
}

// BenchmarkRouteAsyncAck measures parsing, validation and the ack of a queued request,
// with an in-memory queue.
func BenchmarkRouteAsyncAck(b *testing.B) {
	r := newRouter(b, "report", asyncHandler(), newQueue())
	benchRoute(b, r, withBody(b, `{"action":"report","payload":{"start_date":"2026-01-01","end_date":"2026-01-31"}}`), `{"type":"ack"`)
}

// BenchmarkRouteAsyncAckDispatch is BenchmarkRouteAsyncAck with direct dispatch to an
// in-process dispatcher that returns at once: what the router itself adds to the ack
// (the bounded context and the call), without the invoke's network round trip.
func BenchmarkRouteAsyncAckDispatch(b *testing.B) {
	reg := streamer.NewRegistry()
	if err := reg.Handle("report", asyncHandler()); err != nil {
		b.Fatal(err)
	}
	dispatched := 0
	r := router.New(reg, newQueue(), nil, router.Options{Dispatcher: router.DispatchFunc(func(context.Context, string) error {
		dispatched++
		return nil
	})})
	benchRoute(b, r, withBody(b, `{"action":"report","payload":{"start_date":"2026-01-01","end_date":"2026-01-31"}}`), `{"type":"ack"`)
	if dispatched != b.N {
		b.Fatalf("%d dispatches for %d acks", dispatched, b.N)
	}
}

// BenchmarkRouteBadFrame measures the rejection of a frame that is not JSON.
func BenchmarkRouteBadFrame(b *testing.B) {
	benchRoute(b, newRouter(b, "", nil, nil), withBody(b, `not json`), `{"type":"error"`)
}

// BenchmarkRoutePing measures streamer.ping.
func BenchmarkRoutePing(b *testing.B) {
	benchRoute(b, newRouter(b, "", nil, nil), withBody(b, `{"action":"streamer.ping"}`), `{"type":"pong"`)
}
