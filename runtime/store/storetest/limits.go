package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/store"
)

// limitBundle is what a limits test works with: the stores, a fresh tenant, a clock the
// test moves, and a bundle per user for the requests.
type limitBundle struct {
	ctx    context.Context
	s      Stores
	tenant string
	clock  *clock
}

func newLimitBundle(t *testing.T, s Stores) *limitBundle {
	require.NotNil(t, s.Limits, "Stores.Limits is required")
	return &limitBundle{ctx: t.Context(), s: s, tenant: "tenant-" + uniqueID(), clock: &clock{now: time.Now()}}
}

// limiter returns a Limiter with lim on the bundle's clock.
func (b *limitBundle) limiter(t *testing.T, lim store.Limits) *store.Limiter {
	t.Helper()
	l, err := store.NewLimiter(b.s.Limits, b.s.Requests, lim, b.clock.Now)
	require.NoError(t, err)
	return l
}

// user returns the request bundle of one user of the tenant.
func (b *limitBundle) user(name string) *bundle {
	return &bundle{ctx: b.ctx, q: b.s.Requests, owner: store.Owner{TenantID: b.tenant, UserID: name}}
}

// admit admits clientID for u and, when admitted, enqueues it as the router does.
func (b *limitBundle) admit(t *testing.T, l *store.Limiter, u *bundle, clientID string) store.Admission {
	t.Helper()
	a, err := l.Admit(b.ctx, u.owner, clientID)
	require.NoError(t, err)
	if a.Admitted {
		u.enqueue(t, clientID)
	}
	return a
}

// clock is a test clock that moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Only one kind of limit at a time, so that each test sees the one it is about.
var (
	noCaps    = store.Limits{UserMaxInFlight: store.Unlimited, TenantMaxInFlight: store.Unlimited}
	noBuckets = store.Limits{UserRate: store.Unlimited, TenantRate: store.Unlimited}
)

