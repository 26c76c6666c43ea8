package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
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

// progressInterval is the protocol's minimum time between two progress messages of a
// request.
const progressInterval = 200 * time.Millisecond

// asyncRun is one async request's messages as a raw client received them, by kind.
type asyncRun struct {
	ack      frame
	progress []frame
	terminal []frame // the error, the result, or every part of a split result
	status   []frame // status messages (answers to streamer.status, .cancel or a resend)
}

// checkAsync checks the guarantees every async request has on the socket connected for
// it and sorts its messages: an ack first, progress never going down and at most one per
// 200 ms (on arrival times, with one interval of slack for delivery jitter), no progress
// after the terminal message, and exactly one terminal message (socket.collect stops at
// it; socket.quiet checks that nothing follows).
func checkAsync(t *testing.T, msgs []frame) asyncRun {
	t.Helper()
	require.NotEmpty(t, msgs)
	run := asyncRun{ack: msgs[0]}
	require.Equal(t, protocol.TypeAck, run.ack.Type, "an async request is acknowledged first, got %s", run.ack.raw)
	require.Equal(t, "PENDING", run.ack.Status, run.ack.raw)
	last := -1.0
	for _, m := range msgs[1:] {
		switch m.Type {
		case protocol.TypeProgress:
			require.Empty(t, run.terminal, "progress after the terminal message: %s", m.raw)
			require.GreaterOrEqual(t, m.Percentage, last, "progress went down: %s", m.raw)
			require.False(t, m.Timestamp.IsZero(), "progress without a timestamp: %s", m.raw)
			last = m.Percentage
			run.progress = append(run.progress, m)
		case protocol.TypeResult, protocol.TypeError:
			run.terminal = append(run.terminal, m)
		case protocol.TypeStatus:
			run.status = append(run.status, m)
		default:
			t.Fatalf("unexpected message for the request: %s", m.raw)
		}
	}
	checkTerminal(t, run.terminal)
	checkRate(t, run.progress)
	return run
}

// checkTerminal requires exactly one terminal message: one error, one whole result, or
// the parts 0..count-1 of one split result, in order.
func checkTerminal(t *testing.T, terminal []frame) {
	t.Helper()
	require.NotEmpty(t, terminal, "no terminal message")
	if len(terminal) == 1 && terminal[0].Part == nil {
		return
	}
	for i, m := range terminal {
		require.Equal(t, protocol.TypeResult, m.Type, "more than one terminal message: %s", m.raw)
		require.NotNil(t, m.Part, "a whole result among the parts of a split one: %s", m.raw)
		require.Equal(t, i, m.Part.Index, "parts out of order")
		require.Equal(t, len(terminal), m.Part.Count, "part count")
	}
}

// checkRate requires at most one progress message per interval.
func checkRate(t *testing.T, progress []frame) {
	t.Helper()
	if len(progress) < 2 {
		return
	}
	span := progress[len(progress)-1].at.Sub(progress[0].at)
	allowed := int(span/progressInterval) + 2
	require.LessOrEqual(t, len(progress), allowed, "%d progress messages in %s: more than one per %s", len(progress), span, progressInterval)
}

// data returns the data of the request's result: a whole result's, or the concatenated
// parts of a split one.
func (r asyncRun) data(t *testing.T) json.RawMessage {
	t.Helper()
	require.Equal(t, protocol.TypeResult, r.terminal[0].Type, "the request failed: %s", r.terminal[0].raw)
	if r.terminal[0].Part == nil {
		require.True(t, r.terminal[0].Success, r.terminal[0].raw)
		return r.terminal[0].Data
	}
	var b strings.Builder
	for _, p := range r.terminal {
		b.WriteString(p.DataPart)
	}
	return json.RawMessage(b.String())
}

// errorCode returns the code of the request's terminal error.
func (r asyncRun) errorCode(t *testing.T) string {
	t.Helper()
	term := r.terminal[0]
	require.Equal(t, protocol.TypeError, term.Type, "the request did not fail: %s", term.raw)
	require.NotNil(t, term.Error, term.raw)
	return term.Error.Code
}

