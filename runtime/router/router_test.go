package router_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/middleware"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// TestRouteReplies covers every reply shape and error code the router produces itself.
func TestRouteReplies(t *testing.T) {
	t.Parallel()
	validationFailure := &testHandler{validate: func(*streamer.Request) error {
		return streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "start_date required", map[string]any{"field": "payload"})
	}, process: echo}
	plainValidation := &testHandler{validate: func(*streamer.Request) error { return errors.New("items must be positive") }, process: echo}

	for _, tc := range []struct {
		name  string
		body  string
		setup func(b *bundle)
		want  string // expected reply, duration_ms removed
	}{
		{name: "sync result", body: `{"action":"echo","id":"r-1","payload":{"hello":"world"}}`,
			want: `{"type":"result","request_id":"r-1","action":"echo","success":true,"data":{"hello":"world"}}`},
		{name: "null payload is no payload", body: `{"action":"echo","id":"r-1","payload":null}`,
			want: `{"type":"result","request_id":"r-1","action":"echo","success":true}`},
		{name: "result metadata", body: `{"action":"meta","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("meta", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return &streamer.Result{Data: map[string]int{"n": 1}, Metadata: map[string]any{"source": "cache"}}, nil
				})))
			},
			want: `{"type":"result","request_id":"r-1","action":"meta","success":true,"data":{"n":1},"metadata":{"source":"cache"}}`},
		{name: "nil result is success without data", body: `{"action":"nothing","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("nothing", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return nil, nil
				})))
			},
			want: `{"type":"result","request_id":"r-1","action":"nothing","success":true}`},
		{name: "ack", body: `{"action":"report","id":"r-9","payload":{"start_date":"2026-01-01"}}`,
			want: `{"type":"ack","request_id":"r-9","action":"report","status":"PENDING"}`},
		{name: "not JSON", body: `hello`,
			want: `{"type":"error","request_id":"","error":{"code":"VALIDATION_ERROR","message":"message must be a JSON object with a string action, an optional string id and an optional payload","details":{"field":"message"},"retry":{"retryable":false}}}`},
		{name: "truncated JSON", body: `{"action":"echo","id":"r-1"`,
			want: `{"type":"error","request_id":"","error":{"code":"VALIDATION_ERROR","message":"message must be a JSON object with a string action, an optional string id and an optional payload","details":{"field":"message"},"retry":{"retryable":false}}}`},
		{name: "action of the wrong type keeps the readable id", body: `{"action":7,"id":"r-1"}`,
			want: `{"type":"error","request_id":"r-1","error":{"code":"VALIDATION_ERROR","message":"message must be a JSON object with a string action, an optional string id and an optional payload","details":{"field":"message"},"retry":{"retryable":false}}}`},
		{name: "no action", body: `{"id":"r-1","payload":{}}`,
			want: `{"type":"error","request_id":"r-1","error":{"code":"VALIDATION_ERROR","message":"action required","details":{"field":"action"},"retry":{"retryable":false}}}`},
		{name: "bad id characters", body: `{"action":"echo","id":"r 1/2"}`,
			want: `{"type":"error","request_id":"","error":{"code":"VALIDATION_ERROR","message":"id must be at most 128 characters of A-Z a-z 0-9 . _ : -","details":{"field":"id"},"retry":{"retryable":false}}}`},
		{name: "id too long", body: `{"action":"echo","id":"` + strings.Repeat("a", 129) + `"}`,
			want: `{"type":"error","request_id":"","error":{"code":"VALIDATION_ERROR","message":"id must be at most 128 characters of A-Z a-z 0-9 . _ : -","details":{"field":"id"},"retry":{"retryable":false}}}`},
		{name: "longest id", body: `{"action":"echo","id":"` + strings.Repeat("a.b_c:d-", 16) + `"}`,
			want: `{"type":"result","request_id":"` + strings.Repeat("a.b_c:d-", 16) + `","action":"echo","success":true}`},
		{name: "unknown action", body: `{"action":"nope","id":"r-1"}`,
			want: `{"type":"error","request_id":"r-1","error":{"code":"INVALID_ACTION","message":"unknown action","details":{"action":"nope"},"retry":{"retryable":false}}}`},
		{name: "unknown system action", body: `{"action":"streamer.nope","id":"r-1"}`,
			want: `{"type":"error","request_id":"r-1","error":{"code":"INVALID_ACTION","message":"unknown action","details":{"action":"streamer.nope"},"retry":{"retryable":false}}}`},
		{name: "long unknown action is not echoed", body: `{"action":"` + strings.Repeat("x", 200) + `","id":"r-1"}`,
			want: `{"type":"error","request_id":"r-1","error":{"code":"INVALID_ACTION","message":"unknown action","retry":{"retryable":false}}}`},
		{name: "validate panics", body: `{"action":"fragile","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("fragile", &testHandler{validate: func(*streamer.Request) error { panic("nil pointer in Validate") }}))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"INTERNAL_ERROR","message":"internal error","retry":{"retryable":true}}}`},
		{name: "validation error as returned", body: `{"action":"strict","id":"r-1"}`,
			setup: func(b *bundle) { require.NoError(t, b.reg.Handle("strict", validationFailure)) },
			want:  `{"type":"error","request_id":"r-1","error":{"code":"VALIDATION_ERROR","message":"start_date required","details":{"field":"payload"},"retry":{"retryable":false}}}`},
		{name: "plain validation error", body: `{"action":"strict","id":"r-1"}`,
			setup: func(b *bundle) { require.NoError(t, b.reg.Handle("strict", plainValidation)) },
			want:  `{"type":"error","request_id":"r-1","error":{"code":"VALIDATION_ERROR","message":"items must be positive","retry":{"retryable":false}}}`},
		{name: "handler error", body: `{"action":"missing","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("missing", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return nil, streamer.NewError(streamer.ErrCodeNotFound, "no such order")
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"NOT_FOUND","message":"no such order","retry":{"retryable":false}}}`},
		{name: "details that cannot be marshalled are dropped", body: `{"action":"odd","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("odd", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return nil, streamer.NewErrorWithDetails(streamer.ErrCodeNotFound, "no such order", map[string]any{"c": make(chan int)})
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"NOT_FOUND","message":"no such order","retry":{"retryable":false}}}`},
		{name: "error in the result", body: `{"action":"limited","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("limited", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return &streamer.Result{Error: streamer.NewError(streamer.ErrCodeRateLimited, "slow down")}, nil
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"RATE_LIMITED","message":"slow down","retry":{"retryable":true}}}`},
		{name: "handler cause never leaks", body: `{"action":"broken","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("broken", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return nil, errors.New("dial tcp 10.0.0.7:5432: password authentication failed")
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"INTERNAL_ERROR","message":"internal error","retry":{"retryable":true}}}`},
		{name: "internal error details stay in the logs", body: `{"action":"broken","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("broken", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return nil, streamer.NewErrorWithDetails(streamer.ErrCodeInternalError, "storage failed", map[string]any{"dsn": "postgres://secret"})
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"INTERNAL_ERROR","message":"storage failed","retry":{"retryable":true}}}`},
		{name: "panic", body: `{"action":"panics","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("panics", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					panic("nil map write in secret code")
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"INTERNAL_ERROR","message":"internal error","retry":{"retryable":true}}}`},
		{name: "data that cannot be marshalled", body: `{"action":"chan","id":"r-1"}`,
			setup: func(b *bundle) {
				require.NoError(t, b.reg.Handle("chan", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
					return &streamer.Result{Data: make(chan int)}, nil
				})))
			},
			want: `{"type":"error","request_id":"r-1","error":{"code":"INTERNAL_ERROR","message":"internal error","retry":{"retryable":true}}}`},
		{name: "payload over the item limit", body: `{"action":"report","id":"r-1"}`,
			setup: func(b *bundle) { b.queue.failWith(store.ErrTooLarge) },
			want:  `{"type":"error","request_id":"r-1","error":{"code":"PAYLOAD_TOO_LARGE","message":"payload over the stored item limit","details":{"field":"payload","limit_bytes":409600},"retry":{"retryable":false}}}`},
		{name: "queue down", body: `{"action":"report","id":"r-1"}`,
			setup: func(b *bundle) { b.queue.failWith(errors.New("dynamo: ProvisionedThroughputExceededException")) },
			want:  `{"type":"error","request_id":"r-1","error":{"code":"SERVICE_UNAVAILABLE","message":"the request queue is unavailable, retry later","retry":{"retryable":true}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tc.setup != nil {
				tc.setup(b)
			}
			reply := route(t, b.router, withBody(t, tc.body))
			switch reply["type"] {
			case protocol.TypeResult:
				require.IsType(t, float64(0), reply["duration_ms"])
				delete(reply, "duration_ms")
			case protocol.TypeError:
				errorCode(t, reply)
			}
			got, err := json.Marshal(reply)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
			require.NotContains(t, string(got), "secret", "internal details are not sent")
		})
	}
}

func TestRouteLogsInternalCauses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, b.reg.Handle("broken", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return nil, errors.New("password authentication failed")
	})))
	require.NoError(t, b.reg.Handle("panics", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		panic("boom")
	})))

	require.Equal(t, streamer.ErrCodeInternalError, errorCode(t, route(t, b.router, withBody(t, `{"action":"broken","id":"r-1"}`))))
	require.Equal(t, streamer.ErrCodeInternalError, errorCode(t, route(t, b.router, withBody(t, `{"action":"panics","id":"r-2"}`))))

	lines := logLines(t, b.logs)
	require.Len(t, lines, 2, "one line per failure: %v", lines)
	require.Equal(t, "handler failed", lines[0]["msg"])
	require.Equal(t, "r-1", lines[0]["request_id"])
	require.Contains(t, lines[0]["error"], "password authentication failed")
	require.Equal(t, "handler panicked", lines[1]["msg"])
	require.Equal(t, "boom", lines[1]["panic"])
	require.Contains(t, lines[1]["stack"], "router_test.go", "the stack points at the handler")
}

func TestRouteGeneratesAnIDWhenAbsent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seen := map[string]bool{}
	for range 3 {
		reply := route(t, b.router, withBody(t, `{"action":"report","payload":{"n":1}}`))
		require.Equal(t, protocol.TypeAck, reply["type"])
		id, _ := reply["request_id"].(string)
		require.True(t, protocol.ValidID(id), "generated id %q", id)
		require.False(t, seen[id], "ids are unique")
		seen[id] = true
		require.NotNil(t, b.queue.stored(t, fixtureOwner, id), "the returned id is the stored client id")
	}
}

func TestRouteOversizedFrame(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"action":"echo","id":"r-1","payload":"` + strings.Repeat("x", protocol.MaxMessageBytes) + `"}`
	reply := route(t, b.router, withBody(t, body))
	require.Equal(t, streamer.ErrCodePayloadTooLarge, errorCode(t, reply))
	require.Equal(t, "", reply["request_id"], "an oversized frame is not parsed")

	fits := `{"action":"report","id":"r-1","payload":"` + strings.Repeat("x", protocol.MaxMessageBytes-64) + `"}`
	require.LessOrEqual(t, len(fits), protocol.MaxMessageBytes)
	require.Equal(t, protocol.TypeAck, route(t, b.router, withBody(t, fits))["type"])
}