var limitTests = map[string]func(t *testing.T, b *limitBundle){
	"UserBucket": func(t *testing.T, b *limitBundle) {
		lim := noCaps
		lim.UserRate, lim.UserBurst, lim.TenantRate = 2, 3, store.Unlimited
		l := b.limiter(t, lim)
		alice, bob := b.user("alice"), b.user("bob")
		for i := range 3 {
			require.True(t, b.admit(t, l, alice, fmt.Sprint("a", i)).Admitted, "the burst")
		}
		a := b.admit(t, l, alice, "a3")
		require.Equal(t, store.Admission{Limit: store.LimitUserRate, Max: 2, RetryAfter: 500 * time.Millisecond}, a,
			"one token comes back in 1/rate")
		require.True(t, b.admit(t, l, bob, "b0").Admitted, "another user has a bucket of their own")

		b.clock.Advance(499 * time.Millisecond)
		a = b.admit(t, l, alice, "a3")
		require.False(t, a.Admitted)
		require.Equal(t, time.Millisecond, a.RetryAfter)
		b.clock.Advance(time.Millisecond)
		require.True(t, b.admit(t, l, alice, "a3").Admitted)
		require.False(t, b.admit(t, l, alice, "a4").Admitted)

		b.clock.Advance(time.Hour)
		for i := range 3 {
			require.True(t, b.admit(t, l, alice, fmt.Sprint("c", i)).Admitted, "a bucket refills to its burst, no more")
		}
		require.False(t, b.admit(t, l, alice, "c3").Admitted)
	},
	"TenantBucket": func(t *testing.T, b *limitBundle) {
		lim := noCaps
		lim.UserRate, lim.TenantRate, lim.TenantBurst = store.Unlimited, 10, 4
		l := b.limiter(t, lim)
		for i := range 4 {
			require.True(t, b.admit(t, l, b.user(fmt.Sprint("u", i)), "r").Admitted)
		}
		a := b.admit(t, l, b.user("u9"), "r")
		require.Equal(t, store.Admission{Limit: store.LimitTenantRate, Max: 10, RetryAfter: 100 * time.Millisecond}, a)
		other := &limitBundle{ctx: b.ctx, s: b.s, tenant: b.tenant + "-other", clock: b.clock}
		require.True(t, other.admit(t, l, other.user("u9"), "r").Admitted, "another tenant has a bucket of its own")
	},
	"ResendIsFree": func(t *testing.T, b *limitBundle) {
		lim := store.Limits{UserMaxInFlight: 1, UserRate: 1, UserBurst: 1, TenantRate: store.Unlimited}
		l := b.limiter(t, lim)
		u := b.user("alice")
		require.True(t, b.admit(t, l, u, "a").Admitted)
		for range 3 {
			a, err := l.Admit(b.ctx, u.owner, "a")
			require.NoError(t, err)
			require.True(t, a.Admitted, "the same id again is the same request: no token, no slot")
		}
		require.False(t, b.admit(t, l, u, "b").Admitted)
	},
	"InFlightIsReleasedByEveryEnd": func(t *testing.T, b *limitBundle) {
		lim := noBuckets
		lim.UserMaxInFlight = 6
		l := b.limiter(t, lim)
		u := b.user("alice")
		ids := []string{"result", "error", "cancel", "given-up", "ttl", "never-queued"}
		for _, id := range ids[:4] {
			require.True(t, b.admit(t, l, u, id).Admitted)
		}
		expiring := u.request("ttl")
		expiring.TTL = b.clock.Now().Add(10 * time.Second).Unix()
		a, err := l.Admit(b.ctx, u.owner, "ttl")
		require.NoError(t, err)
		require.True(t, a.Admitted)
		require.NoError(t, u.q.Enqueue(b.ctx, expiring))
		a, err = l.Admit(b.ctx, u.owner, "never-queued") // the router failed before its Enqueue
		require.NoError(t, err)
		require.True(t, a.Admitted)

		a = b.admit(t, l, u, "one-more")
		require.Equal(t, store.Admission{Limit: store.LimitUserInFlight, Max: 6, RetryAfter: store.InFlightRetryAfter}, a)
		requireInFlight(t, b, l, u.owner, 6, 6)

		scoped := func(id string) string { return store.ScopedID(u.owner.TenantID, u.owner.UserID, id) }
		now := time.Now()
		_, err = u.q.Claim(b.ctx, scoped("result"), "worker-1", now, now.Add(time.Minute))
		require.NoError(t, err)
		_, err = u.q.Finish(b.ctx, scoped("result"), "worker-1", store.StatusCompleted, store.ProgressState{}, resultOK, nil)
		require.NoError(t, err)
		requireInFlight(t, b, l, u.owner, 5, 5)
		require.NoError(t, u.q.FailRequest(b.ctx, scoped("error"), "boom"))
		requireInFlight(t, b, l, u.owner, 4, 4)
		_, cancelled, err := u.q.RequestCancel(b.ctx, u.owner, "cancel", errCancelled)
		require.NoError(t, err)
		require.True(t, cancelled)
		requireInFlight(t, b, l, u.owner, 3, 3)
		_, err = u.q.Claim(b.ctx, scoped("given-up"), "worker-1", now, now.Add(-time.Minute)) // a worker that died
		require.NoError(t, err)
		for failed := false; !failed; { // re-driven until its attempts are used up
			_, failed, err = u.q.Redrive(b.ctx, scoped("given-up"), time.Now().Add(time.Second), errGaveUp)
			require.NoError(t, err)
		}
		requireInFlight(t, b, l, u.owner, 2, 2)
		b.clock.Advance(30 * time.Second) // past the ttl (DynamoDB's deletion may come much later)
		requireInFlight(t, b, l, u.owner, 1, 1)
		b.clock.Advance(time.Minute) // the id never queued stops counting a minute after its admission
		requireInFlight(t, b, l, u.owner, 0, 0)

		for i := range 6 {
			require.True(t, b.admit(t, l, u, fmt.Sprint("next-", i)).Admitted, "every slot is free again")
		}
		require.False(t, b.admit(t, l, u, "next-6").Admitted)
	},
	"TenantInFlight": func(t *testing.T, b *limitBundle) {
		lim := noBuckets
		lim.UserMaxInFlight, lim.TenantMaxInFlight = 2, 3
		l := b.limiter(t, lim)
		alice, bob := b.user("alice"), b.user("bob")
		require.True(t, b.admit(t, l, alice, "a1").Admitted)
		require.True(t, b.admit(t, l, alice, "a2").Admitted)
		require.Equal(t, store.LimitUserInFlight, b.admit(t, l, alice, "a3").Limit)
		require.True(t, b.admit(t, l, bob, "b1").Admitted)
		require.Equal(t, store.Admission{Limit: store.LimitTenantInFlight, Max: 3, RetryAfter: store.InFlightRetryAfter}, b.admit(t, l, bob, "b2"))
		require.NoError(t, alice.q.FailRequest(b.ctx, store.ScopedID(b.tenant, "alice", "a1"), "done"))
		require.True(t, b.admit(t, l, bob, "b2").Admitted, "a finished request of another user frees the tenant's slot")
		requireInFlight(t, b, l, bob.owner, 2, 3)
	},
	"OffWritesNothing": func(t *testing.T, b *limitBundle) {
		l := b.limiter(t, store.NoLimits())
		for i := range 50 {
			require.True(t, b.admit(t, l, b.user("alice"), fmt.Sprint("r", i)).Admitted)
		}
		item, err := b.s.Limits.LoadLimits(b.ctx, b.tenant)
		require.NoError(t, err)
		require.Zero(t, item.Version, "no limit, no item")
	},
	"ManyRoutersAtOnce": func(t *testing.T, b *limitBundle) {
		// Every goroutine is a router admitting for the same user at once: the
		// conditional writes let exactly the cap in, however they interleave.
		lim := noBuckets
		lim.UserMaxInFlight = 10
		routers := make([]*store.Limiter, 4)
		for i := range routers {
			routers[i] = b.limiter(t, lim)
		}
		owner := b.user("alice").owner
		var admitted, refused atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				for {
					a, err := routers[i%len(routers)].Admit(b.ctx, owner, fmt.Sprint("r", i))
					if !assertNoError(t, err) {
						return
					}
					switch {
					case a.Admitted:
						admitted.Add(1)
					case a.Limit == store.LimitContention:
						continue // the client would retry after RetryAfter
					default:
						refused.Add(1)
					}
					return
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(10), admitted.Load())
		require.Equal(t, int32(20), refused.Load())
		requireInFlight(t, b, routers[0], owner, 10, 10)
	},
}

// requireInFlight checks what the limiter counts in flight for owner.
func requireInFlight(t *testing.T, b *limitBundle, l *store.Limiter, owner store.Owner, user, tenant int) {
	t.Helper()
	usage, err := l.InFlight(b.ctx, owner)
	require.NoError(t, err)
	require.Equal(t, store.Usage{UserInFlight: user, TenantInFlight: tenant}, usage)
}

// assertNoError reports err on t from any goroutine and returns whether it was nil.
func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