// processData is the payload of the demo's process_data.
func processData(items, itemMS int) map[string]int {
	return map[string]int{"items": items, "item_ms": itemMS}
}

// reportPeriod is the payload of the demo's generate_report: a week.
var reportPeriod = map[string]string{"start_date": "2026-01-01", "end_date": "2026-01-07"}

func testAsyncReport(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("report")
	s.call(actionGenerateReport, id, reportPeriod)
	run := checkAsync(t, s.collect(id))
	s.quiet(id)
	require.Equal(t, actionGenerateReport, run.ack.Action)
	require.Equal(t, id, run.ack.RequestID)

	// The report reports 10, 30, 60 and 90 % half a second apart: coalescing keeps them
	// all unless delivery stalls, and never drops the last.
	require.NotEmpty(t, run.progress)
	for _, p := range run.progress {
		require.Contains(t, []float64{10, 30, 60, 90}, p.Percentage, p.raw)
		require.NotEmpty(t, p.Message, p.raw)
	}
	require.InDelta(t, 90, run.progress[len(run.progress)-1].Percentage, 0.001, "the latest state is delivered")
	require.Equal(t, actionGenerateReport, run.terminal[0].Action)

	var report map[string]any
	require.NoError(t, json.Unmarshal(run.data(t), &report))
	require.EqualValues(t, 7, report["days"])
	require.Len(t, report["rows"], 7)
	require.Equal(t, "2026-01-01", report["start_date"])

	// The Go client: the same report, its ack, its progress in order.
	c := b.client(client.Options{})
	var pcts []float64 // written by the OnProgress goroutine; Wait waits for its last run
	call, err := c.Call(b.ctx, actionGenerateReport, reportPeriod, client.OnProgress(func(p protocol.ProgressMessage) {
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
	const items = 100
	s := b.dial()
	id := b.id("coalesce")
	s.call(actionProcessData, id, processData(items, 10))
	run := checkAsync(t, s.collect(id))
	s.quiet(id)

	n := len(run.progress)
	require.NotZero(t, n)
	require.Less(t, n, items/5, "%d progress reports became %d messages: not coalesced", items, n)
	last := run.progress[n-1]
	require.InDelta(t, 100, last.Percentage, 0.001, "the latest state is delivered: %s", last.raw)
	require.EqualValues(t, items, last.Metadata["items_processed"], last.raw)
	require.JSONEq(t, fmt.Sprintf(`{"items_processed":%d}`, items), string(run.data(t)))
	t.Logf("coalescing: %d progress reports -> %d messages over %s", items, n, last.at.Sub(run.progress[0].at).Round(time.Millisecond))
}

func testIdempotentID(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("idem")
	payload := processData(10, 50)
	s.call(actionProcessData, id, payload)
	ack := s.next()
	require.Equal(t, protocol.TypeAck, ack.Type, ack.raw)
	s.call(actionProcessData, id, payload) // the same id again, while it runs

	msgs := append([]frame{ack}, s.collect(id)...)
	run := checkAsync(t, msgs) // one ack, progress never going back (a second run would restart it)
	s.quiet(id)                // and one terminal message
	require.Len(t, run.status, 1, "the resend is answered with the request's state")
	st := run.status[0]
	require.Contains(t, []string{"PENDING", "PROCESSING"}, st.Status, st.raw)
	require.JSONEq(t, `{"items_processed":10}`, string(run.data(t)))

	// Once finished, the same id from another connection gets the stored outcome, and
	// the work does not run again.
	other := b.dial()
	other.call(actionProcessData, id, payload)
	m := other.next()
	require.Equal(t, protocol.TypeStatus, m.Type, m.raw)
	require.Equal(t, id, m.RequestID)
	require.Equal(t, "COMPLETED", m.Status, m.raw)
	require.JSONEq(t, `{"items_processed":10}`, string(m.Result))
	other.quiet(id)

	// Cancelling a finished request changes nothing.
	other.call(protocol.ActionCancel, "", map[string]string{"id": id})
	m = other.next()
	require.Equal(t, protocol.TypeStatus, m.Type, m.raw)
	require.Equal(t, "COMPLETED", m.Status, m.raw)
	require.Nil(t, m.Error, m.raw)
	other.quiet(id)
}

func testResultAfterDisconnect(t *testing.T, b *bundle) {
	id := b.id("gone")
	first := b.dial()
	first.call(actionProcessData, id, processData(3, 100))
	require.Equal(t, protocol.TypeAck, first.next().Type)
	first.close() // the client goes away; the work goes on

	// A one-second job of the same user's new connection is the clock: by its end the
	// 0.3 s request finished without a client.
	second := b.dial()
	clock := b.id("clock")
	second.call(actionProcessData, clock, processData(10, 100))
	checkAsync(t, second.collect(clock))

	second.call(protocol.ActionStatus, "", map[string]string{"id": id})
	st := second.next()
	require.Equal(t, protocol.TypeStatus, st.Type, st.raw)
	require.Equal(t, id, st.RequestID)
	if st.Status != "COMPLETED" {
		// Still running on a slow box: the status resumed it here; its end comes now.
		t.Logf("the request was still %s after the clock job", st.Status)
		msgs := second.collect(id)
		checkTerminal(t, msgs[len(msgs)-1:])
		second.call(protocol.ActionStatus, "", map[string]string{"id": id})
		st = second.next()
	}
	require.Equal(t, "COMPLETED", st.Status, "the outcome is stored: %s", st.raw)
	require.InDelta(t, 100, st.Percentage, 0.001, st.raw)
	require.JSONEq(t, `{"items_processed":3}`, string(st.Result))
	second.quiet(id)
}

func testGeneratedID(t *testing.T, b *bundle) {
	s := b.dial()
	s.send(`{"action":"echo","payload":{"n":1}}`)
	m := s.next()
	require.Equal(t, protocol.TypeResult, m.Type, m.raw)
	require.True(t, protocol.ValidID(m.RequestID), "a generated id comes back: %s", m.raw)

	s.call(actionGenerateReport, "", reportPeriod)
	ack := s.next()
	require.Equal(t, protocol.TypeAck, ack.Type, ack.raw)
	id := ack.RequestID
	require.True(t, protocol.ValidID(id), "the ack carries the generated id: %s", ack.raw)
	require.NotEqual(t, m.RequestID, id, "every request gets its own id")
	run := checkAsync(t, append([]frame{ack}, s.collect(id)...))
	s.quiet(id)
	require.NotEmpty(t, run.progress, "progress carries the generated id")
	require.Equal(t, id, run.terminal[0].RequestID)
}

func testResumeAfterReconnect(t *testing.T, b *bundle) {
	id := b.id("resume")
	first := b.dial()
	first.call(actionProcessData, id, processData(20, 100))
	require.Equal(t, protocol.TypeAck, first.next().Type)
	for f := first.next(); f.Type != protocol.TypeProgress; f = first.next() {
		require.Equal(t, id, f.RequestID, f.raw)
	}
	first.close() // mid-request: the work goes on without a client

	second := b.dial()
	second.call(protocol.ActionStatus, "", map[string]string{"id": id})
	msgs := second.collect(id)
	second.quiet(id)

	// The status answer and the rest of the progress may cross on the way: progress never
	// goes down, and none after the status is behind it.
	var st *frame
	last, progressed := -1.0, 0
	for i, m := range msgs[:len(msgs)-1] {
		switch m.Type {
		case protocol.TypeStatus:
			require.Nil(t, st, "one status answer: %s", m.raw)
			st = &msgs[i]
			require.Contains(t, []string{"PENDING", "PROCESSING"}, m.Status, m.raw)
			require.Nil(t, m.Error, m.raw)
			last = max(last, m.Percentage)
		case protocol.TypeProgress:
			require.GreaterOrEqual(t, m.Percentage, last, "progress went down: %s", m.raw)
			last = m.Percentage
			progressed++
		default:
			t.Fatalf("unexpected message: %s", m.raw)
		}
	}
	require.NotNil(t, st, "streamer.status answers status")
	require.NotZero(t, progressed, "the rest of the progress reaches the new connection")
	checkTerminal(t, msgs[len(msgs)-1:])
	run := asyncRun{terminal: msgs[len(msgs)-1:]}
	require.JSONEq(t, `{"items_processed":20}`, string(run.data(t)))
}

func testCancelRunning(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("cancel")
	s.call(actionProcessData, id, processData(200, 50)) // 10 s of work
	msgs := []frame{s.next()}
	for msgs[len(msgs)-1].Type != protocol.TypeProgress {
		msgs = append(msgs, s.next())
	}
	s.call(protocol.ActionCancel, "", map[string]string{"id": id})
	cancelled := time.Now()
	msgs = append(msgs, s.collect(id)...)
	took := time.Since(cancelled)
	run := checkAsync(t, msgs)
	s.quiet(id)

	require.Len(t, run.status, 1, "streamer.cancel answers status")
	require.Contains(t, []string{"PROCESSING", "CANCELLED"}, run.status[0].Status, run.status[0].raw)
	require.Equal(t, streamer.ErrCodeCancelled, run.errorCode(t))
	require.False(t, run.terminal[0].Error.Retryable())
	require.Less(t, run.progress[len(run.progress)-1].Percentage, 100.0, "the work stopped")
	require.Less(t, took, 5*time.Second, "the cancelled work stops well before its 10 s")
	t.Logf("cancel: terminal error %s after the cancel", took.Round(time.Millisecond))

	s.call(protocol.ActionStatus, "", map[string]string{"id": id})
	st := s.next()
	require.Equal(t, protocol.TypeStatus, st.Type, st.raw)
	require.Equal(t, "CANCELLED", st.Status, st.raw)
	require.NotNil(t, st.Error, st.raw)
	require.Equal(t, streamer.ErrCodeCancelled, st.Error.Code)

	// The Go client: Cancel ends the call with a CANCELLED *streamer.Error.
	c := b.client(client.Options{})
	call, err := c.Call(b.ctx, actionProcessData, processData(200, 50))
	require.NoError(t, err)
	waitProgress(t, b, call)
	require.NoError(t, call.Cancel(b.ctx))
	_, err = call.Wait(b.ctx)
	var se *streamer.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodeCancelled, se.Code)
}

// testCancelRightAfterAck cancels a request as soon as its ack arrives. A worker may have
// it already (direct dispatch starts one at once) or not (it waits for the stream): the
// client gets CANCELLED either way, once, and nothing after.
func testCancelRightAfterAck(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("cancel-early")
	s.call(actionProcessData, id, processData(10, 100))
	ack := s.next()
	require.Equal(t, protocol.TypeAck, ack.Type, ack.raw)
	s.call(protocol.ActionCancel, "", map[string]string{"id": id})
	st := s.next()
	require.Equal(t, protocol.TypeStatus, st.Type, "streamer.cancel answers status: %s", st.raw)
	require.Equal(t, id, st.RequestID)
	if st.Status == "CANCELLED" {
		require.NotNil(t, st.Error, st.raw)
		require.Equal(t, streamer.ErrCodeCancelled, st.Error.Code, st.raw)
		pendingCancelEnd(t, s, id)
		return
	}
	require.Contains(t, []string{"PROCESSING", "PENDING"}, st.Status, st.raw)
	run := checkAsync(t, append([]frame{ack, st}, s.collect(id)...))
	require.Equal(t, streamer.ErrCodeCancelled, run.errorCode(t))
	s.quiet(id)
}

// pendingAttempts bounds the tries to cancel a request before a worker picks it up (the
// stream poller can win the race; that try then is a running cancel).
const pendingAttempts = 5

func testCancelPending(t *testing.T, b *bundle) {
	s := b.dial()
	for attempt := range pendingAttempts {
		id := b.id(fmt.Sprintf("pending-%d", attempt))
		s.call(actionProcessData, id, processData(10, 100))
		ack := s.next()
		require.Equal(t, protocol.TypeAck, ack.Type, ack.raw)
		s.call(protocol.ActionCancel, "", map[string]string{"id": id})
		st := s.next()
		require.Equal(t, protocol.TypeStatus, st.Type, "streamer.cancel answers status: %s", st.raw)
		require.Equal(t, id, st.RequestID)
		if st.Status != "CANCELLED" {
			t.Logf("attempt %d: a worker had the request already (%s); trying again", attempt+1, st.Status)
			run := checkAsync(t, append([]frame{ack, st}, s.collect(id)...))
			require.Equal(t, streamer.ErrCodeCancelled, run.errorCode(t))
			s.quiet(id)
			continue
		}
		// Cancelled while PENDING, at once: the answer says so, and the work never runs.
		require.NotNil(t, st.Error, st.raw)
		require.Equal(t, streamer.ErrCodeCancelled, st.Error.Code, st.raw)
		pendingCancelEnd(t, s, id)
		return
	}
	t.Fatalf("in %d attempts, a worker always took the request before streamer.cancel", pendingAttempts)
}

// pendingCancelEnd watches a request cancelled while pending: after the status answer
// comes exactly one message about it, its terminal error CANCELLED (PROTOCOL.md: "either
// way its terminal message is an error with code CANCELLED"); no progress, no result.
func pendingCancelEnd(t *testing.T, s *socket, id string) {
	t.Helper()
	timer := time.NewTimer(quietWait)
	defer timer.Stop()
	terminal := 0
	for {
		select {
		case f, ok := <-s.in:
			require.True(t, ok, "the socket closed: %v", s.err)
			if f.RequestID != id {
				continue
			}
			require.Equal(t, protocol.TypeError, f.Type, "a cancelled pending request never runs: %s", f.raw)
			require.Equal(t, streamer.ErrCodeCancelled, f.Error.Code, f.raw)
			terminal++
			require.Equal(t, 1, terminal, "one terminal message: %s", f.raw)
		case <-timer.C:
			require.Equal(t, 1, terminal, "a request cancelled while pending gets its terminal error CANCELLED")
			return
		}
	}
}

// fiftyJobs is how many one-second jobs testFiftyConcurrentJobs sends at once.
const fiftyJobs = 50

func testFiftyConcurrentJobs(t *testing.T, b *bundle) {
	c := b.client(client.Options{})
	var before stackMetrics
	if b.target.local != nil {
		var err error
		before, err = b.target.local.metrics(b.ctx)
		require.NoError(t, err)
	}
	start := time.Now()
	errs := make([]error, fiftyJobs)
	var wg sync.WaitGroup
	for i := range fiftyJobs {
		wg.Go(func() {
			call, err := c.Call(b.ctx, actionProcessData, processData(10, 100), client.WithID(b.id(fmt.Sprint("job-", i))))
			if err != nil {
				errs[i] = err
				return
			}
			res, err := call.Wait(b.ctx)
			switch {
			case err != nil:
				errs[i] = err
			case string(res.Data) != `{"items_processed":10}`:
				errs[i] = fmt.Errorf("job %d: result %s", i, res.Data)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d x 1 s process_data jobs sent at once finished in %s", fiftyJobs, elapsed.Round(time.Millisecond))
	require.Less(t, elapsed, 10*time.Second, "the jobs must run concurrently, not one after another")

	if ls := b.target.local; ls != nil {
		// The tests in parallel with this one wait: every worker invocation is one of these
		// jobs, two each: the router's direct dispatch, and the stream's record, which finds
		// the job held or done and runs nothing.
		require.Eventually(t, func() bool {
			after, err := ls.metrics(b.ctx)
			return err == nil && after.Lambda["worker"].Invocations-before.Lambda["worker"].Invocations == 2*fiftyJobs
		}, 10*time.Second, 50*time.Millisecond, "two worker invocations per job")
	}
}
