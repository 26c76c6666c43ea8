package local

import (
	"context"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
)

// streamReader is the part of the DynamoDB Streams API the poller uses. One
// implementation calls the real API (DynamoDB or DynamoDB Local); the other reads the
// in-memory store's change feed, so both stores go through the same poller.
type streamReader interface {
	// Shards lists the stream's shard ids (DescribeStream).
	Shards(ctx context.Context) ([]string, error)
	// Iterator returns an iterator just after the record with sequence number after, or
	// at the oldest record when after is "" (GetShardIterator).
	Iterator(ctx context.Context, shardID, after string) (string, error)
	// Records returns up to limit records from iterator and the iterator that follows
	// them, "" once the shard is closed and read to its end (GetRecords).
	Records(ctx context.Context, iterator string, limit int) ([]events.DynamoDBEventRecord, string, error)
}

// processorFunc is the signature of the stream processor function.
type processorFunc func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// pendingFilter is the in-process stack's event source mapping filter, the one
// StreamerApi puts on the mapping: INSERT or MODIFY records whose new image has status
// PENDING (a new request, or one released for a retry). Other records are checkpointed
// without an invocation.
func pendingFilter(rec *events.DynamoDBEventRecord) bool {
	if rec.EventName != "INSERT" && rec.EventName != "MODIFY" {
		return false
	}
	st, ok := rec.Change.NewImage[contract.AttrStatus]
	return ok && st.DataType() == events.DataTypeString && st.String() == contract.StatusPending
}

// latestPosition is the position Iterator takes for the end of a shard (LATEST).
const latestPosition = "$LATEST"

// readLimit is the most records one GetRecords call returns (the API's maximum); the
// filter and BatchSize apply to what it read.
const readLimit = 1000

// poller models the Lambda event source mapping of a DynamoDB stream: each shard is read
// in order, polled PollInterval apart (4 times a second) while it is quiet; the records
// that pass the filter go to the processor in batches of at most BatchSize; a batch
// whose processor call fails is bisected (when bisect is set) and retried, a partial
// failure (batchItemFailures, when reportFailures is set) is retried from the lowest
// failed sequence number, and records out of retries, or older than maxAge, go to the
// on-failure destination (onFailure; logged and counted).
//
// lanes (Config.Shards) splits each shard's records by item key into that many ordered
// lanes processed concurrently, like ParallelizationFactor: order per item is kept, and
// lanes = 1 is one shard read strictly in order.
type poller struct {
	src       streamReader
	process   processorFunc // one counted invocation of the processor
	m         *counters
	log       *slog.Logger
	interval  time.Duration
	batchSize int
	lanes     int
	retries   int // negative: until the records expire
	// filter admits the records that invoke the processor.
	filter func(*events.DynamoDBEventRecord) bool
	// bisect splits a failed batch in two before retrying (BisectBatchOnFunctionError).
	bisect bool
	// reportFailures honours batchItemFailures (FunctionResponseTypes
	// ReportBatchItemFailures); without it a response never fails records.
	reportFailures bool
	// maxAge sends records older than it to the destination unprocessed; 0: no limit.
	maxAge time.Duration
	// latest starts reading new shards at their end (StartingPosition LATEST) instead of
	// their oldest record.
	latest bool
	// onFailure receives records out of retries or too old (the on-failure destination),
	// with the reason; nil only logs them.
	onFailure func(recs []events.DynamoDBEventRecord, reason string)
	// propagation holds each record back until it is this old (Latency.StreamPropagation).
	propagation time.Duration

	mu     sync.Mutex
	shards map[string]bool // shards being read or read to their end
	// positioned is set once the shards that existed when the mapping began are known:
	// only those start at LATEST, as in Lambda, where a mapping reads the shards that
	// appear later (a closed shard's children) from their oldest record.
	positioned bool
	wg         sync.WaitGroup
}

