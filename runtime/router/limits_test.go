package router_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// TestRateLimited runs the router with a real store.Limiter: over a limit the client gets
// RATE_LIMITED with when to retry, nothing is queued, and the next frames still work.
func TestRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mem := memstore.New(memstore.Options{})
	b.queue.Queue = mem.Requests()
	limiter, err := store.NewLimiter(mem.Limits(), mem.Requests(),
		store.Limits{UserMaxInFlight: 2, UserRate: 0.5, UserBurst: 4, TenantRate: store.Unlimited}, nil)
	require.NoError(t, err)
	b.configure(router.Options{Limiter: limiter})
	send := func(id string) map[string]any {
		return route(t, b.router, withBody(t, fmt.Sprintf(`{"action":"report","id":%q}`, id)))
	}

	require.Equal(t, protocol.TypeAck, send("r-1")["type"])
	require.Equal(t, protocol.TypeAck, send("r-2")["type"])
	before := time.Now()
	reply := send("r-3")
	require.Equal(t, streamer.ErrCodeRateLimited, errorCode(t, reply))
	require.Equal(t, "r-3", reply["request_id"])
	e := reply["error"].(map[string]any)
	require.Equal(t, map[string]any{"limit": store.LimitUserInFlight, "max": 2.0}, e["details"])
	require.Equal(t, "too many requests in flight for this user (limit 2)", e["message"])
	retry := e["retry"].(map[string]any)
	require.Equal(t, true, retry["retryable"])
	require.Equal(t, float64(store.InFlightRetryAfter.Milliseconds()), retry["retry_after_ms"])
	after, err := time.Parse(time.RFC3339Nano, retry["after"].(string))
	require.NoError(t, err)
	require.WithinRange(t, after, before.Add(store.InFlightRetryAfter), time.Now().Add(store.InFlightRetryAfter))
	require.Nil(t, b.queue.stored(t, fixtureOwner, "r-3"), "nothing queued")

	require.Equal(t, protocol.TypeStatus, send("r-1")["type"], "a resend is answered with the status, not refused")
	require.Equal(t, protocol.TypeResult, route(t, b.router, withBody(t, `{"action":"echo","id":"e-1","payload":1}`))["type"],
		"synchronous actions are not limited, and the socket works on")

	require.NoError(t, mem.Requests().FailRequest(t.Context(), store.ScopedID(fixtureOwner.TenantID, fixtureOwner.UserID, "r-1"), "done"))
	require.Equal(t, protocol.TypeAck, send("r-3")["type"], "a finished request frees its slot")
	reply = send("r-4")
	require.Equal(t, streamer.ErrCodeRateLimited, errorCode(t, reply), "the bucket of 4 is empty now (the refusal took one too)")
	e = reply["error"].(map[string]any)
	require.Equal(t, map[string]any{"limit": store.LimitUserRate, "max": 0.5}, e["details"])
	require.InDelta(t, 2000, e["retry"].(map[string]any)["retry_after_ms"], 100, "a token every 2 s")

	// A limiter that cannot be reached: retryable SERVICE_UNAVAILABLE, nothing queued.
	b.configure(router.Options{Limiter: failingLimiter{}})
	require.Equal(t, streamer.ErrCodeServiceUnavail, errorCode(t, send("r-9")))
	require.Nil(t, b.queue.stored(t, fixtureOwner, "r-9"))
	require.Contains(t, b.logs.String(), "limits unreachable")
}

// TestIdentityTheStoreCannotKey refuses identities the authorizer would have refused at
// $connect: the router checks again.
func TestIdentityTheStoreCannotKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tenant := range []string{"ac#me", string(make([]byte, 10*1024)), "acme\xff", ""} {
		e := withBody(t, `{"action":"report","id":"r-1"}`)
		e.RequestContext.Authorizer = map[string]any{contract.AuthUserID: "user-7", contract.AuthTenantID: tenant}
		require.Equal(t, streamer.ErrCodeUnauthorized, errorCode(t, route(t, b.router, e)), "tenant %q", tenant)
	}
}

// failingLimiter is a limiter whose table cannot be reached.
type failingLimiter struct{}

func (failingLimiter) Admit(context.Context, store.Owner, string) (store.Admission, error) {
	return store.Admission{}, errors.New("limits unreachable")
}