func TestRouteBinaryFrame(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reply := route(t, b.router, loadEvent(t, "message_binary.json"))
	require.Equal(t, protocol.TypeResult, reply["type"])
	require.Equal(t, "r-4", reply["request_id"])
	require.Equal(t, map[string]any{"hello": "world"}, reply["data"])

	e := loadEvent(t, "message_binary.json")
	e.Body = "not base64!"
	require.Equal(t, streamer.ErrCodeValidation, errorCode(t, route(t, b.router, e)))
}

// TestIdentityFromAuthorizerOnly shows that user and tenant come from the authorizer
// context alone: fields in the message that claim an identity are ignored.
func TestIdentityFromAuthorizerOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var got *streamer.Request
	require.NoError(t, b.reg.Handle("whoami", streamer.HandlerFunc(func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
		got = req
		return &streamer.Result{Data: map[string]string{"user": req.UserID, "tenant": req.TenantID}}, nil
	})))
	reply := route(t, b.router, loadEvent(t, "message_spoofed_identity.json"))
	require.Equal(t, map[string]any{"user": "user-7", "tenant": "acme"}, reply["data"])
	require.Equal(t, fixtureConnection, got.ConnectionID)

	// Queued requests are owned by the authorizer's identity too.
	e := loadEvent(t, "message_spoofed_identity.json")
	e.Body = `{"action":"report","id":"r-5","user_id":"admin","tenant_id":"other-corp"}`
	require.Equal(t, protocol.TypeAck, route(t, b.router, e)["type"])
	stored := b.queue.stored(t, fixtureOwner, "r-5")
	require.NotNil(t, stored)
	require.Equal(t, "user-7", stored.UserID)
	require.Equal(t, "acme", stored.TenantID)
	require.Nil(t, b.queue.stored(t, store.Owner{TenantID: "other-corp", UserID: "admin"}, "r-5"))

	// No authorizer context, or an incomplete one: UNAUTHORIZED, nothing runs.
	reply = route(t, b.router, loadEvent(t, "message_no_authorizer.json"))
	require.Equal(t, streamer.ErrCodeUnauthorized, errorCode(t, reply))
	require.Equal(t, "r-3", reply["request_id"])
	for _, authorizer := range []any{
		map[string]any{contract.AuthUserID: "user-7"},
		map[string]any{contract.AuthUserID: "user-7", contract.AuthTenantID: 42},
		map[string]string{contract.AuthUserID: "", contract.AuthTenantID: "acme"},
		map[string]any{contract.AuthUserID: "user-7", contract.AuthTenantID: "acme#user-8"},
		"user-7",
	} {
		e := withBody(t, `{"action":"echo","id":"r-1","payload":{}}`)
		e.RequestContext.Authorizer = authorizer
		require.Equal(t, streamer.ErrCodeUnauthorized, errorCode(t, route(t, b.router, e)), "authorizer %v", authorizer)
	}
	e = withBody(t, `{"action":"echo","id":"r-1","payload":{}}`)
	e.RequestContext.Authorizer = map[string]string{contract.AuthUserID: "user-7", contract.AuthTenantID: "acme"}
	require.Equal(t, protocol.TypeResult, route(t, b.router, e)["type"], "in-process callers may pass map[string]string")
}

func TestRouteEnqueuesAsyncRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.configure(router.Options{MaxAttempts: 5})
	reply := route(t, b.router, withBody(t, `{"action":"report","id":"r-7","payload":{"start_date":"2026-01-01"}}`))
	require.Equal(t, protocol.TypeAck, reply["type"])

	stored := b.queue.stored(t, fixtureOwner, "r-7")
	require.NotNil(t, stored)
	require.Equal(t, "acme#user-7#r-7", stored.RequestID)
	require.Equal(t, "r-7", stored.ClientID)
	require.Equal(t, fixtureConnection, stored.ConnectionID)
	require.Equal(t, "report", stored.Action)
	require.JSONEq(t, `{"start_date":"2026-01-01"}`, string(stored.Payload))
	require.Equal(t, store.StatusPending, stored.Status)
	require.Equal(t, 5, stored.MaxAttempts)
	require.Equal(t, "user-7", stored.UserID)
	require.Equal(t, "acme", stored.TenantID)
}

func TestAsyncThreshold(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ran := 0
	h := &testHandler{estimate: 5 * time.Second, process: func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
		ran++
		return echo(ctx, req)
	}}
	require.NoError(t, b.reg.Handle("five", h))

	require.Equal(t, protocol.TypeResult, route(t, b.router, withBody(t, `{"action":"five","id":"a"}`))["type"],
		"an estimate equal to the threshold runs at once")
	b.configure(router.Options{AsyncThreshold: time.Second})
	require.Equal(t, protocol.TypeAck, route(t, b.router, withBody(t, `{"action":"five","id":"b"}`))["type"])
	require.Equal(t, 1, ran)
}