// begin lists the shards once and, for a mapping that starts at LATEST, takes each
// one's position now, before the stack is ready: a record written after that is read,
// as by a mapping created before the first request. A failed call is left to run, whose
// discovery retries.
func (p *poller) begin(ctx context.Context) {
	p.m.streams.add(StreamDescribeStream, 1)
	ids, err := p.src.Shards(ctx)
	if err != nil {
		return
	}
	its := make(map[string]string, len(ids))
	for _, id := range ids {
		if p.latest {
			p.m.streams.add(StreamGetShardIterator, 1)
			it, err := p.src.Iterator(ctx, id, latestPosition)
			if err != nil {
				return
			}
			its[id] = it
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.positioned = true
	for _, id := range ids {
		p.shards[id] = true
		p.wg.Add(1)
		go p.readShard(ctx, id, p.latest, its[id])
	}
}

// run reads every shard until ctx ends, then waits for the shard readers.
func (p *poller) run(ctx context.Context) {
	p.discover(ctx)
	<-ctx.Done()
	p.wg.Wait()
}

// discover lists the shards and starts a reader for each new one; it runs at start and
// whenever a shard closes (its children appear then).
func (p *poller) discover(ctx context.Context) {
	for ctx.Err() == nil {
		p.m.streams.add(StreamDescribeStream, 1)
		ids, err := p.src.Shards(ctx)
		if err == nil {
			p.mu.Lock()
			atLatest := p.latest && !p.positioned
			p.positioned = true
			for _, id := range ids {
				if !p.shards[id] {
					p.shards[id] = true
					p.wg.Add(1)
					go p.readShard(ctx, id, atLatest, "")
				}
			}
			p.mu.Unlock()
			return
		}
		p.log.Warn("stream: DescribeStream failed", "error", err)
		sleep(ctx, p.interval)
	}
}

// readShard polls one shard until it is closed or ctx ends: from its oldest record, or
// from its end (atLatest), or from it, an iterator already taken.
func (p *poller) readShard(ctx context.Context, shardID string, atLatest bool, it string) {
	defer p.wg.Done()
	log := p.log.With("shard", shardID)
	var last string
	if atLatest {
		last = latestPosition
	}
	for ctx.Err() == nil {
		if it == "" {
			p.m.streams.add(StreamGetShardIterator, 1)
			var err error
			if it, err = p.src.Iterator(ctx, shardID, last); err != nil {
				log.Warn("stream: GetShardIterator failed", "error", err)
				sleep(ctx, p.interval)
				continue
			}
		}
		p.m.streams.add(StreamGetRecords, 1)
		recs, next, err := p.src.Records(ctx, it, readLimit)
		if err != nil {
			log.Warn("stream: GetRecords failed", "error", err)
			it = "" // a fresh iterator after the last record delivered
			sleep(ctx, p.interval)
			continue
		}
		p.m.streams.add(StreamRecordsRead, int64(len(recs)))
		held := false
		if n := readable(recs, p.propagation, time.Now()); n < len(recs) {
			// Not readable yet: the next poll reads them again, after the last delivered.
			recs, held = recs[:n], true
		}
		if len(recs) > 0 {
			p.deliver(ctx, recs)
			last = recs[len(recs)-1].Change.SequenceNumber
		}
		if held {
			it = ""
			sleep(ctx, p.interval)
			continue
		}
		if next == "" {
			p.discover(ctx)
			return
		}
		it = next
		if len(recs) < readLimit {
			sleep(ctx, p.interval)
		}
	}
}

// deliver filters one read of records and runs the processor on them in batches of at
// most batchSize, in order within a lane, the lanes concurrently; it returns when every
// lane is done (the shard's checkpoint).
func (p *poller) deliver(ctx context.Context, recs []events.DynamoDBEventRecord) {
	lanes := make([][]events.DynamoDBEventRecord, p.lanes)
	var expired []events.DynamoDBEventRecord
	for i := range recs {
		if !p.filter(&recs[i]) {
			p.m.streams.add(StreamRecordsFiltered, 1)
			continue
		}
		if p.tooOld(&recs[i]) {
			expired = append(expired, recs[i])
			continue
		}
		l := laneOf(&recs[i], p.lanes)
		lanes[l] = append(lanes[l], recs[i])
	}
	if len(expired) > 0 {
		p.discard(expired, "older than the maximum record age")
	}
	var wg sync.WaitGroup
	for _, lane := range lanes {
		if len(lane) > 0 {
			wg.Go(func() {
				for batch := range slices.Chunk(lane, p.batchSize) {
					p.processBatch(ctx, batch, p.retries)
				}
			})
		}
	}
	wg.Wait()
}

// laneOf places a record by its item key, so one item's records stay in order.
func laneOf(rec *events.DynamoDBEventRecord, lanes int) int {
	if lanes == 1 {
		return 0
	}
	h := fnv.New32a()
	for _, v := range rec.Change.Keys {
		if v.DataType() == events.DataTypeString {
			_, _ = h.Write([]byte(v.String()))
		}
	}
	return int(h.Sum32() % uint32(lanes))
}

// processBatch invokes the processor on batch until it succeeds or runs out of retries.
func (p *poller) processBatch(ctx context.Context, batch []events.DynamoDBEventRecord, retries int) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		p.m.streams.add(StreamRecordsDelivered, int64(len(batch)))
		if attempt > 0 {
			p.m.streams.add(StreamRecordsRetried, int64(len(batch)))
		}
		resp, err := p.process(ctx, events.DynamoDBEvent{Records: batch})
		from, valid := 0, err == nil
		if valid && !p.reportFailures {
			return
		}
		if valid {
			from, valid = failedFrom(batch, resp)
			if from == len(batch) {
				return
			}
		}
		if !valid {
			// A function error (or an unusable failure report) fails the whole batch:
			// bisect it, so one poison record cannot hold back the others.
			p.log.Warn("stream: processor failed the batch", "records", len(batch), "error", err)
			if p.bisect && len(batch) > 1 {
				half := len(batch) / 2
				p.processBatch(ctx, batch[:half], retries)
				p.processBatch(ctx, batch[half:], retries)
				return
			}
		}
		batch = batch[from:]
		if retries == 0 {
			p.discard(batch, "retries exhausted")
			return
		}
		retries--
		sleep(ctx, p.interval<<min(attempt, 4))
	}
}

