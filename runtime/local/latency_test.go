package local

import (
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
)

func TestReadableHoldsBackRecentWrites(t *testing.T) {
	t.Parallel()
	now := time.Now()
	rec := func(written time.Time) events.DynamoDBEventRecord {
		return events.DynamoDBEventRecord{Change: events.DynamoDBStreamRecord{
			NewImage: map[string]events.DynamoDBAttributeValue{contract.AttrUpdatedAt: events.NewStringAttribute(store.FormatTime(written))},
		}}
	}
	remove := events.DynamoDBEventRecord{Change: events.DynamoDBStreamRecord{ApproximateCreationDateTime: events.SecondsEpochTime{Time: now.Add(-time.Minute)}}}
	recs := []events.DynamoDBEventRecord{rec(now.Add(-time.Second)), remove, rec(now.Add(-50 * time.Millisecond)), rec(now.Add(-time.Second))}
	require.Equal(t, 2, readable(recs, 100*time.Millisecond, now), "in order: the first record too young stops the read")
	require.Equal(t, 4, readable(recs, 0, now), "no model: everything is readable")
	require.Equal(t, 4, readable(recs, 10*time.Millisecond, now))
}

// TestLatencyModelAddsItsDelays runs a sync and an async request on stacks with a
// latency model and shows that each waits at least the delays on its path (lower bounds
// only: a loaded machine only adds to them).
func TestLatencyModelAddsItsDelays(t *testing.T) {
	t.Parallel()
	lat := Latency{
		APIGateway:        40 * time.Millisecond,
		InvokeCall:        30 * time.Millisecond,
		AsyncStart:        30 * time.Millisecond,
		StreamPropagation: 300 * time.Millisecond,
		DynamoDB:          10 * time.Millisecond,
	}
	for _, direct := range []bool{true, false} {
		st := startStack(t, Config{App: testApp(t, lambdas.WithDirectDispatch(direct)), Latency: lat})
		c := dial(t, st, token(t, st, "alice", "acme"))

		sent := time.Now()
		c.call("echo", "e-1", map[string]int{"n": 1})
		require.Equal(t, protocol.TypeResult, c.next().Type)
		require.GreaterOrEqual(t, time.Since(sent), 2*lat.APIGateway, "a frame in and its reply out")

		sent = time.Now()
		c.call("process_data", "p-1", map[string]int{"items": 2, "item_ms": 1})
		ack := c.next()
		require.Equal(t, protocol.TypeAck, ack.Type)
		ackAt := ack.At.Sub(sent)
		first := c.next()
		require.Equal(t, protocol.TypeProgress, first.Type)
		firstAt := first.At.Sub(sent)
		c.terminalOf("p-1")
		// In: gateway, enqueue. Out: gateway. The worker: invoke call, queue, two reads
		// (get, claim), and the progress post through the gateway.
		toWorker := lat.InvokeCall + lat.AsyncStart
		if direct {
			require.GreaterOrEqual(t, ackAt, 2*lat.APIGateway+lat.DynamoDB+lat.InvokeCall, "the dispatch precedes the ack")
		} else {
			require.GreaterOrEqual(t, ackAt, 2*lat.APIGateway+lat.DynamoDB)
			// The stream: the record is readable after its propagation, the mapping
			// invokes the processor, which invokes the worker.
			toWorker += lat.StreamPropagation + lat.InvokeCall
		}
		require.GreaterOrEqual(t, firstAt, lat.APIGateway+lat.DynamoDB+toWorker+2*lat.DynamoDB+lat.APIGateway, "direct dispatch %v", direct)
		t.Logf("direct dispatch %v: ack %s, first progress %s", direct, ackAt.Round(time.Millisecond), firstAt.Round(time.Millisecond))
	}
}
