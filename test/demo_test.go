package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/conformance"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// The demo actions (cmd/demo) the suite calls.
const (
	actionEcho           = "echo"
	actionHealth         = "health"
	actionGenerateReport = "generate_report"
	actionProcessData    = "process_data"
)

// processData is the payload of the demo's process_data.
func processData(items, itemMS int) map[string]int {
	return map[string]int{"items": items, "item_ms": itemMS}
}

// largeResultKB is the size of process_data's padded result the conformance suite's
// LargeResult asks for: the most it allows, over twice the message limit.
const largeResultKB = 300

// demoActions describes the demo's actions to the conformance suite: echo is the sync
// one; process_data is the async one (a second of work, with progress), the long one (60
// s of work, so that stopping early needs no tight bound on a loaded machine) and the
// large one.
func demoActions(cfg conformance.Config) conformance.Config {
	payload := func(v any) json.RawMessage {
		raw, _ := json.Marshal(v) // maps of strings and ints always encode
		return raw
	}
	cfg.Sync = &conformance.Action{Name: actionEcho, Payload: payload(map[string]any{"hello": "world", "n": 1})}
	cfg.Async = &conformance.Action{Name: actionProcessData, Payload: payload(processData(10, 100)), Progress: true}
	cfg.Long = &conformance.Action{Name: actionProcessData, Payload: payload(processData(1200, 50))}
	cfg.Large = &conformance.Action{
		Name:           actionProcessData,
		Payload:        payload(map[string]int{"items": 1, "item_ms": 0, "result_kb": largeResultKB}),
		MinResultBytes: largeResultKB * 1024,
	}
	return cfg
}

// reportPeriod is the payload of the demo's generate_report: a week.
var reportPeriod = map[string]string{"start_date": "2026-01-01", "end_date": "2026-01-07"}

func testSyncHealth(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("health")
	s.Call(actionHealth, id, nil)
	m := s.Next()
	require.Equal(t, protocol.TypeResult, m.Type, m.Raw)
	require.Equal(t, id, m.RequestID)
	var data struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(m.Data, &data), m.Raw)
	require.Equal(t, "ok", data.Status)
	require.NotEmpty(t, data.Version)
}

func testValidationErrors(t *testing.T, b *bundle) {
	s := b.dial()
	for _, tc := range []struct {
		name, action string
		payload      any
		field        string
	}{
		{"end before start", actionGenerateReport, map[string]string{"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date"},
		{"dates missing", actionGenerateReport, map[string]string{}, "payload"},
		{"not a date", actionGenerateReport, map[string]string{"start_date": "yesterday", "end_date": "2026-01-01"}, "start_date"},
		{"no items", actionProcessData, map[string]int{"items": 0}, "items"},
		{"result too big", actionProcessData, map[string]int{"items": 1, "result_kb": 301}, "result_kb"},
		{"echo without payload", actionEcho, nil, "payload"},
	} {
		id := b.id("invalid-" + tc.field)
		s.Call(tc.action, id, tc.payload)
		m := s.Next()
		require.Equal(t, protocol.TypeError, m.Type, "%s: refused before any ack: %s", tc.name, m.Raw)
		require.Equal(t, id, m.RequestID, tc.name)
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code, "%s: %s", tc.name, m.Raw)
		require.Equal(t, tc.field, m.Error.Details["field"], "%s: %s", tc.name, m.Raw)
		require.NotNil(t, m.Error.Retry, "%s: %s", tc.name, m.Raw)
		require.False(t, m.Error.Retry.Retryable, "%s: %s", tc.name, m.Raw)
	}
	s.Call(protocol.ActionPing, "", nil)
	require.Equal(t, protocol.TypePong, s.Next().Type, "nothing but one error per invalid request")

	call, err := b.client().Call(b.ctx, actionGenerateReport, map[string]string{"start_date": "2026-02-01", "end_date": "2026-01-01"})
	require.NoError(t, err)
	_, err = call.Wait(b.ctx)
	var se *streamer.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodeValidation, se.Code)
	require.False(t, se.Retryable())
}

func testAsyncReport(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("report")
	s.Call(actionGenerateReport, id, reportPeriod)
	run := conformance.CheckAsync(t, id, s.Collect(id))
	s.Quiet(id)
	require.Equal(t, actionGenerateReport, run.Ack.Action)

	// The report reports 10, 30, 60 and 90 % half a second apart: coalescing keeps them
	// all unless delivery stalls, and never drops the last.
	require.NotEmpty(t, run.Progress)
	for _, p := range run.Progress {
		require.Contains(t, []float64{10, 30, 60, 90}, p.Percentage, p.Raw)
		require.NotEmpty(t, p.Message, p.Raw)
	}
	require.InDelta(t, 90, run.Progress[len(run.Progress)-1].Percentage, 0.001, "the latest state is delivered")
	require.Equal(t, actionGenerateReport, run.Terminal[0].Action)

	var report map[string]any
	require.NoError(t, json.Unmarshal(run.Data(t), &report))
	require.EqualValues(t, 7, report["days"])
	require.Len(t, report["rows"], 7)
	require.Equal(t, "2026-01-01", report["start_date"])

	// The Go client: the same report, its ack, its progress in order.
	var pcts []float64 // written by the OnProgress goroutine; Wait waits for its last run
	call, err := b.client().Call(b.ctx, actionGenerateReport, reportPeriod, client.OnProgress(func(p protocol.ProgressMessage) {
		pcts = append(pcts, p.Percentage)
	}))
	require.NoError(t, err)
	res, err := call.Wait(b.ctx)
	require.NoError(t, err)
	require.NotNil(t, call.Ack(), "the client saw the ack")
	require.Equal(t, "PENDING", call.Ack().Status)
	require.NotEmpty(t, pcts)
	require.IsNonDecreasing(t, pcts)
	var again map[string]any
	require.NoError(t, json.Unmarshal(res.Data, &again))
	delete(report, "generated_at")
	delete(again, "generated_at")
	require.Equal(t, report, again, "the same period gives the same report")
}

