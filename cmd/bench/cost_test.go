package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/local"
)

// asyncWindow is the counters of 10 async requests on one open connection: per request
// an enqueue (PutItem), a claim, two checkpoints and a finish (UpdateItem), one
// connection read, the router, a tenth of a processor batch and a worker of 1 GB for 1 s,
// 6 posts, and the client's frame.
func asyncWindow() local.Snapshot {
	return local.Snapshot{
		DynamoDB: map[string]map[string]int64{
			local.TableRequests:    {local.OpPutItem: 10, local.OpUpdateItem: 40, local.OpConditionalCheckFailed: 2},
			local.TableConnections: {local.OpGetItem: 10},
		},
		DynamoDBStreams: map[string]int64{local.StreamGetRecords: 8, local.StreamRecordsRead: 50},
		Lambda: map[string]local.LambdaStats{
			contract.RoleRouter:    {Invocations: 10, GBSeconds: 0.05},
			contract.RoleProcessor: {Invocations: 1, GBSeconds: 0.0025},
			contract.RoleWorker:    {Invocations: 10, GBSeconds: 10},
			contract.RoleConnect:   {},
		},
		ConnectionsAPI: map[string]int64{local.APIPostToConnection: 60, local.APIGetConnection: 1},
		APIGateway:     local.APIGatewayStats{BilledMessages: 80, ConnectionMinutes: 0.5},
	}
}

func TestUsageOf(t *testing.T) {
	t.Parallel()
	u := UsageOf(asyncWindow(), 10, 5)
	require.InDelta(t, 5, u.DynamoDBWrites, 1e-9)
	require.InDelta(t, 5.5, u.WriteUnits, 1e-9, "extra write units are spread over the requests")
	require.InDelta(t, 1, u.DynamoDBReads, 1e-9)
	require.InDelta(t, 0.8, u.StreamGetRecords, 1e-9)
	require.InDelta(t, 6, u.PostToConnection, 1e-9)
	require.InDelta(t, 2.1, u.LambdaInvocations, 1e-9)
	require.Equal(t, map[string]float64{contract.RoleRouter: 1, contract.RoleProcessor: 0.1, contract.RoleWorker: 1}, u.Invocations)
	require.InDelta(t, 1.00525, u.LambdaGBSeconds, 1e-9)
	require.InDelta(t, 8, u.APIMessages, 1e-9)
	require.InDelta(t, 0.05, u.ConnectionMinutes, 1e-9)

	require.Equal(t, Usage{}, UsageOf(asyncWindow(), 0, 0), "no requests, no usage")
}

func TestCostAtListPrices(t *testing.T) {
	t.Parallel()
	p := ListPrices()
	require.Equal(t, "2026-11", p.AsOf)
	u := Usage{
		APIMessages: 2, ConnectionMinutes: 4, LambdaInvocations: 3, LambdaGBSeconds: 0.5,
		WriteUnits: 4, DynamoDBWrites: 3, DynamoDBReads: 2, StreamGetRecords: 10,
	}
	c := p.Cost(u)
	require.InDelta(t, 2.00, c.APIMessages, 1e-9)       // 2 x $1.00 per million
	require.InDelta(t, 1.00, c.ConnectionMinutes, 1e-9) // 4 x $0.25 per million
	require.InDelta(t, 0.60, c.LambdaRequests, 1e-9)    // 3 x $0.20 per million
	require.InDelta(t, 6.6667, c.LambdaCompute, 1e-9)   // 0.5 GB-s x $0.0000133334 x 1e6
	require.InDelta(t, 2.50, c.WriteUnits, 1e-9)        // 4 WRU x $0.625 per million, not the 3 calls
	require.InDelta(t, 0.25, c.ReadUnits, 1e-9)         // 2 x $0.125 per million
	require.Zero(t, c.Streams, "stream reads by Lambda are free")
	require.InDelta(t, 2+1+0.6+6.6667+2.5+0.25, c.Total, 1e-9)
	require.InDelta(t, 0.2, p.StreamRead*1e6, 1e-12, "$0.02 per 100,000 own GetRecords calls")
}

func TestExtraWriteUnits(t *testing.T) {
	t.Parallel()
	require.Zero(t, ExtraWriteUnits(0, 0), "a small item is one WRU")
	require.Zero(t, ExtraWriteUnits(100, 400), "512+100+400 bytes fit in 1 KB")
	require.InDelta(t, 1, ExtraWriteUnits(100, 500), 1e-9, "1112 bytes start a second KB")
	require.InDelta(t, 3, ExtraWriteUnits(60, 3000), 1e-9)
}

func TestChattyFiguresHoldTheBound(t *testing.T) {
	t.Parallel()
	// Two jobs of 2.2 s each, with 12 progress messages each: 11 over 2 s, then the
	// final flush 50 ms later.
	var run jobRun
	for range 2 {
		run.done.latencies = append(run.done.latencies, 2300*time.Millisecond)
		run.add(jobTimes{
			ack: 100 * time.Millisecond, done: 2300 * time.Millisecond, progress: 12,
			firstProgress: 200 * time.Millisecond, prevProgress: 2200 * time.Millisecond, lastProgress: 2250 * time.Millisecond,
		})
	}
	require.InDelta(t, 5, run.pushRate(), 1e-9, "10 intervals in 2 s; the final flush is left out")

	f := chattyFigures(Usage{DynamoDBWrites: 6, PostToConnection: 12}, run)
	require.Len(t, f, 4)
	require.InDelta(t, 2.2, f[0].Value, 1e-9)
	require.Equal(t, "<= 6", f[1].Goal, "enqueue, claim, finish and one progress write per started second (3)")
	require.True(t, *f[1].Met)
	require.True(t, *f[3].Met)

	f = chattyFigures(Usage{DynamoDBWrites: 1000, PostToConnection: 1000}, run)
	require.False(t, *f[1].Met, "a write per report breaks the bound")
	run.gaps = 999
	require.False(t, *chattyFigures(Usage{}, run)[3].Met, "a push per report breaks the bound")
}

func TestCostSkipsAStackWithoutCounters(t *testing.T) {
	t.Parallel()
	r := &runner{opts: Options{}}
	res, err := r.cost(t.Context(), &target{url: "wss://example.com/prod"})
	require.NoError(t, err)
	require.Empty(t, res.Cost)
	require.Equal(t, []string{noCounters}, res.Notes)
}
