package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
)

// The request of echo and floor: a demo echo with a small payload, sent as
// {"action":"echo","id":"echo","payload":{"message":"hello"}}.
const (
	echoID      = "echo"
	echoPayload = `{"message":"hello"}`
)

// Payloads of process_data: async's short job (200 ms, 10 reports), the one-second job
// of fanout, concurrency and dispatch (10 reports), and cost's job that reports 1,000
// times in about 2 s.
const (
	shortJob  = `{"items":10,"item_ms":20}`
	secondJob = `{"items":10,"item_ms":100}`
	chattyJob = `{"items":1000,"item_ms":2}`
)

func (t *target) dialer() dialFunc {
	return func(ctx context.Context) (*client.Client, error) { return dial(ctx, t.url, t.token) }
}

// echo measures synchronous round trips over C connections.
func (r *runner) echo(ctx context.Context, t *target) (Result, error) {
	n, c := r.opts.requests(ScenarioEcho), r.opts.Connections
	c = min(c, n)
	conns, _, err := dialAll(ctx, t.dialer(), c, nil)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	bar := newProgressBar(r.opts.Progress, ScenarioEcho, n)
	lr := echoLoad(ctx, conns, n, bar)
	bar.Finish()
	return Result{
		Latencies: []Latency{{Name: fmt.Sprintf("echo round trip, %d connections", c), Summary: lr.summary()}},
		Notes:     []string{"closed loop: each connection sends its next echo when the last reply arrived"},
	}, nil
}

// jobRun is what a set of async jobs measured.
type jobRun struct {
	ack, first, done loadResult
	messages         int64         // messages received about the completed requests
	gaps             int           // summed intervals between a job's progress messages, but the last
	pushSpan         time.Duration // summed time those intervals took
	running          time.Duration // summed time from ack to completion
	resultBytes      int64         // summed sizes of the terminal messages
}

// add records one job's times.
func (j *jobRun) add(t jobTimes) {
	if t.ack > 0 {
		j.ack.latencies = append(j.ack.latencies, t.ack)
	}
	if t.progress > 0 {
		j.first.latencies = append(j.first.latencies, t.firstProgress)
	}
	if t.progress >= 3 {
		j.gaps += t.progress - 2
		j.pushSpan += t.prevProgress - t.firstProgress
	}
	if t.done > t.ack {
		j.running += t.done - t.ack
	}
	j.resultBytes += int64(t.resultBytes)
	j.messages += int64(t.messages)
}

// pushRate is the rate of progress messages while a job pushes them: intervals between
// consecutive messages per second (the coalescer allows at most 5). The last message is
// left out: it is the final flush the coalescer sends right before the terminal message,
// whatever the interval, so the latest state is never lost.
func (j jobRun) pushRate() float64 { return Ratio(float64(j.gaps), j.pushSpan.Seconds()) }

// meanRunning is the mean time from ack to completion.
func (j jobRun) meanRunning() time.Duration {
	if len(j.done.latencies) == 0 {
		return 0
	}
	return j.running / time.Duration(len(j.done.latencies))
}

func (j jobRun) latencies(prefix string) []Latency {
	return []Latency{
		{Name: prefix + "ack", Summary: j.ack.summary()},
		{Name: prefix + "first progress", Summary: j.first.summary()},
		{Name: prefix + "completion", Summary: j.done.summary()},
	}
}

// runJobs runs n jobs of payload over conns: with closed set, each connection runs its
// jobs one after another; otherwise every job starts at once. Latencies count from the
// moment each job was sent. It closes conns.
func (r *runner) runJobs(ctx context.Context, conns []*client.Client, kind string, n int, payload string, closed bool, bar *progressBar) jobRun {
	defer closeAll(conns)
	var (
		mu  sync.Mutex
		run jobRun
	)
	workers := n
	if closed {
		workers = len(conns)
	}
	start := time.Now()
	run.done = closedLoop(ctx, workers, n, bar, func(ctx context.Context, w, i int) (time.Duration, bool, error) {
		t, err := request(ctx, conns[w%len(conns)], r.id(kind, i), demo.ActionProcessData, json.RawMessage(payload))
		if err == nil {
			mu.Lock()
			run.add(t)
			mu.Unlock()
		}
		return t.done, false, err
	})
	wall := time.Since(start)
	run.ack.wall, run.first.wall = wall, wall
	return run
}

// Goals of the async scenario with direct dispatch, on the local stack: the first
// progress comes after the first item (20 ms), the completion after the 200 ms of work,
// each with little more.
const (
	asyncFirstProgressGoalMS = 30
	asyncCompletionGoalMS    = 220
)

