// Package dynamostore keeps Streamer's connections and requests in DynamoDB, on
// github.com/guregu/dynamo/v2. Every status change is one conditional UpdateItem, Enqueue
// one conditional PutItem; the rules themselves live in store.Queue, shared with memstore,
// and the item encoding is store.EncodeImage, the same the Requests table's stream carries.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// Tables names the three tables.
type Tables struct {
	Connections string // the Connections table
	Requests    string // the Requests table (stream NEW_IMAGE)
	Limits      string // the Limits table (one item per tenant)
}

// Store keeps connections, requests and limits in DynamoDB. Connections, Requests and
// Limits return its stores; each needs only its own table name.
type Store struct {
	conns  *Connections
	queue  *store.Queue
	limits limitTable
}

// New returns a Store on db's tables.
func New(db *dynamo.DB, tables Tables) *Store {
	return &Store{
		conns:  &Connections{table: db.Table(tables.Connections), now: time.Now},
		queue:  store.NewQueue(requestTable{table: db.Table(tables.Requests)}, time.Now),
		limits: limitTable{table: db.Table(tables.Limits)},
	}
}

// Connections returns the connection store.
func (s *Store) Connections() *Connections { return s.conns }

// Requests returns the request queue.
func (s *Store) Requests() *store.Queue { return s.queue }

// Limits returns the limits table, for a store.Limiter.
func (s *Store) Limits() store.LimitTable { return s.limits }

// requestTable implements store.RequestTable on the Requests table.
type requestTable struct{ table dynamo.Table }

var _ store.RequestTable = requestTable{}

// Create implements store.RequestTable with a PutItem that succeeds only when no live
// request has the id (an expired one, not yet deleted by TTL, is replaced).
func (t requestTable) Create(ctx context.Context, r *store.AsyncRequest, now time.Time) error {
	img, err := store.EncodeImage(r)
	if err != nil {
		return err
	}
	if err := store.CheckItemSize(img); err != nil {
		return err
	}
	err = t.table.Put(toItem(img)).
		If("attribute_not_exists($) OR (attribute_exists($) AND $ <= ?)",
			contract.AttrRequestID, contract.AttrTTL, contract.AttrTTL, now.Unix()).
		Run(ctx)
	return mapErr(err, "create request "+r.RequestID)
}

// Load implements store.RequestTable with a strongly consistent GetItem.
func (t requestTable) Load(ctx context.Context, requestID string) (*store.AsyncRequest, error) {
	var item dynamo.Item
	err := t.table.Get(contract.AttrRequestID, requestID).Consistent(true).One(ctx, &item)
	if err != nil {
		return nil, mapErr(err, "get request "+requestID)
	}
	return decodeItem(item)
}

// Update implements store.RequestTable with one conditional UpdateItem returning ALL_NEW.
func (t requestTable) Update(ctx context.Context, requestID string, tr store.Transition) (*store.AsyncRequest, error) {
	u := t.table.Update(contract.AttrRequestID, requestID)
	for name, v := range tr.Set {
		u.Set(name, toAV(v))
	}
	if len(tr.Remove) > 0 {
		u.Remove(tr.Remove...)
	}
	for _, name := range tr.Increment {
		u.Add(name, 1)
	}
	expr, args := condition(tr.Cond)
	var item dynamo.Item
	if err := u.If(expr, args...).Value(ctx, &item); err != nil {
		return nil, mapErr(err, "update request "+requestID)
	}
	return decodeItem(item)
}

// LoadMany implements store.RequestTable with strongly consistent BatchGetItem calls (100
// keys each; unprocessed keys are retried).
func (t requestTable) LoadMany(ctx context.Context, ids []string) (map[string]*store.AsyncRequest, error) {
	out := make(map[string]*store.AsyncRequest, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]dynamo.Keyed, len(ids))
	for i, id := range ids {
		keys[i] = dynamo.Keys{id}
	}
	var items []dynamo.Item
	err := t.table.Batch(contract.AttrRequestID).Get(keys...).Consistent(true).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, mapErr(err, fmt.Sprintf("batch get %d requests", len(ids)))
	}
	for _, item := range items {
		r, err := decodeItem(item)
		if err != nil {
			return nil, err
		}
		out[r.RequestID] = r
	}
	return out, nil
}

