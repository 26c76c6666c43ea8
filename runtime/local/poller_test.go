package local

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
)

// batchRecorder is a processor that records what it was given and answers with the
// failures fail picks.
type batchRecorder struct {
	mu      sync.Mutex
	batches [][]string // client ids per invocation
	fail    func(call int, batch []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error)
	calls   chan struct{}
}

func (b *batchRecorder) process(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	b.mu.Lock()
	ids := make([]string, len(ev.Records))
	for i, r := range ev.Records {
		ids[i] = r.Change.NewImage[contract.AttrClientID].String()
	}
	b.batches = append(b.batches, ids)
	call := len(b.batches)
	b.mu.Unlock()
	defer func() { b.calls <- struct{}{} }()
	if b.fail != nil {
		return b.fail(call, ev.Records)
	}
	return events.DynamoDBEventResponse{}, nil
}

func (b *batchRecorder) seen() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]string(nil), b.batches...)
}

// pollerSetup makes a poller over a fresh memstore's feed; it returns the queue, the
// counters and the function that starts the poller (after the test enqueued, so the
// first read sees every record).
func pollerSetup(t *testing.T, rec *batchRecorder, retries int) (*store.Queue, *counters, func()) {
	return pollerSetupLanes(t, rec, retries, 1)
}

// pollerSetupLanes is pollerSetup with lanes ordered lanes per shard.
func pollerSetupLanes(t *testing.T, rec *batchRecorder, retries, lanes int) (*store.Queue, *counters, func()) {
	t.Helper()
	st := memstore.New(memstore.Options{})
	m := newCounters(memorySizes(DefaultFunctionSettings()))
	p := &poller{
		src:       &memoryStream{feed: st.Feed()},
		process:   rec.process,
		m:         m,
		log:       slog.New(slog.DiscardHandler),
		interval:  10 * time.Millisecond,
		batchSize: 10,
		lanes:     lanes,
		retries:   retries,
		filter:    pendingFilter,
		shards:    make(map[string]bool),
		// StreamerApi's mapping settings.
		bisect:         true,
		reportFailures: true,
	}
	start := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			p.run(ctx)
			close(done)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}
	return st.Requests(), m, start
}

func enqueue(t *testing.T, q *store.Queue, ids ...string) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, q.Enqueue(t.Context(), &store.AsyncRequest{
			RequestID: store.ScopedID("t", "u", id), ClientID: id, Action: "a",
			Payload: json.RawMessage(`{}`), UserID: "u", TenantID: "t",
		}))
	}
}

func waitCalls(t *testing.T, rec *batchRecorder, n int) {
	t.Helper()
	for range n {
		select {
		case <-rec.calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("processor called %d times, want %d", len(rec.seen()), n)
		}
	}
}

func TestPollerDeliversPendingRecordsInOrder(t *testing.T) {
	t.Parallel()
	rec := &batchRecorder{calls: make(chan struct{}, 100)}
	q, m, start := pollerSetup(t, rec, 0)

	enqueue(t, q, "a", "b", "c")
	// A claim makes a MODIFY with status PROCESSING: filtered out, no invocation.
	_, err := q.Claim(t.Context(), store.ScopedID("t", "u", "a"), "w", time.Now(), time.Now().Add(time.Minute))
	require.NoError(t, err)
	enqueue(t, q, "d")
	start()
	waitCalls(t, rec, 1)
	require.Equal(t, [][]string{{"a", "b", "c", "d"}}, rec.seen())

	// Later records come in a later poll.
	enqueue(t, q, "e")
	waitCalls(t, rec, 1)
	require.Equal(t, [][]string{{"a", "b", "c", "d"}, {"e"}}, rec.seen())
	s := m.snapshot(0)
	require.Equal(t, int64(1), s.DynamoDBStreams[StreamRecordsFiltered])
	require.Equal(t, int64(6), s.DynamoDBStreams[StreamRecordsRead])
	require.Positive(t, s.DynamoDBStreams[StreamGetRecords])
}

