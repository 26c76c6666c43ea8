package local

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
)

// Latency is a model of the time AWS adds that one process does not: with it, the stack
// waits where a deployed one would, so that a local run shows what a design costs in
// AWS terms (`streamer bench --aws-model`). The event source mapping's poll interval is
// PollInterval, modelled already. The zero value adds nothing.
type Latency struct {
	// APIGateway is added to every message between a client and the API, each way: a
	// frame before its route runs, a route response or an @connections post before the
	// client has it (the post's caller waits for it, as for the PostToConnection call).
	APIGateway time.Duration
	// InvokeCall is the time a caller of the Lambda Invoke API waits for its answer: the
	// router's direct dispatch and the processor's invocation of a worker wait it before
	// the worker is queued, the event source mapping waits it before the processor runs.
	InvokeCall time.Duration
	// AsyncStart is the time an asynchronously invoked event waits in Lambda's internal
	// queue before a (warm) worker runs it.
	AsyncStart time.Duration
	// StreamPropagation is the time from a write to its record being readable from the
	// table's stream; the poller delivers a record no earlier (judged by the NewImage's
	// updated_at).
	StreamPropagation time.Duration
	// DynamoDB is added to every call of the stores.
	DynamoDB time.Duration
}

// wait sleeps d, or until ctx ends.
func wait(ctx context.Context, d time.Duration) {
	if d > 0 {
		sleep(ctx, d)
	}
}

// readable returns how many of recs, in order, are readable at now: written at least
// delay ago (their NewImage's updated_at; a record without one, a TTL REMOVE, by its
// approximate creation time).
func readable(recs []events.DynamoDBEventRecord, delay time.Duration, now time.Time) int {
	if delay <= 0 {
		return len(recs)
	}
	for i := range recs {
		written := recs[i].Change.ApproximateCreationDateTime.Time
		if v, ok := recs[i].Change.NewImage[contract.AttrUpdatedAt]; ok && v.DataType() == events.DataTypeString {
			if t, err := time.Parse(time.RFC3339Nano, v.String()); err == nil {
				written = t
			}
		}
		if now.Sub(written) < delay {
			return i
		}
	}
	return len(recs)
}
