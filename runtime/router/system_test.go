package router_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// lifecycle drives requests of the fixture's owner through the real queue, as the router
// and a worker would.
type lifecycle struct {
	tb testing.TB
	b  *bundle
}

const worker = "worker-1"

// queued routes an async request with clientID from another connection (the client has
// since reconnected) and returns its scoped id.
func (l lifecycle) queued(clientID string) string {
	e := withBody(l.tb, `{"action":"report","id":"`+clientID+`"}`)
	e.RequestContext.ConnectionID = "old-connection="
	require.Equal(l.tb, protocol.TypeAck, route(l.tb, l.b.router, e)["type"])
	return store.ScopedID(fixtureOwner.TenantID, fixtureOwner.UserID, clientID)
}

// running queues and claims a request and records progress.
func (l lifecycle) running(clientID string, pct float64, msg string) string {
	id := l.queued(clientID)
	now := time.Now()
	_, err := l.b.queue.Claim(l.tb.Context(), id, worker, now, now.Add(time.Minute))
	require.NoError(l.tb, err)
	_, err = l.b.queue.Checkpoint(l.tb.Context(), id, worker, store.ProgressState{Percentage: pct, Message: msg}, now.Add(time.Minute))
	require.NoError(l.tb, err)
	return id
}

// finished runs a request to a terminal status.
func (l lifecycle) finished(clientID string, status store.RequestStatus, result, errJSON json.RawMessage) {
	id := l.running(clientID, 50, "half way")
	_, err := l.b.queue.Finish(l.tb.Context(), id, worker, status, store.ProgressState{Percentage: 100, Message: "done"}, result, errJSON)
	require.NoError(l.tb, err)
}

func TestPing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := b.router.Route(t.Context(), withBody(t, `{"action":"streamer.ping"}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"pong"}`, resp.Body)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)

	l := lifecycle{t, b}
	l.running("r-run", 42.5, "Processing...")
	l.finished("r-done", store.StatusCompleted, json.RawMessage(`{"pages":3}`), nil)
	l.finished("r-failed", store.StatusFailed, nil,
		json.RawMessage(`{"code":"INTERNAL_ERROR","message":"report backend failed","details":{"host":"10.0.0.7"}}`))
	l.queued("r-pending")
	route(t, b.router, withBody(t, `{"action":"streamer.cancel","payload":{"id":"r-pending"}}`))
	stopped := l.queued("r-stopped")
	require.NoError(t, b.queue.UpdateStatus(t.Context(), stopped, store.StatusFailed, "stopped by an operator"))

	for _, tc := range []struct {
		id, want string
	}{
		{"r-run", `{"type":"status","request_id":"r-run","status":"PROCESSING","percentage":42.5,"message":"Processing...","result":null,"error":null}`},
		{"r-done", `{"type":"status","request_id":"r-done","status":"COMPLETED","percentage":100,"message":"done","result":{"pages":3},"error":null}`},
		{"r-failed", `{"type":"status","request_id":"r-failed","status":"FAILED","percentage":100,"message":"done","result":null,"error":{"code":"INTERNAL_ERROR","message":"report backend failed","retry":{"retryable":true}}}`},
		{"r-stopped", `{"type":"status","request_id":"r-stopped","status":"FAILED","percentage":0,"message":"stopped by an operator","result":null,"error":{"code":"INTERNAL_ERROR","message":"the request failed","retry":{"retryable":true}}}`},
		{"r-pending", `{"type":"status","request_id":"r-pending","status":"CANCELLED","percentage":0,"message":"","result":null,"error":{"code":"CANCELLED","message":"cancelled by the client","retry":{"retryable":false}}}`},
	} {
		resp, err := b.router.Route(t.Context(), withBody(t, `{"action":"streamer.status","payload":{"id":"`+tc.id+`"}}`))
		require.NoError(t, err)
		require.JSONEq(t, tc.want, resp.Body)
	}
	require.Equal(t, fixtureConnection, b.queue.stored(t, fixtureOwner, "r-run").ConnectionID,
		"status resumes a running request on the asking connection")
	require.Equal(t, "old-connection=", b.queue.stored(t, fixtureOwner, "r-done").ConnectionID, "a finished request never changes")
}

