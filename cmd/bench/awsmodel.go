package bench

import (
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/local"
)

// AWSModel returns the latencies `streamer bench --aws-model` makes the local stacks it
// starts wait, so that their figures read in AWS terms: what each design costs in time
// once every hop is a network call. They are typical warm figures in one Region; the
// sources (and which figures are estimates) are in docs/PERFORMANCE.md, "An AWS latency
// model". The event source mapping's poll (4 times a second per shard, documented by AWS)
// is the local stack's own PollInterval.
func AWSModel() local.Latency {
	return local.Latency{
		// Every client message in, every message out: a public measurement found about
		// 30 ms per round trip through API Gateway over a direct Lambda call.
		APIGateway: 15 * time.Millisecond,
		// The caller of Lambda's Invoke API (InvocationType Event returns 202 once the
		// event is queued): about half of the fastest client-measured synchronous invoke
		// round trips of a function that runs a few milliseconds.
		InvokeCall: 20 * time.Millisecond,
		// From the queued event to a warm worker running it (what the AsyncEventAge
		// metric measures): an estimate.
		AsyncStart: 30 * time.Millisecond,
		// From a write to its record being readable from the stream: an estimate.
		StreamPropagation: 100 * time.Millisecond,
		// A GetItem, PutItem or UpdateItem: "single-digit millisecond" in AWS's words.
		DynamoDB: 5 * time.Millisecond,
	}
}

// awsModelNote says what --aws-model added, for the report.
func awsModelNote() string {
	m := AWSModel()
	return fmt.Sprintf("AWS model (--aws-model): API Gateway %s per message each way, Invoke call %s, async start %s, stream propagation %s, DynamoDB call %s, stream poll %s (docs/PERFORMANCE.md)",
		m.APIGateway, m.InvokeCall, m.AsyncStart, m.StreamPropagation, m.DynamoDB, local.DefaultPollInterval)
}
