// Package bench measures Streamer's speed and cost: the scenarios of `streamer bench`
// (echo, async, fanout, concurrency against a stack URL; floor, dispatch and cost on
// in-process stacks; coldstart of the Lambda bootstrap), their percentile summaries, and
// their reports as a table or JSON.
//
// Every scenario is bounded in count and in time: it stops at its request count or at
// Options.DurationLimit, whichever comes first, and says how many requests it completed.
package bench
