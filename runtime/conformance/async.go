package conformance

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// testAsyncLifecycle: an asynchronous request is acknowledged first (PENDING), its
// progress never goes down and comes at most once per 200 ms (give or take the flush of
// the latest state before the end), and exactly one terminal message (its result) ends
// it, after all progress; the Go client sees the ack, ordered progress and the result.
func testAsyncLifecycle(e *env) {
	a := e.cfg.Async
	s := e.dial()
	id := e.id("async")
	sent := time.Now()
	s.Call(a.Name, id, a.Payload)
	run := CheckAsync(e.t, id, s.Collect(id))
	s.Quiet(id)
	checkRate(e.t, id, sent, run)
	must(e.t, run.Ack.Action == a.Name, "the ack names the action %q: %s", a.Name, run.Ack.Raw)
	must(e.t, len(run.Status) == 0, "a status nobody asked for: %s", firstRaw(run.Status))
	must(e.t, !a.Progress || len(run.Progress) > 0, "Config.Async.Progress is set but no progress message arrived")
	must(e.t, run.Terminal[0].Action == a.Name, "the result names the action %q: %s", a.Name, run.Terminal[0].Raw)
	run.Data(e.t)

	var (
		mu   sync.Mutex // OnProgress runs on the call's goroutine
		pcts []float64
	)
	call, err := e.client(client.Options{}).Call(e.ctx, a.Name, a.Payload, client.OnProgress(func(p protocol.ProgressMessage) {
		mu.Lock()
		defer mu.Unlock()
		pcts = append(pcts, p.Percentage)
	}))
	must(e.t, err == nil, "client.Call: %v", err)
	res, err := call.Wait(e.ctx)
	must(e.t, err == nil, "client: the call failed: %v", err)
	must(e.t, res.Success, "client: the result says it did not succeed")
	must(e.t, call.Ack() != nil && call.Ack().Status == protocol.StatusPending, "client: no PENDING ack: %+v", call.Ack())
	mu.Lock()
	defer mu.Unlock()
	must(e.t, !a.Progress || len(pcts) > 0, "client: Config.Async.Progress is set but no progress reached the call")
	must(e.t, slices.IsSorted(pcts), "client: progress went down: %v", pcts)
}

// firstRaw returns the text of the first frame, or "" for none.
func firstRaw(frames []Frame) string {
	if len(frames) == 0 {
		return ""
	}
	return frames[0].Raw
}

// testAsyncGeneratedID: an asynchronous request without an id gets a generated one in
// its ack, its progress and its terminal message.
func testAsyncGeneratedID(e *env) {
	a := e.cfg.Async
	s := e.dial()
	s.Call(a.Name, "", a.Payload)
	ack := s.Next()
	must(e.t, ack.Type == protocol.TypeAck, "an async request is acknowledged first: %s", ack.Raw)
	id := ack.RequestID
	must(e.t, protocol.ValidID(id), "the ack carries the generated id: %s", ack.Raw)
	run := CheckAsync(e.t, id, append([]Frame{ack}, s.Collect(id)...))
	s.Quiet(id)
	must(e.t, !a.Progress || len(run.Progress) > 0, "Config.Async.Progress is set but no progress carried the generated id")
	run.Data(e.t)
}

// testDuplicateID: the same id sent again while the request runs is answered with a
// status and runs nothing twice (one ack, one terminal message, progress never starting
// over); sent again after it finished, from another connection, it gets the stored
// result; cancelling the finished request changes nothing.
func testDuplicateID(e *env) {
	a := e.cfg.Async
	s := e.dial()
	id := e.id("dup")
	s.Call(a.Name, id, a.Payload)
	ack := s.Next()
	must(e.t, ack.Type == protocol.TypeAck, "an async request is acknowledged first: %s", ack.Raw)
	s.Call(a.Name, id, a.Payload) // the same id again, while it runs

	run := CheckAsync(e.t, id, append([]Frame{ack}, s.Collect(id)...))
	if len(run.Status) == 0 {
		// The request finished before the resend was read; its answer is still to come.
		run.Status = append(run.Status, s.Next())
	}
	s.Quiet(id)
	must(e.t, len(run.Status) == 1, "the resend is answered with one status, got %d", len(run.Status))
	st := run.Status[0]
	must(e.t, st.Type == protocol.TypeStatus && st.RequestID == id, "the resend is answered with the request's status: %s", st.Raw)
	switch st.Status {
	case protocol.StatusPending, protocol.StatusProcessing:
	case protocol.StatusCompleted:
		e.t.Logf("the request finished before its resend arrived; an Async action that runs a second or two checks a resend while it runs")
	default:
		e.t.Fatalf("conformance: the resend's status: %s", st.Raw)
	}
	data := run.Data(e.t)

	// Once finished, the same id from another connection gets the stored outcome, and
	// the work does not run again.
	other := e.dial()
	other.Call(a.Name, id, a.Payload)
	m := other.Next()
	must(e.t, m.Type == protocol.TypeStatus && m.RequestID == id, "a finished request's id sent again is answered with its status: %s", m.Raw)
	must(e.t, m.Status == protocol.StatusCompleted, "status %s, want COMPLETED: %s", m.Status, m.Raw)
	requireSameJSON(e, data, m.Result, "the stored result")
	other.Quiet(id)

	// Cancelling a finished request changes nothing and sends no second terminal message.
	other.System(protocol.ActionCancel, id)
	m = other.Next()
	must(e.t, m.Type == protocol.TypeStatus && m.Status == protocol.StatusCompleted && m.Error == nil,
		"cancelling a finished request changes nothing: %s", m.Raw)
	other.Quiet(id)
}