func testCoalescing(t *testing.T, b *bundle) {
	// 1,000 reports a millisecond apart, about a second of work: at five pushes a second
	// at most, the messages stay under a fifth of the reports unless a loaded machine
	// stretches that second past 40.
	const items = 1000
	s := b.dial()
	id := b.id("coalesce")
	s.Call(actionProcessData, id, processData(items, 1))
	run := conformance.CheckAsync(t, id, s.Collect(id))
	s.Quiet(id)

	n := len(run.Progress)
	require.NotZero(t, n)
	require.Less(t, n, items/5, "%d progress reports became %d messages: not coalesced", items, n)
	last := run.Progress[n-1]
	require.InDelta(t, 100, last.Percentage, 0.001, "the latest state is delivered: %s", last.Raw)
	require.EqualValues(t, items, last.Metadata["items_processed"], last.Raw)
	require.JSONEq(t, fmt.Sprintf(`{"items_processed":%d}`, items), string(run.Data(t)))
	t.Logf("coalescing: %d progress reports -> %d messages over %s", items, n, last.At.Sub(run.Progress[0].At).Round(time.Millisecond))
}

func testLargeSyncResult(t *testing.T, b *bundle) {
	// A message of exactly the limit: echo's result, the same data in a larger
	// envelope, is over it and must be split.
	id := b.id("sync-large")
	head, tail := `{"action":"echo","id":"`+id+`","payload":"`, `"}`
	pad := strings.Repeat("y", protocol.MaxMessageBytes-len(head)-len(tail))
	want := []byte(`"` + pad + `"`)

	s := b.dial()
	s.Send(head + pad + tail)
	parts := s.Collect(id)
	s.Quiet(id)
	conformance.CheckParts(t, id, actionEcho, parts, 2)
	conformance.SameBytes(t, want, conformance.AsyncRun{Terminal: parts}.Data(t), "echo's result")

	call, err := b.client().Call(b.ctx, actionEcho, json.RawMessage(want))
	require.NoError(t, err)
	res, err := call.Wait(b.ctx)
	require.NoError(t, err)
	conformance.SameBytes(t, want, res.Data, "the client's reassembled result")
}

// fiftyJobs is how many two-second jobs testFiftyConcurrentJobs sends at once.
const fiftyJobs = 50

// minConcurrency is the fewest jobs testFiftyConcurrentJobs must find running at once on
// average: one after another gives 1.
const minConcurrency = 5

func testFiftyConcurrentJobs(t *testing.T, b *bundle) {
	c := b.client()
	var before stackMetrics
	if b.target.local != nil {
		var err error
		before, err = b.target.local.metrics(b.ctx)
		require.NoError(t, err)
	}
	// Each job runs from its first progress to its result, as the client sees them.
	type span struct{ from, to time.Time }
	spans := make([]span, fiftyJobs)
	start := time.Now()
	errs := make([]error, fiftyJobs)
	var wg sync.WaitGroup
	for i := range fiftyJobs {
		wg.Go(func() {
			started := client.OnProgress(func(protocol.ProgressMessage) {
				if spans[i].from.IsZero() {
					spans[i].from = time.Now()
				}
			})
			call, err := c.Call(b.ctx, actionProcessData, processData(20, 100), client.WithID(b.id(fmt.Sprint("job-", i))), started)
			if err != nil {
				errs[i] = err
				return
			}
			res, err := call.Wait(b.ctx) // after the last OnProgress call has returned
			spans[i].to = time.Now()
			switch {
			case err != nil:
				errs[i] = err
			case string(res.Data) != `{"items_processed":20}`:
				errs[i] = fmt.Errorf("job %d: result %s", i, res.Data)
			case spans[i].from.IsZero():
				errs[i] = fmt.Errorf("job %d: no progress", i)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		require.NoError(t, err)
	}
	// The jobs' running time over the wall time is how many ran at once on average. A
	// loaded machine stretches both alike, so unlike the wall time alone this holds
	// however slow the machine is.
	var running time.Duration
	for _, s := range spans {
		running += s.to.Sub(s.from)
	}
	concurrency := float64(running) / float64(elapsed)
	t.Logf("%d x 2 s process_data jobs sent at once finished in %s, %.1f running at once on average",
		fiftyJobs, elapsed.Round(time.Millisecond), concurrency)
	require.Greater(t, concurrency, float64(minConcurrency), "the jobs must run concurrently, not one after another")

	if ls := b.target.local; ls != nil {
		// Every worker invocation is one of these jobs (the other tests wait for this
		// one): two each when the router's direct dispatch reached the worker, one when
		// the dispatch gave up (it waits DispatchTimeout at most, which a loaded machine
		// can exceed) and the stream delivered the job alone. The stream's record of a
		// dispatched job finds it held or done and runs nothing: the results above came
		// once each.
		var invocations int64
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			after, err := ls.metrics(b.ctx)
			if assert.NoError(c, err) {
				invocations = after.Lambda["worker"].Invocations - before.Lambda["worker"].Invocations
				assert.GreaterOrEqual(c, invocations, int64(fiftyJobs), "a worker invocation per job at least")
			}
		}, conformance.MessageWait, 50*time.Millisecond)
		require.LessOrEqual(t, invocations, int64(2*fiftyJobs), "two worker invocations per job at most")
		t.Logf("%d worker invocations for %d jobs", invocations, fiftyJobs)
	}
}
