// Package memstore keeps Streamer's connections and requests in memory, with the same
// behaviour as dynamostore (both pass storetest), plus Feed, a change feed that behaves
// like the Requests table's single-shard DynamoDB stream. It is the embedded default of
// the local stack and a fast store for tests.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/store"
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Now is the clock for timestamps, TTL checks and feed times. Default time.Now.
	Now func() time.Time
	// Region is the awsRegion of feed records. Default "us-east-1".
	Region string
	// FeedRetention is how long feed records are kept. Default 24 h (DynamoDB Streams).
	FeedRetention time.Duration
	// FeedMaxRecords caps the records kept, so memory stays bounded. Default 10,000.
	FeedMaxRecords int
	// SweepInterval is how often a write also deletes expired items, as DynamoDB's TTL
	// process does (a REMOVE record for each request). Default 1 minute.
	SweepInterval time.Duration
}

// Store holds connections and requests in memory. Connections and Requests return its
// two stores; Feed its change feed. It is safe for concurrent use; every value goes in
// and out as a copy.
type Store struct {
	now   func() time.Time
	sweep time.Duration
	feed  *Feed
	conns *Connections
	queue *store.Queue

	mu          sync.Mutex
	connections map[string]*store.Connection
	requests    map[string]*store.AsyncRequest
	limits      map[string]store.LimitItem
	lastSweep   time.Time
}

// New returns an empty Store.
func New(opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{
		now:         now,
		sweep:       cmp.Or(opts.SweepInterval, time.Minute),
		feed:        newFeed(cmp.Or(opts.Region, "us-east-1"), cmp.Or(opts.FeedRetention, 24*time.Hour), cmp.Or(opts.FeedMaxRecords, 10_000)),
		connections: make(map[string]*store.Connection),
		requests:    make(map[string]*store.AsyncRequest),
		limits:      make(map[string]store.LimitItem),
	}
	s.conns = &Connections{s: s}
	s.queue = store.NewQueue(requestTable{s: s}, s.now)
	s.lastSweep = s.now()
	return s
}

// Connections returns the connection store.
func (s *Store) Connections() *Connections { return s.conns }

// Requests returns the request queue.
func (s *Store) Requests() *store.Queue { return s.queue }

// Feed returns the change feed of the requests.
func (s *Store) Feed() *Feed { return s.feed }

// Limits returns the limits table (one item per tenant), for a store.Limiter.
func (s *Store) Limits() store.LimitTable { return limitTable{s: s} }

// PurgeExpired deletes every expired connection and request now, as DynamoDB's TTL
// process eventually does, appending a REMOVE record (userIdentity
// dynamodb.amazonaws.com) for each request. It returns how many items it deleted.
// Writes also call it every SweepInterval.
func (s *Store) PurgeExpired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purgeLocked(s.now())
}

func (s *Store) purgeLocked(now time.Time) int {
	s.lastSweep = now
	n := 0
	for id, c := range s.connections {
		if c.Expired(now) {
			delete(s.connections, id)
			n++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.requests)) {
		if s.requests[id].Expired(now) {
			delete(s.requests, id)
			s.feed.append(string(events.DynamoDBOperationTypeRemove), id, nil, true, now)
			n++
		}
	}
	return n
}

// lock takes the mutex for a write, first sweeping expired items when it is time.
func (s *Store) lock(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	now := s.now()
	if now.Sub(s.lastSweep) >= s.sweep {
		s.purgeLocked(now)
	}
	return now, nil
}

// requestTable implements store.RequestTable on the Store's map.
type requestTable struct{ s *Store }

var _ store.RequestTable = requestTable{}