// requireSameJSON fails the test unless got is the JSON value want.
func requireSameJSON(e *env, want, got json.RawMessage, what string) {
	e.t.Helper()
	var w, g bytes.Buffer
	must(e.t, json.Compact(&w, want) == nil, "%s: not JSON: %.200s", what, want)
	must(e.t, json.Compact(&g, got) == nil, "%s: not JSON: %.200s", what, got)
	SameBytes(e.t, w.Bytes(), g.Bytes(), what)
}

// testResultAfterDisconnect: a client goes away right after the ack; the work finishes
// without it, and streamer.status from a new connection of the same user returns
// COMPLETED with the result.
func testResultAfterDisconnect(e *env) {
	a := e.cfg.Async
	id := e.id("gone")
	first := e.dial()
	first.Call(a.Name, id, a.Payload)
	ack := first.Next()
	must(e.t, ack.Type == protocol.TypeAck, "an async request is acknowledged first: %s", ack.Raw)
	first.Close() // the client goes away; the work goes on

	// The same action, sent later by the new connection, is the clock: by its end the
	// first request has most likely finished without a client.
	second := e.dial()
	clock := e.id("clock")
	second.Call(a.Name, clock, a.Payload)
	CheckAsync(e.t, clock, second.Collect(clock))

	second.System(protocol.ActionStatus, id)
	st := second.Next()
	must(e.t, st.Type == protocol.TypeStatus && st.RequestID == id, "streamer.status answers status: %s", st.Raw)
	var delivered json.RawMessage
	if st.Status != protocol.StatusCompleted {
		// Still running on a slow box: the status resumed it here; its end comes now.
		e.t.Logf("the request was still %s after the clock request", st.Status)
		msgs := second.Collect(id)
		delivered = resultData(e.t, msgs[len(msgs)-1:])
		second.System(protocol.ActionStatus, id)
		st = second.Next()
	}
	must(e.t, st.Type == protocol.TypeStatus && st.Status == protocol.StatusCompleted, "the outcome is stored: %s", st.Raw)
	must(e.t, st.Error == nil && len(st.Result) > 0 && string(st.Result) != "null", "a completed status carries the result: %s", st.Raw)
	if delivered != nil {
		requireSameJSON(e, delivered, st.Result, "the stored result")
	}
	second.Quiet(id)
}

// testResumeAfterReconnect: the socket closes mid-request; a new connection of the same
// user sends streamer.status and receives the request's state, then the rest of its
// progress, then (after a cancel) its terminal message.
func testResumeAfterReconnect(e *env) {
	a := e.cfg.Long
	id := e.id("resume")
	first := e.dial()
	first.Call(a.Name, id, a.Payload)
	ack := first.Next()
	must(e.t, ack.Type == protocol.TypeAck, "an async request is acknowledged first: %s", ack.Raw)
	for f := first.Next(); f.Type != protocol.TypeProgress; f = first.Next() {
		must(e.t, f.RequestID == id && !f.Terminal(), "the long request ended or another message came before its progress: %s", f.Raw)
	}
	first.Close() // mid-request: the work goes on without a client

	second := e.dial()
	second.System(protocol.ActionStatus, id)
	// The status answer and the rest of the progress may cross on the way: progress never
	// goes down, and none after the status is behind it.
	var st *Frame
	last, progressed := -1.0, 0
	for st == nil || progressed == 0 {
		m := second.Next()
		must(e.t, m.RequestID == id, "a message of another request: %s", m.Raw)
		switch m.Type {
		case protocol.TypeStatus:
			must(e.t, st == nil, "one status answer: %s", m.Raw)
			st = &m
			must(e.t, m.Status == protocol.StatusPending || m.Status == protocol.StatusProcessing, "the long request is running: %s", m.Raw)
			must(e.t, m.Error == nil, "a running request has no error: %s", m.Raw)
			last = max(last, m.Percentage)
		case protocol.TypeProgress:
			must(e.t, m.Percentage >= last, "progress went down from %v: %s", last, m.Raw)
			last = m.Percentage
			progressed++
		default:
			e.t.Fatalf("conformance: unexpected message while the long request runs: %s", m.Raw)
		}
	}

	// Its end reaches the new connection too.
	second.System(protocol.ActionCancel, id)
	msgs := second.Collect(id)
	run := AsyncRun{Terminal: msgs[len(msgs)-1:]}
	CheckTerminal(e.t, run.Terminal)
	must(e.t, run.ErrorCode(e.t) == protocol.CodeCancelled, "the cancelled request ends with CANCELLED: %s", run.Terminal[0].Raw)
	for _, m := range msgs[:len(msgs)-1] {
		switch m.Type {
		case protocol.TypeStatus:
		case protocol.TypeProgress:
			must(e.t, m.Percentage >= last, "progress went down from %v: %s", last, m.Raw)
			last = m.Percentage
		default:
			e.t.Fatalf("conformance: unexpected message: %s", m.Raw)
		}
	}
	second.Quiet(id)
}
