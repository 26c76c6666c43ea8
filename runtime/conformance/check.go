package conformance

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// ProgressInterval is the protocol's minimum time between two progress messages of a
// request.
const ProgressInterval = 200 * time.Millisecond

// must fails the test with the message unless ok.
func must(tb testing.TB, ok bool, format string, args ...any) {
	tb.Helper()
	if !ok {
		tb.Fatalf("conformance: "+format, args...)
	}
}

// AsyncRun is one async request's messages as a raw client received them, by kind.
type AsyncRun struct {
	// Ack is the acknowledgement, the request's first message.
	Ack Frame
	// Progress are its progress messages in arrival order.
	Progress []Frame
	// Terminal is its error, its result, or every part of its split result.
	Terminal []Frame
	// Status are the status messages about it (answers to streamer.status or
	// streamer.cancel, or to its id sent again).
	Status []Frame
}

// CheckAsync checks the guarantees every async request has on the connection it was sent
// on, given its messages in arrival order up to its terminal one (Conn.Collect), and
// sorts them: an ack first (PENDING, with the request's id); progress with a timestamp,
// never going down, never after the terminal message; exactly one terminal message. It
// also runs streamertest.RequireProtocol on them. Call Conn.Quiet afterwards to check
// that nothing follows.
func CheckAsync(tb testing.TB, id string, msgs []Frame) AsyncRun {
	tb.Helper()
	must(tb, len(msgs) > 0, "request %s: no messages", id)
	run := AsyncRun{Ack: msgs[0]}
	must(tb, run.Ack.Type == protocol.TypeAck, "request %s: an async request is acknowledged first, got %s", id, run.Ack.Raw)
	must(tb, run.Ack.Status == protocol.StatusPending, "request %s: the ack says PENDING: %s", id, run.Ack.Raw)
	last := -1.0
	for _, m := range msgs {
		must(tb, m.RequestID == id, "request %s: a message of another request: %s", id, m.Raw)
	}
	for _, m := range msgs[1:] {
		switch m.Type {
		case protocol.TypeProgress:
			must(tb, len(run.Terminal) == 0, "request %s: progress after the terminal message: %s", id, m.Raw)
			must(tb, m.Percentage >= last, "request %s: progress went down from %v: %s", id, last, m.Raw)
			must(tb, !m.Timestamp.IsZero(), "request %s: progress without a timestamp: %s", id, m.Raw)
			last = m.Percentage
			run.Progress = append(run.Progress, m)
		case protocol.TypeResult, protocol.TypeError:
			run.Terminal = append(run.Terminal, m)
		case protocol.TypeStatus:
			run.Status = append(run.Status, m)
		default:
			tb.Fatalf("conformance: request %s: unexpected message: %s", id, m.Raw)
		}
	}
	CheckTerminal(tb, run.Terminal)
	streamertest.RequireProtocol(tb, Messages(msgs), id)
	return run
}

// CheckTerminal requires exactly one terminal message: one error, one whole result, or
// the parts 0..count-1 of one split result, in order.
func CheckTerminal(tb testing.TB, terminal []Frame) {
	tb.Helper()
	must(tb, len(terminal) > 0, "no terminal message")
	if len(terminal) == 1 && terminal[0].Part == nil {
		return
	}
	for i, m := range terminal {
		must(tb, m.Type == protocol.TypeResult && m.Part != nil, "more than one terminal message: %s", m.Raw)
		must(tb, m.Part.Index == i, "part %d arrived as number %d", m.Part.Index, i)
		must(tb, m.Part.Count == len(terminal), "part count %d, %d parts arrived", m.Part.Count, len(terminal))
	}
}

// checkRate requires at most one progress message per ProgressInterval, plus the one
// that flushes the latest state before the terminal message. The progress was sent after
// the request (sent, on this clock) and before the terminal message arrived: arrival
// times can bunch up on a loaded machine, but that span cannot shrink, so the bound
// never fails a stack that coalesces.
func checkRate(tb testing.TB, id string, sent time.Time, run AsyncRun) {
	tb.Helper()
	span := run.Terminal[0].At.Sub(sent)
	allowed := int(span/ProgressInterval) + 2
	must(tb, len(run.Progress) <= allowed, "request %s: %d progress messages within %s: more than one per %s", id, len(run.Progress), span, ProgressInterval)
}

// Data returns the data of the request's result: a whole result's, or the concatenated
// parts of a split one. It fails the test when the request did not succeed.
func (r AsyncRun) Data(tb testing.TB) json.RawMessage {
	tb.Helper()
	return resultData(tb, r.Terminal)
}

// resultData returns the data of a terminal result: a whole one's, or its parts'.
func resultData(tb testing.TB, terminal []Frame) json.RawMessage {
	tb.Helper()
	must(tb, len(terminal) > 0, "no terminal message")
	first := terminal[0]
	must(tb, first.Type == protocol.TypeResult, "the request failed: %s", first.Raw)
	must(tb, first.Success, "the result says it did not succeed: %s", first.Raw)
	if first.Part == nil {
		return first.Data
	}
	var b strings.Builder
	for _, p := range terminal {
		b.WriteString(p.DataPart)
	}
	return json.RawMessage(b.String())
}

// ErrorCode returns the code of the request's terminal error, failing the test when it
// did not fail.
func (r AsyncRun) ErrorCode(tb testing.TB) string {
	tb.Helper()
	term := r.Terminal[0]
	must(tb, term.Type == protocol.TypeError && term.Error != nil, "the request did not fail: %s", term.Raw)
	return term.Error.Code
}

// CheckParts requires a split result of at least minParts parts: each message within
// protocol.MaxMessageBytes, in order, each carrying the request's id, its action,
// success and a slice of data (never data itself), metadata on the last part only.
func CheckParts(tb testing.TB, id, action string, parts []Frame, minParts int) {
	tb.Helper()
	CheckTerminal(tb, parts)
	must(tb, len(parts) >= minParts, "request %s: %d parts, a result over the message limit comes in %d or more", id, len(parts), minParts)
	for i, p := range parts {
		must(tb, len(p.Raw) <= protocol.MaxMessageBytes, "request %s: part %d is %d bytes, over the message limit", id, i, len(p.Raw))
		must(tb, p.RequestID == id, "request %s: part %d of another request: %s", id, i, p.RequestID)
		must(tb, p.Action == action, "request %s: part %d without the action %q", id, i, action)
		must(tb, p.Success, "request %s: part %d without success", id, i)
		must(tb, len(p.Data) == 0 && p.DataPart != "", "request %s: part %d carries data_part, not data", id, i)
		must(tb, i == len(parts)-1 || p.Metadata == nil, "request %s: metadata on part %d, not the last", id, i)
	}
}

// SameBytes fails the test unless got is want, without printing large values.
func SameBytes(tb testing.TB, want, got []byte, what string) {
	tb.Helper()
	if bytes.Equal(want, got) {
		return
	}
	at := 0
	for at < min(len(want), len(got)) && want[at] == got[at] {
		at++
	}
	tb.Fatalf("conformance: %s differs: want %d bytes, got %d; first difference at byte %d: want %q, got %q",
		what, len(want), len(got), at, want[at:min(len(want), at+40)], got[at:min(len(got), at+40)])
}
