package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
)

// Unlimited, as a Limits field, turns that limit off.
const Unlimited = -1

// Limits are the per-user and per-tenant limits on async requests: a cap on the requests
// in flight (admitted and not yet COMPLETED, FAILED or CANCELLED) and a token bucket on
// new ones (Rate tokens a second, at most Burst). A zero field takes its default
// (contract.DefaultUserMaxInFlight, ...); a negative one turns that limit off (a
// negative Rate or Burst turns the bucket off).
type Limits struct {
	// UserMaxInFlight caps one user's requests in flight. Default 10.
	UserMaxInFlight int
	// UserRate is one user's sustained rate of new requests per second. Default 1.
	UserRate float64
	// UserBurst is how many new requests one user may send at once. Default 20.
	UserBurst int
	// TenantMaxInFlight caps one tenant's requests in flight, at most
	// contract.MaxTrackedInFlight. Default 100.
	TenantMaxInFlight int
	// TenantRate is one tenant's sustained rate of new requests per second. Default 10.
	TenantRate float64
	// TenantBurst is how many new requests one tenant may send at once. Default 100.
	TenantBurst int
}

// NoLimits returns Limits with every limit turned off: a Limiter with them reads and
// writes nothing and admits every request.
func NoLimits() Limits {
	return Limits{UserMaxInFlight: Unlimited, UserRate: Unlimited, TenantMaxInFlight: Unlimited, TenantRate: Unlimited}
}

// WithDefaults returns l with every zero field set to its default, and an error for a
// value that cannot work (a rate that is not a finite number, a tenant cap over
// contract.MaxTrackedInFlight).
func (l Limits) WithDefaults() (Limits, error) {
	l.UserMaxInFlight = cmp.Or(l.UserMaxInFlight, contract.DefaultUserMaxInFlight)
	l.UserRate = cmp.Or(l.UserRate, contract.DefaultUserRate)
	l.UserBurst = cmp.Or(l.UserBurst, contract.DefaultUserBurst)
	l.TenantMaxInFlight = cmp.Or(l.TenantMaxInFlight, contract.DefaultTenantMaxInFlight)
	l.TenantRate = cmp.Or(l.TenantRate, contract.DefaultTenantRate)
	l.TenantBurst = cmp.Or(l.TenantBurst, contract.DefaultTenantBurst)
	switch {
	case math.IsNaN(l.UserRate) || math.IsInf(l.UserRate, 0) || math.IsNaN(l.TenantRate) || math.IsInf(l.TenantRate, 0):
		return l, errors.New("store: limits: a rate must be a finite number")
	case l.TenantMaxInFlight > contract.MaxTrackedInFlight:
		return l, fmt.Errorf("store: limits: TenantMaxInFlight %d is over %d", l.TenantMaxInFlight, contract.MaxTrackedInFlight)
	}
	return l, nil
}

// off reports whether every limit is turned off: nothing to read or write.
func (l Limits) off() bool {
	return l.UserMaxInFlight < 0 && l.TenantMaxInFlight < 0 && !bucketOn(l.UserRate, l.UserBurst) && !bucketOn(l.TenantRate, l.TenantBurst)
}

// tracking reports whether in-flight requests are counted (either cap is on).
func (l Limits) tracking() bool { return l.UserMaxInFlight >= 0 || l.TenantMaxInFlight >= 0 }

// tenantCap is the most requests a tenant may have in flight: its cap, or, when only
// users are capped, the most ids one item holds.
func (l Limits) tenantCap() int {
	if l.TenantMaxInFlight >= 0 {
		return l.TenantMaxInFlight
	}
	return contract.MaxTrackedInFlight
}

func bucketOn(rate float64, burst int) bool { return rate > 0 && burst > 0 }

// Which limit refused a request: Admission.Limit, and the error details the router sends.
const (
	LimitUserRate       = "user_rate"
	LimitTenantRate     = "tenant_rate"
	LimitUserInFlight   = "user_in_flight"
	LimitTenantInFlight = "tenant_in_flight"
	// LimitContention: the tenant's item kept changing under this admission (many routers
	// admitting for the tenant at once).
	LimitContention = "contention"
)

// Admission is a Limiter's decision on one new async request.
type Admission struct {
	// Admitted is true when the request may be queued.
	Admitted bool
	// Limit names the limit that refused it (a Limit* constant).
	Limit string
	// Max is that limit's value: requests in flight, or requests per second.
	Max float64
	// RetryAfter is when the client may try again: the time until the bucket holds a
	// token, or InFlightRetryAfter for a full in-flight set.
	RetryAfter time.Duration
}