// TestDuplicateIDReturnsStatus shows that resending an async request never queues it
// twice: the client gets the request's current state, and a resend from a new connection
// moves its progress there.
func TestDuplicateIDReturnsStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"action":"report","id":"r-8","payload":{"start_date":"2026-01-01"}}`
	require.Equal(t, protocol.TypeAck, route(t, b.router, withBody(t, body))["type"])

	id := store.ScopedID(fixtureOwner.TenantID, fixtureOwner.UserID, "r-8")
	now := time.Now()
	_, err := b.queue.Claim(t.Context(), id, "worker-1", now, now.Add(time.Minute))
	require.NoError(t, err)
	_, err = b.queue.Checkpoint(t.Context(), id, "worker-1", store.ProgressState{Percentage: 42.5, Message: "Processing..."}, now.Add(time.Minute))
	require.NoError(t, err)

	e := withBody(t, body)
	e.RequestContext.ConnectionID = "new-connection="
	reply := route(t, b.router, e)
	require.Equal(t, map[string]any{
		"type": "status", "request_id": "r-8", "status": "PROCESSING", "percentage": 42.5,
		"message": "Processing...", "result": nil, "error": nil,
	}, reply)
	require.Equal(t, "new-connection=", b.queue.stored(t, fixtureOwner, "r-8").ConnectionID, "progress follows the resend")
	require.Equal(t, 2, b.queue.enqueueCount())

	// Another user may use the same id: it is a different request.
	other := withBody(t, body)
	other.RequestContext.Authorizer = map[string]any{contract.AuthUserID: "user-8", contract.AuthTenantID: "acme"}
	require.Equal(t, protocol.TypeAck, route(t, b.router, other)["type"])
}

func TestSyncBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.configure(router.Options{SyncBudget: 50 * time.Millisecond})

	release := make(chan struct{})
	finished := make(chan struct{})
	t.Cleanup(func() { close(release); <-finished })
	require.NoError(t, b.reg.Handle("stuck", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		defer close(finished)
		<-release // ignores its context
		return &streamer.Result{Data: "late"}, nil
	})))
	sawDeadline := make(chan bool, 1)
	require.NoError(t, b.reg.Handle("polite", streamer.HandlerFunc(func(ctx context.Context, _ *streamer.Request) (*streamer.Result, error) {
		_, ok := ctx.Deadline()
		sawDeadline <- ok
		<-ctx.Done()
		return nil, ctx.Err()
	})))

	for _, action := range []string{"stuck", "polite"} {
		reply := route(t, b.router, withBody(t, `{"action":"`+action+`","id":"r-1"}`))
		require.Equal(t, streamer.ErrCodeTimeout, errorCode(t, reply), action)
		require.Equal(t, "r-1", reply["request_id"])
		if action == "stuck" {
			require.Equal(t, map[string]any{"budget_ms": float64(50)}, reply["error"].(map[string]any)["details"])
		}
	}
	require.True(t, <-sawDeadline, "the handler's context carries the budget")
}

func TestLargeSyncResultIsSentInParts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rows := make([]string, 20000)
	for i := range rows {
		rows[i] = "row-" + strings.Repeat("é", 3)
	}
	require.NoError(t, b.reg.Handle("big", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Data: map[string]any{"rows": rows}}, nil
	})))

	resp, err := b.router.Route(context.Background(), withBody(t, `{"action":"big","id":"r-1"}`))
	require.NoError(t, err)
	require.Equal(t, "", resp.Body, "the parts went through the sender")
	got := b.sender.reassemble(t, fixtureConnection)
	require.Equal(t, "r-1", got.RequestID)
	require.Equal(t, "big", got.Action)
	var data struct{ Rows []string }
	require.NoError(t, json.Unmarshal(got.Data, &data))
	require.Equal(t, rows, data.Rows)

	b.sender.err = errors.New("connection: gone")
	reply := route(t, b.router, withBody(t, `{"action":"big","id":"r-2"}`))
	require.Equal(t, streamer.ErrCodeServiceUnavail, errorCode(t, reply))

	noSender := router.New(b.reg, nil, nil, router.Options{Logger: slog.New(slog.DiscardHandler)})
	reply = route(t, noSender, withBody(t, `{"action":"big","id":"r-3"}`))
	require.Equal(t, streamer.ErrCodePayloadTooLarge, errorCode(t, reply))
}

// TestRouteWhileConfiguring routes from many goroutines while handlers and middleware
// are added to the registry: no race, and every reply is a result of the always-present echo.
func TestRouteWhileConfiguring(t *testing.T) {
	t.Parallel()
	b := setup(t)
	metrics := &middleware.MemoryMetrics{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if err := b.reg.Handle(fmt.Sprintf("action-%d", i), streamer.HandlerFunc(echo)); err != nil {
				t.Error(err)
			}
			if i == 25 {
				b.reg.Use(middleware.Metrics(metrics))
			}
		}
	}()
	e := withBody(t, `{"action":"echo","id":"r-1","payload":1}`)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				resp, err := b.router.Route(t.Context(), e)
				if err != nil || !strings.HasPrefix(resp.Body, `{"type":"result"`) {
					t.Errorf("reply %s, %v", resp.Body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-done
	route(t, b.router, withBody(t, `{"action":"action-49","id":"r-2","payload":1}`))
	require.Equal(t, int64(1), metrics.Stats("action-49", middleware.OutcomeSuccess).Count, "middleware added later applies")
}

// TestUTF8 refuses text that is not UTF-8 and never answers with any: a browser closes a
// connection that receives such a text message (1007).
func TestUTF8(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reply := route(t, b.router, withBody(t, "{\"action\":\"echo\",\"id\":\"r-1\",\"payload\":\"caf\xe9\"}"))
	require.Equal(t, streamer.ErrCodeValidation, errorCode(t, reply))
	require.Equal(t, map[string]any{"field": "message"}, reply["error"].(map[string]any)["details"])
	require.Equal(t, "", reply["request_id"], "nothing of the frame is read")

	e := loadEvent(t, "message_binary.json")
	e.Body = base64.StdEncoding.EncodeToString([]byte("{\"action\":\"echo\",\"payload\":\"\xff\"}"))
	require.Equal(t, streamer.ErrCodeValidation, errorCode(t, route(t, b.router, e)), "a binary frame's text too")

	// A handler's raw JSON that is not UTF-8 goes out with U+FFFD in its place.
	require.NoError(t, b.reg.Handle("latin1", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Data: json.RawMessage("{\"city\":\"M\xfcnchen\"}")}, nil
	})))
	resp, err := b.router.Route(t.Context(), withBody(t, `{"action":"latin1","id":"r-2"}`))
	require.NoError(t, err)
	require.True(t, utf8.ValidString(resp.Body), resp.Body)
	require.Contains(t, resp.Body, `"city":"M`+"\uFFFD"+`nchen"`)
}
