package store

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
)

// Condition is what a stored request must satisfy for a Transition: it must exist and be
// live (not past its ttl) at Now, plus every field that is set. dynamostore renders it as
// a ConditionExpression; Check evaluates it in Go (memstore, and the classification of a
// failed conditional write), so both stores apply the same rule.
type Condition struct {
	// Now decides liveness: ttl absent or after Now.
	Now time.Time
	// Statuses, when set, lists the statuses the request may be in.
	Statuses []RequestStatus
	// LeaseHolder, when set, must equal lease_owner.
	LeaseHolder string
	// LeaseExpired, when set, narrows StatusProcessing in Statuses to a request whose
	// lease_until is before Now (or absent); other statuses are admitted as they are.
	LeaseExpired bool
	// StaleBefore, when set, narrows StatusPending in Statuses to a request not written
	// since (updated_at before it) and StatusProcessing to one whose lease ended before it
	// (lease_until before it, or absent): a request nobody is working on.
	StaleBefore time.Time
	// Owner, when set, must match tenant_id and user_id.
	Owner *Owner
}

// Check reports whether r, as stored, satisfies c: nil, or ErrNotFound (r is nil,
// expired or someone else's), or ErrConflict wrapped with the reason.
func (c Condition) Check(r *AsyncRequest) error {
	switch {
	case r == nil:
		return ErrNotFound
	case r.Expired(c.Now):
		return fmt.Errorf("%w: request %s expired", ErrNotFound, r.RequestID)
	case c.Owner != nil && (r.TenantID != c.Owner.TenantID || r.UserID != c.Owner.UserID):
		return fmt.Errorf("%w: request %s", ErrNotFound, r.RequestID)
	case len(c.Statuses) > 0 && !slices.Contains(c.Statuses, r.Status):
		return fmt.Errorf("%w: request %s is %s", ErrConflict, r.RequestID, r.Status)
	case c.LeaseExpired && r.Status == StatusProcessing && slices.Contains(c.Statuses, StatusProcessing) && !r.LeaseUntil.Before(c.Now):
		return fmt.Errorf("%w: request %s is leased to %s until %s", ErrConflict, r.RequestID, r.LeaseOwner, FormatTime(r.LeaseUntil))
	case !c.StaleBefore.IsZero() && r.Status == StatusProcessing && !r.LeaseUntil.Before(c.StaleBefore):
		return fmt.Errorf("%w: request %s is leased until %s", ErrConflict, r.RequestID, FormatTime(r.LeaseUntil))
	case !c.StaleBefore.IsZero() && r.Status == StatusPending && !r.UpdatedAt.Before(c.StaleBefore):
		return fmt.Errorf("%w: request %s was written at %s", ErrConflict, r.RequestID, FormatTime(r.UpdatedAt))
	case c.LeaseHolder != "" && r.LeaseOwner != c.LeaseHolder:
		return fmt.Errorf("%w: request %s: lease of %s lost (held by %q)", ErrConflict, r.RequestID, c.LeaseHolder, r.LeaseOwner)
	}
	return nil
}

// Transition is one conditional write of a request: if Cond holds, set the attributes in
// Set (encoded as EncodeImage encodes them), delete those in Remove, and add one to each
// number attribute in Increment (an absent one counts as 0). A RequestTable applies it
// atomically.
type Transition struct {
	Cond      Condition
	Set       map[string]events.DynamoDBAttributeValue
	Remove    []string
	Increment []string
}

// Apply returns the request r becomes under t (r itself is not modified). It does not
// check Cond; in-memory tables call Check first. ErrTooLarge when the new item is over
// the item limit.
func (t Transition) Apply(r *AsyncRequest) (*AsyncRequest, error) {
	item, err := EncodeImage(r)
	if err != nil {
		return nil, err
	}
	for _, name := range t.Remove {
		delete(item, name)
	}
	for name, v := range t.Set {
		item[name] = v
	}
	for _, name := range t.Increment {
		n := int64(0)
		if v, ok := item[name]; ok && v.DataType() == events.DataTypeNumber {
			if n, err = strconv.ParseInt(v.Number(), 10, 64); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidImage, name, err)
			}
		}
		item[name] = events.NewNumberAttribute(strconv.FormatInt(n+1, 10))
	}
	if err := CheckItemSize(item); err != nil {
		return nil, err
	}
	return DecodeImage(item)
}

// change builds a Transition's Set and Remove from a partial request: each named
// attribute is set to its encoding in r, or removed when r leaves it empty. Encoding
// through EncodeImage keeps updates byte-for-byte what a full write would store.
func change(cond Condition, r *AsyncRequest, names ...string) (Transition, error) {
	r.RequestID = "-" // only the named attributes are used
	if r.Status.Terminal() && slices.Contains(names, contract.AttrStatus) {
		// A finished request leaves the unfinished index.
		names = append(slices.Clip(names), contract.AttrUnfinishedShard)
	}
	item, err := EncodeImage(r)
	if err != nil {
		return Transition{}, err
	}
	t := Transition{Cond: cond, Set: make(map[string]events.DynamoDBAttributeValue, len(names))}
	for _, name := range names {
		if v, ok := item[name]; ok {
			t.Set[name] = v
		} else {
			t.Remove = append(t.Remove, name)
		}
	}
	return t, nil
}

// progressNames are the attributes a progress write sets.
var progressNames = []string{contract.AttrProgress, contract.AttrProgressMessage, contract.AttrProgressMetadata, contract.AttrUpdatedAt}

// progressWrite returns the attributes a write of p sets: progressNames, and the
// checkpoint when p carries one (nil keeps the stored one).
func progressWrite(p ProgressState, names ...string) []string {
	names = slices.Concat(progressNames, names)
	if len(p.Checkpoint) > 0 {
		names = append(names, contract.AttrCheckpoint)
	}
	return names
}

// withProgress copies p into r.
func withProgress(r *AsyncRequest, p ProgressState) (*AsyncRequest, error) {
	r.Progress, r.ProgressMessage, r.Checkpoint = p.Percentage, p.Message, p.Checkpoint
	if len(p.Metadata) > 0 {
		meta, err := marshalJSON(p.Metadata)
		if err != nil {
			return nil, fmt.Errorf("store: progress metadata: %w", err)
		}
		r.ProgressMetadata = meta
	}
	return r, nil
}

// live is the condition of a request that exists and has not expired.
func live(now time.Time, statuses ...RequestStatus) Condition {
	return Condition{Now: now, Statuses: statuses}
}

// held is the condition of a PROCESSING request whose lease owner holds.
func held(now time.Time, owner string) Condition {
	return Condition{Now: now, Statuses: []RequestStatus{StatusProcessing}, LeaseHolder: owner}
}

var nonTerminal = []RequestStatus{StatusPending, StatusProcessing}
