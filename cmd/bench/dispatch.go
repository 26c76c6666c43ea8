package bench

import (
	"context"
	"fmt"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
)

// inlineJobs caps the jobs of the inline run: inline processing takes about a second per
// job, so it runs at most this many and scales the wall time to M.
const inlineJobs = 5

// dispatch runs M one-second jobs on one shard with dispatch (the processor invokes a
// worker per request), then a few with inline processing (the stream consumer runs each
// handler itself, one record after another), each on its own in-process stack.
func (r *runner) dispatch(ctx context.Context) (Result, error) {
	m := r.opts.Jobs
	mInline := min(m, inlineJobs)
	bar := newProgressBar(r.opts.Progress, ScenarioDispatch, m+mInline)
	defer bar.Finish()

	// The router's direct dispatch is off on both: this compares stream consumers.
	dispatched, err := r.jobsOnStack(ctx, local.Config{Shards: 1}, m, bar, lambdas.WithDirectDispatch(false))
	if err != nil {
		return Result{}, err
	}
	inline, err := r.jobsOnStack(ctx, local.Config{Shards: 1, Inline: true}, mInline, bar,
		lambdas.WithDirectDispatch(false), lambdas.WithProcessorConfig(executor.ProcessorConfig{Concurrency: 1}))
	if err != nil {
		return Result{}, err
	}
	dWall, iWall := dispatched.done.wall.Seconds(), inline.done.wall.Seconds()
	scaled := iWall * float64(m) / float64(mInline)
	name := fmt.Sprintf("dispatch: wall time of %d one-second jobs", m)
	dFig := figure(name, dWall, "s")
	if m <= 100 {
		dFig = atMost(name, dWall, "s", 2)
	}
	return Result{
		Latencies: append(dispatched.latencies("dispatch: "), inline.latencies("inline: ")...),
		Figures: []Figure{
			dFig,
			figure(fmt.Sprintf("inline: wall time of %d one-second jobs (measured)", mInline), iWall, "s"),
			figure(fmt.Sprintf("inline: wall time of %d jobs (measured x %d/%d)", m, m, mInline), scaled, "s"),
			figure("inline / dispatch, for the same jobs", Ratio(scaled, dWall), "x"),
		},
		Notes: []string{
			fmt.Sprintf("process_data %s (1 s, 10 reports), all sent at once, on a local stack in this process; one shard read in order (Shards 1); the router's direct dispatch off on both stacks: requests reach workers through the stream", secondJob),
			fmt.Sprintf("inline: the stream processor runs each worker inside its own invocation (local.Config.Inline), one record at a time (ProcessorConfig.Concurrency 1), so a job waits for every job before it; it runs %d jobs and scales the wall time linearly to M", mInline),
		},
	}, nil
}

// jobsOnStack starts a local stack with cfg, runs m one-second jobs on it at once and
// stops it.
func (r *runner) jobsOnStack(ctx context.Context, cfg local.Config, m int, bar *progressBar, opts ...lambdas.Option) (jobRun, error) {
	st, err := r.startStack(ctx, cfg, opts...)
	if err != nil {
		return jobRun{}, err
	}
	defer shutdown(st)
	t, err := inProcessTarget(st)
	if err != nil {
		return jobRun{}, err
	}
	conns, _, err := dialAll(ctx, t.dialer(), min(r.opts.Connections, m), nil)
	if err != nil {
		return jobRun{}, err
	}
	return r.runJobs(ctx, conns, "dispatch", m, secondJob, false, bar), nil
}
