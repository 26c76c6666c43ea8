package conformance

import (
	"errors"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// cancelStops bounds the time from streamer.cancel to the terminal error: the protocol
// promises about a second; half the least run time of Config.Long leaves a loaded machine
// all the room it needs while still telling a stopped request from one that ran to its
// end.
const cancelStops = 30 * time.Second

// testCancelRunning: streamer.cancel on a running request is answered with its status;
// its terminal message is the error CANCELLED, long before the work would have ended;
// streamer.status then says CANCELLED; the Go client's Cancel ends the call with a
// CANCELLED *protocol.Error.
func testCancelRunning(e *env) {
	a := e.cfg.Long
	s := e.dial()
	id := e.id("cancel")
	s.Call(a.Name, id, a.Payload)
	msgs := []Frame{s.Next()}
	for msgs[len(msgs)-1].Type != protocol.TypeProgress {
		must(e.t, !msgs[len(msgs)-1].Terminal(), "the long request ended before any progress: %s", msgs[len(msgs)-1].Raw)
		msgs = append(msgs, s.Next())
	}
	s.System(protocol.ActionCancel, id)
	cancelled := time.Now()
	msgs = append(msgs, s.Collect(id)...)
	took := time.Since(cancelled)
	run := CheckAsync(e.t, id, msgs)
	s.Quiet(id)

	must(e.t, len(run.Status) == 1, "streamer.cancel is answered with one status, got %d", len(run.Status))
	st := run.Status[0]
	must(e.t, st.Status == protocol.StatusProcessing || st.Status == protocol.StatusCancelled, "the cancel's answer: %s", st.Raw)
	must(e.t, run.ErrorCode(e.t) == protocol.CodeCancelled, "the terminal error is CANCELLED: %s", run.Terminal[0].Raw)
	must(e.t, !run.Terminal[0].Error.Retryable(), "CANCELLED is not retryable: %s", run.Terminal[0].Raw)
	must(e.t, took < cancelStops, "the cancelled work ended %s after the cancel: it did not stop", took)
	e.t.Logf("cancel: terminal error %s after the cancel", took.Round(time.Millisecond))

	s.System(protocol.ActionStatus, id)
	m := s.Next()
	must(e.t, m.Type == protocol.TypeStatus && m.Status == protocol.StatusCancelled, "streamer.status after the cancel: %s", m.Raw)
	must(e.t, m.Error != nil && m.Error.Code == protocol.CodeCancelled, "the status carries the CANCELLED error: %s", m.Raw)

	c := e.client(client.Options{})
	call, err := c.Call(e.ctx, a.Name, a.Payload)
	must(e.t, err == nil, "client.Call: %v", err)
	waitProgress(e, call)
	must(e.t, call.Cancel(e.ctx) == nil, "client: Cancel")
	_, err = call.Wait(e.ctx)
	var pe *protocol.Error
	must(e.t, errors.As(err, &pe) && pe.Code == protocol.CodeCancelled, "client: a cancelled call ends with CANCELLED, got %v", err)
}

// waitProgress returns the call's first progress update.
func waitProgress(e *env, call *client.Call) protocol.ProgressMessage {
	e.t.Helper()
	select {
	case p, ok := <-call.Progress():
		if !ok {
			_, err := call.Wait(e.ctx)
			e.t.Fatalf("conformance: the call ended before any progress: %v", err)
		}
		return p
	case <-e.ctx.Done():
		e.t.Fatalf("conformance: no progress: %v", e.ctx.Err())
	}
	return protocol.ProgressMessage{}
}

// pendingAttempts bounds the tries to cancel a request before a worker picks it up (the
// worker can win the race; that try then is a running cancel).
const pendingAttempts = 5

// testCancelPending: streamer.cancel before a worker took the request answers CANCELLED
// at once, and the work never runs: its one further message is the terminal error
// CANCELLED. A try a worker wins is a running cancel, which must end CANCELLED too; when
// every try is won by a worker the guarantee is skipped, saying why.
func testCancelPending(e *env) {
	a := e.cfg.Long
	s := e.dial()
	for attempt := range pendingAttempts {
		id := e.id(fmt.Sprintf("pending-%d", attempt))
		s.Call(a.Name, id, a.Payload)
		ack := s.Next()
		must(e.t, ack.Type == protocol.TypeAck, "an async request is acknowledged first: %s", ack.Raw)
		s.System(protocol.ActionCancel, id)
		// A worker that had the request already may report progress before the answer.
		seen := []Frame{ack}
		st := s.Next()
		for st.Type == protocol.TypeProgress && st.RequestID == id {
			seen = append(seen, st)
			st = s.Next()
		}
		must(e.t, st.Type == protocol.TypeStatus && st.RequestID == id, "streamer.cancel is answered with a status: %s", st.Raw)
		if st.Status != protocol.StatusCancelled || len(seen) > 1 {
			e.t.Logf("attempt %d: a worker had the request already (%s); trying again", attempt+1, st.Status)
			run := CheckAsync(e.t, id, append(append(seen, st), s.Collect(id)...))
			must(e.t, run.ErrorCode(e.t) == protocol.CodeCancelled, "the terminal error is CANCELLED: %s", run.Terminal[0].Raw)
			s.Quiet(id)
			continue
		}
		// Cancelled while PENDING, at once: the answer says so, and the work never runs.
		must(e.t, st.Error != nil && st.Error.Code == protocol.CodeCancelled, "the status carries the CANCELLED error: %s", st.Raw)
		end := s.Next()
		must(e.t, end.RequestID == id && end.Type == protocol.TypeError && end.Error != nil && end.Error.Code == protocol.CodeCancelled,
			"a request cancelled while pending never runs: its one further message is the error CANCELLED: %s", end.Raw)
		s.Quiet(id)
		return
	}
	// Each try ended CANCELLED, as a cancel of a running request: a stack that hands
	// requests to a worker at once (direct dispatch) leaves no time to find one PENDING.
	e.t.Skipf("in %d attempts a worker always had the request before streamer.cancel (direct dispatch?): each ended CANCELLED as a running request; the pending path needs a stack that leaves requests to the stream", pendingAttempts)
}