func TestPollerRetriesFromTheLowestFailedRecord(t *testing.T) {
	t.Parallel()
	rec := &batchRecorder{calls: make(chan struct{}, 100)}
	rec.fail = func(call int, batch []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
		if call == 1 {
			// b and c fail: the retry starts at b (the lowest), c and d included.
			return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{
				{ItemIdentifier: batch[2].Change.SequenceNumber},
				{ItemIdentifier: batch[1].Change.SequenceNumber},
			}}, nil
		}
		return events.DynamoDBEventResponse{}, nil
	}
	q, m, start := pollerSetup(t, rec, 3)

	enqueue(t, q, "a", "b", "c", "d")
	start()
	waitCalls(t, rec, 2)
	require.Equal(t, [][]string{{"a", "b", "c", "d"}, {"b", "c", "d"}}, rec.seen())
	require.Equal(t, int64(3), m.snapshot(0).DynamoDBStreams[StreamRecordsRetried])
}

func TestPollerBisectsFailingBatchesAndDiscardsPoison(t *testing.T) {
	t.Parallel()
	rec := &batchRecorder{calls: make(chan struct{}, 100)}
	rec.fail = func(_ int, batch []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
		for _, r := range batch {
			if r.Change.NewImage[contract.AttrClientID].String() == "poison" {
				return events.DynamoDBEventResponse{}, context.DeadlineExceeded
			}
		}
		return events.DynamoDBEventResponse{}, nil
	}
	q, m, start := pollerSetup(t, rec, 1)

	enqueue(t, q, "a", "poison", "c", "d")
	start()
	// [a poison c d] fails -> [a poison] fails -> [a] ok, [poison] fails, retried once,
	// discarded; [c d] ok.
	waitCalls(t, rec, 6)
	require.Equal(t, [][]string{{"a", "poison", "c", "d"}, {"a", "poison"}, {"a"}, {"poison"}, {"poison"}, {"c", "d"}}, rec.seen())
	require.Equal(t, int64(1), m.snapshot(0).DynamoDBStreams[StreamRecordsDiscarded])
}

func TestPollerEmptyItemIdentifierFailsTheWholeBatch(t *testing.T) {
	t.Parallel()
	rec := &batchRecorder{calls: make(chan struct{}, 100)}
	rec.fail = func(call int, batch []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
		if call == 1 {
			return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: ""}}}, nil
		}
		return events.DynamoDBEventResponse{}, nil
	}
	q, _, start := pollerSetup(t, rec, 3)

	enqueue(t, q, "a")
	start()
	waitCalls(t, rec, 2)
	require.Equal(t, [][]string{{"a"}, {"a"}}, rec.seen())
}

func TestPollerLanesDeliverEveryRecordOnce(t *testing.T) {
	t.Parallel()
	rec := &batchRecorder{calls: make(chan struct{}, 100)}
	q, _, start := pollerSetupLanes(t, rec, 0, 4)
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	enqueue(t, q, want...)
	start()
	var got []string
	for len(got) < len(want) {
		waitCalls(t, rec, 1)
		got = nil
		for _, b := range rec.seen() {
			require.LessOrEqual(t, len(b), 10, "batch size")
			got = append(got, b...)
		}
	}
	require.ElementsMatch(t, want, got)
	require.GreaterOrEqual(t, len(rec.seen()), 4, "40 records in batches of at most 10")
}

// TestQuietShardsArePolledFourTimesASecond: like the event source mapping, the stack
// polls a quiet shard every 250 ms by default, no faster (a busy loop) and not much
// slower (at most a loaded machine's timer lag).
func TestQuietShardsArePolledFourTimesASecond(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{PollInterval: DefaultPollInterval})
	before := st.Metrics()
	time.Sleep(2 * time.Second) // the measurement window, not a synchronisation
	d := st.Metrics().Sub(before)
	polls := d.DynamoDBStreams[StreamGetRecords]
	window := time.Duration(d.UptimeSeconds * float64(time.Second))
	t.Logf("%d polls in %s", polls, window.Round(time.Millisecond))
	require.LessOrEqual(t, polls, int64(window/DefaultPollInterval)+1, "no faster than every 250 ms")
	require.GreaterOrEqual(t, polls, int64(window/DefaultPollInterval)/2, "about 4 a second")
}
