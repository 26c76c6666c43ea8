package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// Feed errors.
var (
	// ErrTrimmed: the checkpoint is older than the oldest record kept, so records after
	// it were dropped (DynamoDB Streams' TrimmedDataAccessException). Read from "" (the
	// trim horizon) to go on.
	ErrTrimmed = errors.New("memstore: checkpoint is past the feed's retention")
	// ErrBadSequence: the checkpoint is not a sequence number of this feed.
	ErrBadSequence = errors.New("memstore: bad sequence number")
)

// Stream record constants, as DynamoDB Streams writes them.
const (
	eventSource    = "aws:dynamodb"
	eventVersion   = "1.1"
	streamViewType = string(events.DynamoDBStreamViewTypeNewImage)
	// ttlPrincipal is the userIdentity of a REMOVE made by TTL expiry.
	ttlPrincipal = "dynamodb.amazonaws.com"
	// sequenceDigits makes sequence numbers fixed width, so string order is feed order.
	sequenceDigits = 21
)

// Feed is the change feed of the Requests table: like a DynamoDB stream with a single
// shard and view type NEW_IMAGE. Every write that changes a request appends one record
// (INSERT, MODIFY, or REMOVE for a TTL expiry) with an increasing, zero-padded
// SequenceNumber. Records are kept for the retention period and up to a maximum count,
// oldest dropped first. A reader keeps its own checkpoint (the SequenceNumber of the
// last record it processed) and calls Read; several readers may read at once.
type Feed struct {
	region    string
	arn       string
	retention time.Duration
	max       int

	mu      sync.Mutex
	records []events.DynamoDBEventRecord // oldest first, sequence numbers contiguous
	first   uint64                       // sequence number of records[0], or next when empty
	next    uint64                       // sequence number of the next record
	changed chan struct{}                // closed at the next append
}

func newFeed(region string, retention time.Duration, maxRecords int) *Feed {
	return &Feed{
		region:    region,
		arn:       "arn:aws:dynamodb:" + region + ":000000000000:table/requests/stream/memstore",
		retention: retention,
		max:       maxRecords,
		first:     1,
		next:      1,
		changed:   make(chan struct{}),
	}
}

// Read returns, in order, up to max records that come after the checkpoint after (""
// reads from the oldest record kept). When there is none yet it waits for one until ctx
// ends (then it returns ctx.Err()); records already there are returned even when ctx is
// done, so a done ctx makes a non-blocking poll. ErrTrimmed when records after the
// checkpoint were already dropped. The records are copies: readers may keep or modify
// them.
func (f *Feed) Read(ctx context.Context, after string, max int) ([]events.DynamoDBEventRecord, error) {
	if max <= 0 {
		return nil, fmt.Errorf("memstore: feed read: max %d must be positive", max)
	}
	for {
		f.mu.Lock()
		recs, err := f.readLocked(after, max)
		changed := f.changed
		f.mu.Unlock()
		if err != nil || len(recs) > 0 {
			return recs, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// Notify returns a channel that is closed when the next record is appended, for a
// reader that waits on several things in one select.
func (f *Feed) Notify() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// Latest returns the SequenceNumber of the newest record ("" before the first one): a
// checkpoint that reads only what comes next (the LATEST shard iterator).
func (f *Feed) Latest() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == 1 {
		return ""
	}
	return formatSequence(f.next - 1)
}

func (f *Feed) readLocked(after string, max int) ([]events.DynamoDBEventRecord, error) {
	start := f.first
	if after != "" {
		seq, err := strconv.ParseUint(after, 10, 64)
		if err != nil || seq >= f.next {
			return nil, fmt.Errorf("%w: %q", ErrBadSequence, after)
		}
		if seq+1 < f.first {
			return nil, fmt.Errorf("%w: %s", ErrTrimmed, after)
		}
		start = seq + 1
	}
	from := int(start - f.first)
	to := min(from+max, len(f.records))
	out := make([]events.DynamoDBEventRecord, 0, to-from)
	for _, r := range f.records[from:to] {
		r.Change.Keys = maps.Clone(r.Change.Keys)
		r.Change.NewImage = maps.Clone(r.Change.NewImage)
		if r.UserIdentity != nil {
			id := *r.UserIdentity
			r.UserIdentity = &id
		}
		out = append(out, r)
	}
	return out, nil
}

// append adds a record of eventName for the request with key requestID; image is the
// NewImage (nil for REMOVE); byTTL marks a TTL expiry.
func (f *Feed) append(eventName, requestID string, image map[string]events.DynamoDBAttributeValue, byTTL bool, now time.Time) {
	keys := map[string]events.DynamoDBAttributeValue{contract.AttrRequestID: events.NewStringAttribute(requestID)}
	rec := events.DynamoDBEventRecord{
		AWSRegion:      f.region,
		EventID:        fmt.Sprintf("%032x", f.next),
		EventName:      eventName,
		EventSource:    eventSource,
		EventVersion:   eventVersion,
		EventSourceArn: f.arn,
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: now.Truncate(time.Second)},
			Keys:                        keys,
			NewImage:                    image,
			SequenceNumber:              formatSequence(f.next),
			SizeBytes:                   int64(store.ItemSize(keys) + store.ItemSize(image)),
			StreamViewType:              streamViewType,
		},
	}
	if byTTL {
		rec.UserIdentity = &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: ttlPrincipal}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, rec)
	f.next++
	drop := 0
	for drop < len(f.records) && (len(f.records)-drop > f.max || f.records[drop].Change.ApproximateCreationDateTime.Before(now.Add(-f.retention))) {
		drop++
	}
	clear(f.records[:drop])
	f.records = f.records[drop:]
	f.first += uint64(drop)
	close(f.changed)
	f.changed = make(chan struct{})
}

func formatSequence(seq uint64) string { return fmt.Sprintf("%0*d", sequenceDigits, seq) }