// Pauses suggested to a refused client, and how long an admitted id may be missing from
// the Requests table before it stops counting.
const (
	// InFlightRetryAfter is the wait suggested when an in-flight cap is full: how soon a
	// request ends cannot be known.
	InFlightRetryAfter = time.Second
	// ContentionRetryAfter is the wait suggested when the tenant's item stayed contended.
	ContentionRetryAfter = 100 * time.Millisecond
	// missingGrace is how long an admitted id counts while its request is not in the
	// Requests table yet: the router enqueues right after admitting, well within it. An
	// id missing for longer was never enqueued, or TTL deleted its request.
	missingGrace = time.Minute
	// admitTries bounds Admit's read and conditional write loop under contention: with
	// the waits of sleepJitter, about a second.
	admitTries = 20
	// limitItemTTL keeps an idle tenant's item this long after its last write.
	limitItemTTL = contract.RequestTTL
)

// LimitItem is a tenant's item in the Limits table as stored.
type LimitItem struct {
	// State is the JSON text of the buckets and in-flight sets (the Limiter's encoding).
	State json.RawMessage
	// Version is incremented by every write; 0 for a tenant without an item.
	Version int64
	// TTL is the item's expiry, Unix seconds.
	TTL int64
}

// LimitTable is the storage a Limiter runs on: one item per tenant, read consistently
// and written only if its version is unchanged. dynamostore implements it with GetItem
// and a conditional PutItem, memstore with a map.
type LimitTable interface {
	// LoadLimits returns the tenant's item, expired or not; the zero LimitItem when there
	// is none.
	LoadLimits(ctx context.Context, tenantID string) (LimitItem, error)
	// SaveLimits stores item for the tenant if the stored version is still prev (0: no
	// item); item.Version is prev+1. ErrConflict when another write came first.
	SaveLimits(ctx context.Context, tenantID string, item LimitItem, prev int64) error
}

// RequestReader reads requests in bulk, as stored (expired or not); *Queue implements it.
type RequestReader interface {
	LoadMany(ctx context.Context, ids []string) (map[string]*AsyncRequest, error)
}

var _ RequestReader = (*Queue)(nil)

// Limiter applies Limits to new async requests across any number of routers: the state
// lives in the tenant's LimitTable item, every write is conditional on its version, and
// the rules are here once for every store. Requests in flight are the ids it admitted
// whose requests are not finished; it reads their statuses only when a cap is reached,
// so a request that ends releases its slot without any write.
type Limiter struct {
	table    LimitTable
	requests RequestReader
	limits   Limits
	now      func() time.Time
	// tenants serialises the admissions of one tenant within this process (striped by
	// a hash of the tenant id): routers in one process then never race each other for
	// the item, only routers in other processes do.
	tenants [64]sync.Mutex
}

