// Package executor turns queued requests into handler runs.
//
// The Processor is the DynamoDB stream consumer of the Requests table: for every record
// whose new image is a PENDING request it invokes a worker through an Invoker (an
// asynchronous Lambda invocation in AWS, a goroutine in the local stack) and reports the
// records it could not dispatch as batch item failures. It never runs a handler itself,
// so a multi-minute handler never holds up the stream shard.
//
// The Worker claims the request (a conditional PENDING -> PROCESSING write with a lease),
// runs the handler with a coalescing progress reporter, persists progress at most once a
// second (which also renews the lease and notices cancellation and resumed clients),
// finishes the request COMPLETED, FAILED or CANCELLED and only then sends the one
// terminal message. Retryable failures put the request back to PENDING with attempt+1,
// which re-triggers the stream. A worker about to run out of time does the same, unless
// the handler saved a checkpoint (streamer.Checkpointer) in this invocation: then the
// request goes back to PENDING as a continuation, without using an attempt, and the next
// invocation resumes the handler from the checkpoint. A duplicate delivery of a request
// another worker holds returns at once. docs/ARCHITECTURE.md describes the state machine
// and its guarantees.
package executor
