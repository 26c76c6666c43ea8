package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/local"
)

// noCounters is cost's note for a stack without call counters.
const noCounters = "skipped: cost needs a local stack's call counters (GET /metrics); a deployed stack has none"

// costCase is one row of the cost scenario.
type costCase struct {
	name    string
	action  string
	payload string // JSON; empty sends none
	async   bool
	chatty  bool // the job that reports 1,000 times: held against the write and push bounds
}

// costCases returns the rows of the cost scenario: every demo action, and process_data
// reporting 1,000 times, which shows that reports are coalesced into at most 5 pushes
// and one progress write a second.
func costCases() []costCase {
	return []costCase{
		{name: demo.ActionEcho, action: demo.ActionEcho, payload: `{"message":"hello"}`},
		{name: demo.ActionHealth, action: demo.ActionHealth},
		{name: demo.ActionGenerateReport + " (31 days)", action: demo.ActionGenerateReport, payload: `{"start_date":"2026-01-01","end_date":"2026-01-31"}`, async: true},
		{name: demo.ActionProcessData + " (1 s, 10 reports)", action: demo.ActionProcessData, payload: secondJob, async: true},
		{name: demo.ActionProcessData + " (1,000 reports)", action: demo.ActionProcessData, payload: chattyJob, async: true, chatty: true},
	}
}

// settleTimeout bounds the wait for the stack to go quiet after a case's last reply.
const settleTimeout = 5 * time.Second

// cost runs N requests of each demo action, reads the call counters before and after,
// and prices the difference per request.
func (r *runner) cost(ctx context.Context, t *target) (Result, error) {
	if t.metrics == nil {
		return Result{Notes: []string{noCounters}}, nil
	}
	n := r.opts.requests(ScenarioCost)
	nAsync := min(n, 100)
	prices := ListPrices()
	res := Result{Notes: []string{
		fmt.Sprintf("AWS list prices for us-east-1 as of %s (check them): API Gateway WebSocket $1.00 per million messages (32 KB units) and $0.25 per million connection minutes; Lambda $0.20 per million requests and $0.0000133334 per GB-s (arm64); DynamoDB on-demand $0.625 per million WRU and $0.125 per million RRU; Streams GetRecords $0.02 per 100,000, free when Lambda reads the stream (priced 0 here)", prices.AsOf),
		"GB-s use each function's memory as the local stack sets it (StreamerApi's defaults) and its duration on this machine; in AWS the durations include network round trips to DynamoDB and API Gateway",
		"WRU: one per write of an item under 1 KB, plus the extra KBs of the finishing write that stores the result; RRU: one per read (items under 4 KB, strongly consistent)",
		"sync actions pay no PostToConnection: the reply is the route response; per-connection costs (authorizer, $connect, $disconnect) are the connect+disconnect row",
	}}
	total := 0
	cases := costCases()
	for _, c := range cases {
		if c.async {
			total += nAsync
		} else {
			total += n
		}
	}
	bar := newProgressBar(r.opts.Progress, ScenarioCost, total)
	defer bar.Finish()

	conn, err := dial(ctx, t.url, t.token)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	for ci, c := range cases {
		count, workers := n, 1
		if c.async {
			count, workers = nAsync, nAsync
		}
		before, err := t.metrics(ctx)
		if err != nil {
			return res, err
		}
		var (
			mu  sync.Mutex
			run jobRun
		)
		run.done = closedLoop(ctx, workers, count, bar, func(ctx context.Context, _, i int) (time.Duration, bool, error) {
			jt, err := request(ctx, conn, r.id(fmt.Sprintf("cost%d", ci), i), c.action, rawPayload(c.payload))
			if err == nil {
				mu.Lock()
				run.add(jt)
				mu.Unlock()
			}
			return jt.done, false, err
		})
		after, err := settle(ctx, t.metrics)
		if err != nil {
			return res, err
		}
		done := len(run.done.latencies)
		if done == 0 {
			return res, fmt.Errorf("bench: cost: no %s request succeeded (%d errors)", c.action, run.done.errors)
		}
		extra := 0.0
		if c.async {
			extra = float64(done) * ExtraWriteUnits(len(c.payload), int(run.resultBytes)/done)
		}
		u := UsageOf(after.Sub(before), done, extra)
		res.Cost = append(res.Cost, ActionCost{Action: c.name, Requests: done, PerRequest: u, PerMillion: prices.Cost(u)})
		if c.chatty {
			res.Figures = append(res.Figures, chattyFigures(u, run)...)
		}
	}
	perConn, err := connectionCost(ctx, t, prices)
	if err != nil {
		return res, err
	}
	res.Cost = append(res.Cost, perConn)
	return res, nil
}

// rawPayload returns the JSON payload to send: none (a nil interface, which
// client.Call sends as no payload) for an empty one.
func rawPayload(payload string) any {
	if payload == "" {
		return nil
	}
	return json.RawMessage(payload)
}

// chattyFigures hold the 1,000-report job against the goals: at most enqueue, claim and
// finish plus one progress write per started second of run time (ack to result), at
// most 5 progress pushes a second.
func chattyFigures(u Usage, run jobRun) []Figure {
	seconds := run.meanRunning().Seconds()
	return []Figure{
		figure("1,000-report job: mean run time, ack to result", seconds, "s"),
		atMost("1,000-report job: DynamoDB writes per request (bound: 3 + 1 per started second)", u.DynamoDBWrites, "writes", 3+math.Ceil(seconds)),
		figure("1,000-report job: posts per request (progress + result)", u.PostToConnection, "posts"),
		atMost("1,000-report job: progress pushes per second", run.pushRate(), "msg/s", 5),
	}
}

// connectionCost measures one connection's own usage: authorizer, $connect, $disconnect.
func connectionCost(ctx context.Context, t *target, prices Prices) (ActionCost, error) {
	const n = 10
	before, err := t.metrics(ctx)
	if err != nil {
		return ActionCost{}, err
	}
	for range n {
		c, err := dial(ctx, t.url, t.token)
		if err != nil {
			return ActionCost{}, err
		}
		_ = c.Close()
	}
	after, err := settle(ctx, t.metrics)
	if err != nil {
		return ActionCost{}, err
	}
	u := UsageOf(after.Sub(before), n, 0)
	return ActionCost{Action: "connect+disconnect (per connection)", Requests: n, PerRequest: u, PerMillion: prices.Cost(u)}, nil
}

// settle waits until the stack's functions and DynamoDB calls stop changing (a worker
// still writing, a $disconnect still running) for two reads 100 ms apart, or
// settleTimeout, and returns the last counters.
func settle(ctx context.Context, metrics func(context.Context) (local.Snapshot, error)) (local.Snapshot, error) {
	deadline := time.Now().Add(settleTimeout)
	prev, err := metrics(ctx)
	if err != nil {
		return prev, err
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		cur, err := metrics(ctx)
		if err != nil {
			return cur, err
		}
		if quiet(prev, cur) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// quiet reports whether no function ran and no DynamoDB call happened between a and b
// (stream polls go on regardless).
func quiet(a, b local.Snapshot) bool {
	for _, fn := range contract.Roles {
		if a.Lambda[fn].Invocations != b.Lambda[fn].Invocations {
			return false
		}
	}
	for table, ops := range b.DynamoDB {
		if !maps.Equal(ops, a.DynamoDB[table]) {
			return false
		}
	}
	return maps.Equal(a.ConnectionsAPI, b.ConnectionsAPI) && b.APIGateway.Open == a.APIGateway.Open
}