// TestSystemActionsAreOwnerScoped shows that another tenant or user cannot see or cancel
// a request: NOT_FOUND, and nothing changes.
func TestSystemActionsAreOwnerScoped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lifecycle{t, b}.queued("r-1")

	for _, authorizer := range []map[string]any{
		{contract.AuthUserID: "user-7", contract.AuthTenantID: "other-corp"},
		{contract.AuthUserID: "user-8", contract.AuthTenantID: "acme"},
	} {
		for _, action := range []string{protocol.ActionStatus, protocol.ActionCancel} {
			e := withBody(t, `{"action":"`+action+`","payload":{"id":"r-1"}}`)
			e.RequestContext.Authorizer = authorizer
			reply := route(t, b.router, e)
			require.Equal(t, streamer.ErrCodeNotFound, errorCode(t, reply))
			require.Equal(t, "r-1", reply["request_id"])
		}
	}
	stored := b.queue.stored(t, fixtureOwner, "r-1")
	require.Equal(t, store.StatusPending, stored.Status)
	require.Equal(t, "old-connection=", stored.ConnectionID)

	reply := route(t, b.router, withBody(t, `{"action":"streamer.status","payload":{"id":"r-unknown"}}`))
	require.Equal(t, streamer.ErrCodeNotFound, errorCode(t, reply))
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := lifecycle{t, b}
	l.queued("r-pending")
	l.running("r-running", 10, "started")

	resp, err := b.router.Route(t.Context(), withBody(t, `{"action":"streamer.cancel","id":"ignored","payload":{"id":"r-pending"}}`))
	require.NoError(t, err)
	answer := b.sender.sent(fixtureConnection)
	require.Len(t, answer, 1, "the status answer goes first, through the connection sender")
	require.JSONEq(t, `{"type":"status","request_id":"r-pending","status":"CANCELLED","percentage":0,"message":"","result":null,
		"error":{"code":"CANCELLED","message":"cancelled by the client","retry":{"retryable":false}}}`, string(answer[0]))
	require.JSONEq(t, `{"type":"error","request_id":"r-pending",
		"error":{"code":"CANCELLED","message":"cancelled by the client","retry":{"retryable":false}}}`, resp.Body,
		"the pending request's one terminal message is the route response, delivered after the status")
	var stored streamer.Error
	require.NoError(t, json.Unmarshal(b.queue.stored(t, fixtureOwner, "r-pending").Error, &stored))
	require.Equal(t, streamer.ErrCodeCancelled, stored.Code, "the stored error is a CANCELLED streamer.Error")

	again := route(t, b.router, withBody(t, `{"action":"streamer.cancel","payload":{"id":"r-pending"}}`))
	require.Equal(t, "status", again["type"], "a second cancel only answers the status: no second terminal message")
	require.Equal(t, "CANCELLED", again["status"])
	require.Len(t, b.sender.sent(fixtureConnection), 1)

	reply := route(t, b.router, withBody(t, `{"action":"streamer.cancel","payload":{"id":"r-running"}}`))
	require.Equal(t, "PROCESSING", reply["status"], "a running request is cancelled by its worker")
	require.True(t, b.queue.stored(t, fixtureOwner, "r-running").CancelRequested)
	require.Len(t, b.sender.sent(fixtureConnection), 1, "the worker, not the router, ends a running request")
}

func TestSystemActionErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, code, requestID string
		fail                        error
	}{
		{"no payload", `{"action":"streamer.status","id":"r-1"}`, streamer.ErrCodeValidation, "", nil},
		{"no id", `{"action":"streamer.cancel","payload":{}}`, streamer.ErrCodeValidation, "", nil},
		{"id not a string", `{"action":"streamer.status","payload":{"id":7}}`, streamer.ErrCodeValidation, "", nil},
		{"bad id", `{"action":"streamer.status","payload":{"id":"a b"}}`, streamer.ErrCodeValidation, "", nil},
		{"payload not an object", `{"action":"streamer.status","payload":"r-1"}`, streamer.ErrCodeValidation, "", nil},
		{"store down", `{"action":"streamer.status","payload":{"id":"r-1"}}`, streamer.ErrCodeServiceUnavail, "r-1", errors.New("dynamo: RequestLimitExceeded")},
		{"store down on cancel", `{"action":"streamer.cancel","payload":{"id":"r-1"}}`, streamer.ErrCodeServiceUnavail, "r-1", errors.New("dynamo: RequestLimitExceeded")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			lifecycle{t, b}.queued("r-1")
			b.queue.failWith(tc.fail)
			reply := route(t, b.router, withBody(t, tc.body))
			require.Equal(t, tc.code, errorCode(t, reply))
			require.Equal(t, tc.requestID, reply["request_id"])
		})
	}

	noQueue := router.New(streamer.NewRegistry(), nil, nil, router.Options{Logger: slog.New(slog.DiscardHandler)})
	reply := route(t, noQueue, withBody(t, `{"action":"streamer.status","payload":{"id":"r-1"}}`))
	require.Equal(t, streamer.ErrCodeServiceUnavail, errorCode(t, reply))
}

// TestStatusOfALargeResult shows that a result too large for one message reaches the
// client in parts, followed by the status without it.
func TestStatusOfALargeResult(t *testing.T) {
	t.Parallel()
	b := setup(t)
	data, err := json.Marshal(map[string]string{"text": strings.Repeat("large result ", 20000)})
	require.NoError(t, err)
	lifecycle{t, b}.finished("r-big", store.StatusCompleted, data, nil)

	resp, err := b.router.Route(t.Context(), withBody(t, `{"action":"streamer.status","payload":{"id":"r-big"}}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"status","request_id":"r-big","status":"COMPLETED","percentage":100,"message":"done","result":null,"error":null}`, resp.Body)
	got := b.sender.reassemble(t, fixtureConnection)
	require.Equal(t, "r-big", got.RequestID)
	require.Equal(t, "report", got.Action)
	require.GreaterOrEqual(t, got.DurationMS, int64(0))
	require.JSONEq(t, string(data), string(got.Data))
}