// async measures an async request's ack, first progress and completion. On the stack
// the bench starts, it measures it twice in the same run: with the router's direct
// dispatch, then on a second stack where every request goes through the stream.
func (r *runner) async(ctx context.Context, t *target) (Result, error) {
	n := r.opts.requests(ScenarioAsync)
	c := min(r.opts.Connections, n, 10)
	inProcess := r.opts.URL == ""
	total := n
	if inProcess {
		total = 2 * n
	}
	bar := newProgressBar(r.opts.Progress, ScenarioAsync, total)
	defer bar.Finish()
	res := Result{Notes: []string{
		fmt.Sprintf("process_data %s (about 200 ms of work), %d connections, one job in flight on each", shortJob, c),
		"first progress is the first item (20 ms) plus the time to a running worker: with direct dispatch the router's invoke; through the stream its poll (every 250 ms), the processor and its invoke",
	}}
	if r.opts.AWSModel {
		res.Notes = append(res.Notes, awsModelNote())
	}
	if !inProcess {
		run, err := r.asyncJobs(ctx, t, n, c, bar)
		if err != nil {
			return res, err
		}
		res.Latencies = run.latencies("async ")
		return res, nil
	}

	label := "direct dispatch: "
	if r.opts.StreamOnly {
		label = "stream only: "
	}
	first, err := r.asyncJobs(ctx, t, n, c, bar)
	if err != nil {
		return res, err
	}
	res.Latencies = first.latencies(label)
	if r.opts.StreamOnly {
		return res, nil
	}
	st, err := r.startStack(ctx, local.Config{}, lambdas.WithDirectDispatch(false))
	if err != nil {
		return res, err
	}
	defer shutdown(st)
	streamTarget, err := inProcessTarget(st)
	if err != nil {
		return res, err
	}
	stream, err := r.asyncJobs(ctx, streamTarget, n, c, bar)
	if err != nil {
		return res, err
	}
	res.Latencies = append(res.Latencies, stream.latencies("stream only: ")...)
	onFirst, onDone := first.first.summary().P50MS, first.done.summary().P50MS
	offFirst, offDone := stream.first.summary().P50MS, stream.done.summary().P50MS
	if r.opts.AWSModel {
		res.Figures = append(res.Figures,
			figure("direct dispatch: first progress p50", onFirst, "ms"),
			figure("direct dispatch: completion p50", onDone, "ms"))
	} else {
		res.Figures = append(res.Figures,
			atMost("direct dispatch: first progress p50", onFirst, "ms", asyncFirstProgressGoalMS),
			atMost("direct dispatch: completion p50", onDone, "ms", asyncCompletionGoalMS))
	}
	res.Figures = append(res.Figures,
		figure("stream only: first progress p50", offFirst, "ms"),
		figure("stream only: completion p50", offDone, "ms"),
		figure("first progress p50 saved by direct dispatch", offFirst-onFirst, "ms"),
		figure("ack p50 added by direct dispatch", first.ack.summary().P50MS-stream.ack.summary().P50MS, "ms"))
	res.Notes = append(res.Notes, "the second stack runs the same jobs with direct dispatch off (lambdas.WithDirectDispatch(false)), after the first")
	return res, nil
}

// asyncJobs runs n short jobs on c connections to t, one in flight on each.
func (r *runner) asyncJobs(ctx context.Context, t *target, n, c int, bar *progressBar) (jobRun, error) {
	conns, _, err := dialAll(ctx, t.dialer(), c, nil)
	if err != nil {
		return jobRun{}, err
	}
	return r.runJobs(ctx, conns, "async", n, shortJob, true, bar), nil
}

// fanout opens N connections, then starts a one-second job on each at once.
func (r *runner) fanout(ctx context.Context, t *target) (Result, error) {
	n := r.opts.Connections
	bar := newProgressBar(r.opts.Progress, ScenarioFanout, 2*n)
	start := time.Now()
	conns, lat, err := dialAll(ctx, t.dialer(), n, bar)
	if err != nil {
		return Result{}, err
	}
	connect := Summarize(lat, 0, time.Since(start))
	run := r.runJobs(ctx, conns, "fanout", n, secondJob, false, bar)
	bar.Finish()
	wall := run.done.wall.Seconds()
	res := Result{
		Latencies: append([]Latency{{Name: fmt.Sprintf("connect ($connect + authorizer), %d connections", n), Summary: connect}}, run.latencies("job ")...),
		Figures: []Figure{
			figure("messages received per second, all connections", Ratio(float64(run.messages), wall), "msg/s"),
			figure("progress pushes per second, per request (client-side)", run.pushRate(), "msg/s"),
		},
		Notes: []string{
			fmt.Sprintf("process_data %s (1 s, 10 reports) on every connection at once", secondJob),
			"push rate: intervals between a job's progress messages per second, the final flush before the result left out; over a 1 s job, a few ms of client-side delay on the first message moves it by a few %; cost's 1,000-report job holds it against the goal",
		},
	}
	return res, nil
}

// concurrency runs M one-second jobs at once and reports their wall time.
func (r *runner) concurrency(ctx context.Context, t *target) (Result, error) {
	m := r.opts.Jobs
	c := min(r.opts.Connections, m)
	conns, _, err := dialAll(ctx, t.dialer(), c, nil)
	if err != nil {
		return Result{}, err
	}
	bar := newProgressBar(r.opts.Progress, ScenarioConcurrency, m)
	run := r.runJobs(ctx, conns, "conc", m, secondJob, false, bar)
	bar.Finish()
	wall := run.done.wall.Seconds()
	name := fmt.Sprintf("wall time of %d one-second jobs", m)
	fig := figure(name, wall, "s")
	if m <= 100 {
		fig = atMost(name, wall, "s", 2)
	}
	return Result{
		Latencies: run.latencies("job "),
		Figures:   []Figure{fig},
		Notes:     []string{fmt.Sprintf("process_data %s on %d connections, all sent at once", secondJob, c)},
	}, nil
}