// NewLimiter returns a Limiter over table that reads request statuses from requests;
// now is its clock (time.Now when nil).
func NewLimiter(table LimitTable, requests RequestReader, limits Limits, now func() time.Time) (*Limiter, error) {
	limits, err := limits.WithDefaults()
	if err != nil {
		return nil, err
	}
	if table == nil || requests == nil {
		return nil, errors.New("store: limiter: table and requests are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{table: table, requests: requests, limits: limits, now: now}, nil
}

// Limits returns the limits in force, defaults filled in.
func (l *Limiter) Limits() Limits { return l.limits }

// Admit decides whether owner may queue the request clientID, and records it as in
// flight when admitted. It costs one consistent read of the tenant's item and, unless a
// bucket refused the request or the id was admitted before, one conditional write of it
// (retried from a fresh read when another router wrote first). When a cap is full it
// first reads the statuses of the ids it holds, and drops the finished ones.
func (l *Limiter) Admit(ctx context.Context, owner Owner, clientID string) (Admission, error) {
	if l.limits.off() {
		return Admission{Admitted: true}, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(owner.TenantID)) // a hash never fails to write
	mu := &l.tenants[h.Sum32()%uint32(len(l.tenants))]
	mu.Lock()
	defer mu.Unlock()
	for try := range admitTries {
		item, err := l.table.LoadLimits(ctx, owner.TenantID)
		if err != nil {
			return Admission{}, err
		}
		now := l.now()
		st, err := decodeLimitState(item, now)
		if err != nil {
			return Admission{}, err
		}
		a, write, err := l.decide(ctx, st, owner, clientID, now)
		if err != nil || !write {
			return a, err
		}
		state, err := json.Marshal(st)
		if err != nil {
			return Admission{}, fmt.Errorf("store: limits of %s: %w", owner.TenantID, err)
		}
		next := LimitItem{State: state, Version: item.Version + 1, TTL: now.Add(limitItemTTL).Unix()}
		err = l.table.SaveLimits(ctx, owner.TenantID, next, item.Version)
		if !errors.Is(err, ErrConflict) {
			return a, err
		}
		if err := sleepJitter(ctx, try); err != nil {
			return Admission{}, err
		}
	}
	return Admission{Limit: LimitContention, RetryAfter: ContentionRetryAfter}, nil
}

// decide applies the limits to st at now, changing st, and reports whether st must be
// written.
func (l *Limiter) decide(ctx context.Context, st *limitState, owner Owner, clientID string, now time.Time) (Admission, bool, error) {
	lim := l.limits
	u := st.user(owner.UserID)
	if _, ok := u.InFlight[clientID]; ok {
		return Admission{Admitted: true}, false, nil // a resend: the router answers it with the request's status
	}
	userTokens := refill(&u.bucket, lim.UserRate, lim.UserBurst, now)
	tenantTokens := refill(&st.bucket, lim.TenantRate, lim.TenantBurst, now)
	if bucketOn(lim.UserRate, lim.UserBurst) && userTokens < 1 {
		return refused(LimitUserRate, lim.UserRate, (1-userTokens)/lim.UserRate), false, nil
	}
	if bucketOn(lim.TenantRate, lim.TenantBurst) && tenantTokens < 1 {
		return refused(LimitTenantRate, lim.TenantRate, (1-tenantTokens)/lim.TenantRate), false, nil
	}
	take(&u.bucket, lim.UserRate, lim.UserBurst, userTokens, now)
	take(&st.bucket, lim.TenantRate, lim.TenantBurst, tenantTokens, now)
	if lim.tracking() {
		if limit, _ := l.full(st, u, lim); limit != "" {
			if err := l.prune(ctx, st, owner.TenantID, limit == LimitTenantInFlight, owner.UserID, now); err != nil {
				return Admission{}, false, err
			}
			if limit, capacity := l.full(st, u, lim); limit != "" {
				st.compact(lim, now)
				return Admission{Limit: limit, Max: float64(capacity), RetryAfter: InFlightRetryAfter}, true, nil
			}
		}
		if u.InFlight == nil {
			u.InFlight = make(map[string]int64)
		}
		u.InFlight[clientID] = now.UnixMilli()
	}
	st.compact(lim, now)
	return Admission{Admitted: true}, true, nil
}

// full returns the in-flight limit that one more request of user u would reach beyond,
// and its value; "" when there is room.
func (l *Limiter) full(st *limitState, u *userState, lim Limits) (string, int) {
	if lim.UserMaxInFlight >= 0 && len(u.InFlight) >= lim.UserMaxInFlight {
		return LimitUserInFlight, lim.UserMaxInFlight
	}
	if st.inFlight() >= lim.tenantCap() {
		return LimitTenantInFlight, lim.tenantCap()
	}
	return "", 0
}

// prune drops from the in-flight sets the ids whose requests are finished, expired, or
// missing for longer than missingGrace: every user's set when tenant is true, else the
// user's.
func (l *Limiter) prune(ctx context.Context, st *limitState, tenantID string, tenant bool, userID string, now time.Time) error {
	users := []string{userID}
	if tenant {
		users = slices.Collect(maps.Keys(st.Users))
	}
	var ids []string
	for _, user := range users {
		for clientID := range st.Users[user].InFlight {
			ids = append(ids, ScopedID(tenantID, user, clientID))
		}
	}
	found, err := l.requests.LoadMany(ctx, ids)
	if err != nil {
		return fmt.Errorf("store: limits of %s: reading requests in flight: %w", tenantID, err)
	}
	for _, user := range users {
		u := st.Users[user]
		for clientID, admitted := range u.InFlight {
			r, ok := found[ScopedID(tenantID, user, clientID)]
			if (ok && (r.Status.Terminal() || r.Expired(now))) || (!ok && now.Sub(time.UnixMilli(admitted)) > missingGrace) {
				delete(u.InFlight, clientID)
			}
		}
	}
	return nil
}

// Usage is what an owner has in flight.
type Usage struct {
	UserInFlight   int // the user's requests in flight
	TenantInFlight int // the tenant's requests in flight, the user's included
}

// InFlight returns owner's requests in flight now: the ids held in the tenant's item
// whose requests are not finished (it reads them all). It writes nothing.
func (l *Limiter) InFlight(ctx context.Context, owner Owner) (Usage, error) {
	item, err := l.table.LoadLimits(ctx, owner.TenantID)
	if err != nil {
		return Usage{}, err
	}
	now := l.now()
	st, err := decodeLimitState(item, now)
	if err != nil {
		return Usage{}, err
	}
	if err := l.prune(ctx, st, owner.TenantID, true, owner.UserID, now); err != nil {
		return Usage{}, err
	}
	return Usage{UserInFlight: len(st.user(owner.UserID).InFlight), TenantInFlight: st.inFlight()}, nil
}

// refused is the refusal by a bucket that gets its next token in waitSeconds, rounded up
// to a whole millisecond (less a hair for floating point error): a client that retries
// after it finds the token there.
func refused(limit string, max, waitSeconds float64) Admission {
	ms := math.Ceil(waitSeconds*1000 - 1e-6)
	return Admission{Limit: limit, Max: max, RetryAfter: time.Duration(ms) * time.Millisecond}
}

// limitState is a tenant's item: the tenant's bucket and, per user, a bucket and the
// requests in flight. A user whose bucket is full and who has nothing in flight is not
// stored (that is the state of a user never seen), so the item holds only active users.
type limitState struct {
	bucket
	Users map[string]*userState `json:"u,omitempty"`
}

// bucket is a token bucket: Tokens at time At (Unix milliseconds). A bucket never
// written (At 0) is full.
type bucket struct {
	Tokens float64 `json:"t"`
	At     int64   `json:"at,omitempty"`
}

// userState is one user's bucket and requests in flight: client id -> when it was
// admitted (Unix milliseconds).
type userState struct {
	bucket
	InFlight map[string]int64 `json:"f,omitempty"`
}

func decodeLimitState(item LimitItem, now time.Time) (*limitState, error) {
	st := &limitState{}
	if len(item.State) > 0 && (item.TTL == 0 || now.Unix() < item.TTL) {
		if err := json.Unmarshal(item.State, st); err != nil {
			return nil, fmt.Errorf("%w: limits state: %w", ErrInvalidImage, err)
		}
	}
	if st.Users == nil {
		st.Users = make(map[string]*userState)
	}
	return st, nil
}

// user returns the user's state, adding an empty one.
func (st *limitState) user(userID string) *userState {
	u, ok := st.Users[userID]
	if !ok {
		u = &userState{}
		st.Users[userID] = u
	}
	return u
}

// inFlight is the tenant's number of requests in flight.
func (st *limitState) inFlight() int {
	n := 0
	for _, u := range st.Users {
		n += len(u.InFlight)
	}
	return n
}

// compact drops the users that carry no information at now: a full bucket and nothing
// in flight, the state of a user never seen.
func (st *limitState) compact(lim Limits, now time.Time) {
	maps.DeleteFunc(st.Users, func(_ string, u *userState) bool {
		return len(u.InFlight) == 0 && refill(&u.bucket, lim.UserRate, lim.UserBurst, now) >= float64(lim.UserBurst)
	})
}

// refill returns the tokens of b at now (a bucket that is off has none to count).
func refill(b *bucket, rate float64, burst int, now time.Time) float64 {
	if !bucketOn(rate, burst) || b.At == 0 {
		return float64(burst)
	}
	elapsed := max(0, float64(now.UnixMilli()-b.At)/1000)
	return min(float64(burst), b.Tokens+elapsed*rate)
}

// take stores tokens-1 in b at now; a bucket that is full again is reset to never
// written, and a bucket that is off stays so.
func take(b *bucket, rate float64, burst int, tokens float64, now time.Time) {
	if !bucketOn(rate, burst) {
		*b = bucket{}
		return
	}
	b.Tokens, b.At = tokens-1, now.UnixMilli()
}

// sleepJitter waits before retry try+1 of a contended write: a random time up to
// 5 ms x 2^try, at most 100 ms, so that routers that collided spread out.
func sleepJitter(ctx context.Context, try int) error {
	d := time.Duration(rand.Int64N(min(int64(5*time.Millisecond)<<min(try, 5), int64(100*time.Millisecond))))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