// Unfinished implements store.RequestTable with a Query of the unfinished index.
func (t requestTable) Unfinished(ctx context.Context, shard string, createdBefore time.Time) ([]string, error) {
	var keys []struct {
		RequestID string `dynamo:"request_id"`
	}
	err := t.table.Get(contract.AttrUnfinishedShard, shard).Index(contract.IndexUnfinished).
		Range(contract.AttrCreatedAt, dynamo.Less, store.FormatTime(createdBefore)).
		All(ctx, &keys)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, mapErr(err, "query "+contract.IndexUnfinished+" shard "+shard)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.RequestID
	}
	return ids, nil
}

func decodeItem(item dynamo.Item) (*store.AsyncRequest, error) {
	img, err := fromItem(item)
	if err != nil {
		return nil, err
	}
	return store.DecodeImage(img)
}

// condition renders c as a ConditionExpression, clause for clause what c.Check tests.
func condition(c store.Condition) (string, []any) {
	clauses := []string{"attribute_exists($)", "(attribute_not_exists($) OR $ > ?)"}
	args := []any{contract.AttrRequestID, contract.AttrTTL, contract.AttrTTL, c.Now.Unix()}
	if c.Owner != nil {
		for _, a := range [][2]string{{contract.AttrTenantID, c.Owner.TenantID}, {contract.AttrUserID, c.Owner.UserID}} {
			if a[1] == "" { // empty strings are not stored
				clauses = append(clauses, "attribute_not_exists($)")
				args = append(args, a[0])
			} else {
				clauses = append(clauses, "$ = ?")
				args = append(args, a[0], a[1])
			}
		}
	}
	if len(c.Statuses) > 0 {
		alts := make([]string, 0, len(c.Statuses))
		for _, s := range c.Statuses {
			alt := []string{"$ = ?"}
			args = append(args, contract.AttrStatus, string(s))
			before := func(attr string, t time.Time) {
				alt = append(alt, "(attribute_not_exists($) OR $ < ?)")
				args = append(args, attr, attr, store.FormatTime(t))
			}
			if s == store.StatusProcessing && c.LeaseExpired {
				before(contract.AttrLeaseUntil, c.Now)
			}
			if !c.StaleBefore.IsZero() {
				switch s {
				case store.StatusProcessing:
					before(contract.AttrLeaseUntil, c.StaleBefore)
				case store.StatusPending:
					before(contract.AttrUpdatedAt, c.StaleBefore)
				}
			}
			alts = append(alts, group(alt, " AND "))
		}
		clauses = append(clauses, group(alts, " OR "))
	}
	if c.LeaseHolder != "" {
		clauses = append(clauses, "$ = ?")
		args = append(args, contract.AttrLeaseOwner, c.LeaseHolder)
	}
	return strings.Join(clauses, " AND "), args
}

// group joins clauses with op, in parentheses when there is more than one (DynamoDB
// refuses redundant parentheses).
func group(clauses []string, op string) string {
	if len(clauses) == 1 {
		return clauses[0]
	}
	return "(" + strings.Join(clauses, op) + ")"
}

// mapErr converts dynamo and SDK errors to the store's sentinels at the boundary.
func mapErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dynamo.ErrNotFound):
		return fmt.Errorf("%w: %s", store.ErrNotFound, what)
	case dynamo.IsCondCheckFailed(err):
		return fmt.Errorf("%w: %s", store.ErrConflict, what)
	case isItemTooLarge(err):
		return fmt.Errorf("%w: %s: %w", store.ErrTooLarge, what, err)
	}
	return fmt.Errorf("dynamostore: %s: %w", what, err)
}

// isItemTooLarge reports DynamoDB's ValidationException for an item over 400 KB ("Item
// size has exceeded the maximum allowed size", "Item size to update has exceeded ...").
func isItemTooLarge(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(ae.ErrorMessage()), "item size")
}