// Create implements store.RequestTable.
func (t requestTable) Create(ctx context.Context, r *store.AsyncRequest, now time.Time) error {
	item, err := store.EncodeImage(r)
	if err != nil {
		return err
	}
	if err := store.CheckItemSize(item); err != nil {
		return err
	}
	stored, err := store.DecodeImage(item)
	if err != nil {
		return err
	}
	s := t.s
	writeTime, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	event := events.DynamoDBOperationTypeInsert
	if cur, ok := s.requests[r.RequestID]; ok {
		if !cur.Expired(now) {
			return fmt.Errorf("%w: request %s exists", store.ErrConflict, r.RequestID)
		}
		event = events.DynamoDBOperationTypeModify
	}
	s.requests[r.RequestID] = stored
	s.feed.append(string(event), r.RequestID, item, false, writeTime)
	return nil
}

// Load implements store.RequestTable.
func (t requestTable) Load(ctx context.Context, requestID string) (*store.AsyncRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[requestID]
	if !ok {
		return nil, fmt.Errorf("%w: request %s", store.ErrNotFound, requestID)
	}
	return cloneRequest(r), nil
}

// Update implements store.RequestTable.
func (t requestTable) Update(ctx context.Context, requestID string, tr store.Transition) (*store.AsyncRequest, error) {
	s := t.s
	now, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	cur, ok := s.requests[requestID]
	if !ok {
		return nil, fmt.Errorf("%w: request %s", store.ErrNotFound, requestID)
	}
	if err := tr.Cond.Check(cur); err != nil {
		return nil, err
	}
	next, err := tr.Apply(cur)
	if err != nil {
		return nil, err
	}
	item, err := store.EncodeImage(next)
	if err != nil {
		return nil, err
	}
	s.requests[requestID] = next
	s.feed.append(string(events.DynamoDBOperationTypeModify), requestID, item, false, now)
	return cloneRequest(next), nil
}

// LoadMany implements store.RequestTable.
func (t requestTable) LoadMany(ctx context.Context, ids []string) (map[string]*store.AsyncRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*store.AsyncRequest, len(ids))
	for _, id := range ids {
		if r, ok := s.requests[id]; ok {
			out[id] = cloneRequest(r)
		}
	}
	return out, nil
}

// Unfinished implements store.RequestTable: the requests an index keyed by
// unfinished_shard would hold (those not finished, expired or not), oldest first.
func (t requestTable) Unfinished(ctx context.Context, shard string, createdBefore time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*store.AsyncRequest
	for id, r := range s.requests {
		if !r.Status.Terminal() && store.UnfinishedShard(id) == shard && r.CreatedAt.Before(createdBefore) {
			found = append(found, r)
		}
	}
	slices.SortFunc(found, func(a, b *store.AsyncRequest) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.RequestID, b.RequestID))
	})
	ids := make([]string, len(found))
	for i, r := range found {
		ids[i] = r.RequestID
	}
	return ids, nil
}

// limitTable implements store.LimitTable on the Store's map.
type limitTable struct{ s *Store }

var _ store.LimitTable = limitTable{}

// LoadLimits implements store.LimitTable.
func (t limitTable) LoadLimits(ctx context.Context, tenantID string) (store.LimitItem, error) {
	if err := ctx.Err(); err != nil {
		return store.LimitItem{}, err
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	item := t.s.limits[tenantID]
	item.State = bytes.Clone(item.State)
	return item, nil
}

// SaveLimits implements store.LimitTable.
func (t limitTable) SaveLimits(ctx context.Context, tenantID string, item store.LimitItem, prev int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if cur := t.s.limits[tenantID]; cur.Version != prev {
		return fmt.Errorf("%w: limits of %s are at version %d, not %d", store.ErrConflict, tenantID, cur.Version, prev)
	}
	item.State = bytes.Clone(item.State)
	t.s.limits[tenantID] = item
	return nil
}

// cloneRequest returns a deep copy of r.
func cloneRequest(r *store.AsyncRequest) *store.AsyncRequest {
	c := *r
	c.Payload = bytes.Clone(r.Payload)
	c.ProgressMetadata = bytes.Clone(r.ProgressMetadata)
	c.Result = bytes.Clone(r.Result)
	c.Error = bytes.Clone(r.Error)
	return &c
}