// failedFrom returns the index of the batch's record with the lowest failed sequence
// number (len(batch) when nothing failed). valid is false when an item identifier is
// empty or unknown, which fails the whole batch.
func failedFrom(batch []events.DynamoDBEventRecord, resp events.DynamoDBEventResponse) (int, bool) {
	from := len(batch)
	for _, f := range resp.BatchItemFailures {
		i := indexOfSequence(batch, f.ItemIdentifier)
		if i < 0 {
			return 0, false
		}
		from = min(from, i)
	}
	return from, true
}

func indexOfSequence(batch []events.DynamoDBEventRecord, seq string) int {
	if seq == "" {
		return -1
	}
	for i := range batch {
		if batch[i].Change.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// discard sends records to the on-failure destination, and logs them.
func (p *poller) discard(batch []events.DynamoDBEventRecord, reason string) {
	p.m.streams.add(StreamRecordsDiscarded, int64(len(batch)))
	ids := make([]string, len(batch))
	for i := range batch {
		ids[i] = batch[i].Change.SequenceNumber
	}
	p.log.Error("stream: records discarded (on-failure destination)",
		"reason", reason, "records", len(batch), "sequence_numbers", strings.Join(ids, ","))
	if p.onFailure != nil {
		p.onFailure(batch, reason)
	}
}

// tooOld reports whether a record is past the maximum record age.
func (p *poller) tooOld(rec *events.DynamoDBEventRecord) bool {
	created := rec.Change.ApproximateCreationDateTime.Time
	return p.maxAge > 0 && !created.IsZero() && time.Since(created) > p.maxAge
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
