package e2e

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// maxMessageBytes is API Gateway's WebSocket message limit, 128 KB.
const maxMessageBytes = 128 * 1024

func testBadFrames(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("bad")
	for _, tc := range []struct {
		name, frame, code, requestID, field string
	}{
		{"not JSON", "this is not json", streamer.ErrCodeValidation, "", "message"},
		{"not an object", `[1,2,3]`, streamer.ErrCodeValidation, "", "message"},
		{"no action", `{"id":"` + id + `","payload":{}}`, streamer.ErrCodeValidation, id, "action"},
		{"unknown action", `{"action":"no_such_action","id":"` + id + `"}`, streamer.ErrCodeInvalidAction, id, ""},
		{"unknown system action", `{"action":"streamer.nope","id":"` + id + `"}`, streamer.ErrCodeInvalidAction, id, ""},
		{"bad id", `{"action":"echo","id":"bad id!","payload":1}`, streamer.ErrCodeValidation, "", "id"},
		{"id too long", `{"action":"echo","id":"` + strings.Repeat("a", 129) + `","payload":1}`, streamer.ErrCodeValidation, "", "id"},
		{"id not a string", `{"action":"echo","id":42,"payload":1}`, streamer.ErrCodeValidation, "", "message"},
		{"status without an id", `{"action":"streamer.status"}`, streamer.ErrCodeValidation, "", "payload.id"},
	} {
		s.send(tc.frame)
		m := s.next()
		require.Equal(t, protocol.TypeError, m.Type, "%s: %s", tc.name, m.raw)
		require.Equal(t, tc.requestID, m.RequestID, "%s: request_id is the client's id when it could be read: %s", tc.name, m.raw)
		require.NotNil(t, m.Error, "%s: %s", tc.name, m.raw)
		require.Equal(t, tc.code, m.Error.Code, "%s: %s", tc.name, m.raw)
		require.False(t, m.Error.Retryable(), "%s: %s", tc.name, m.raw)
		if tc.field != "" {
			require.Equal(t, tc.field, m.Error.Details["field"], "%s: %s", tc.name, m.raw)
		}
		s.ping() // the connection stays open
	}
}

func testOversizedFrame(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("big")
	big := strings.Repeat("x", 200*1024)
	s.send(`{"id":"` + id + `","action":"echo","payload":"` + big + `"}`)
	m := s.next()
	require.Equal(t, protocol.TypeError, m.Type, m.raw)
	require.Equal(t, id, m.RequestID, m.raw)
	require.Equal(t, streamer.ErrCodePayloadTooLarge, m.Error.Code, m.raw)
	require.False(t, m.Error.Retryable())
	s.ping()

	after := b.id("after-big")
	s.call(actionEcho, after, map[string]bool{"still": true})
	m = s.next()
	require.Equal(t, protocol.TypeResult, m.Type, "the connection still serves requests: %s", m.raw)
	require.Equal(t, after, m.RequestID)

	// The Go client refuses to send such a message at all.
	_, err := b.client(client.Options{}).Call(b.ctx, actionEcho, map[string]string{"big": big})
	var se *streamer.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodePayloadTooLarge, se.Code)
}

// largeResultKB is the size of process_data's padded result in the large-result test:
// the most it allows, over twice the message limit.
const largeResultKB = 300

func testLargeResult(t *testing.T, b *bundle) {
	payload := map[string]int{"items": 1, "item_ms": 0, "result_kb": largeResultKB}
	// What the demo handler returns, encoded as the protocol carries it.
	want, err := json.Marshal(map[string]any{"items_processed": 1, "padding": strings.Repeat("0123456789abcdef", largeResultKB*1024/16)})
	require.NoError(t, err)

	s := b.dial()
	id := b.id("large")
	s.call(actionProcessData, id, payload)
	msgs := s.collect(id)
	run := checkAsync(t, msgs)
	s.quiet(id)
	checkParts(t, id, run.terminal, largeResultKB*1024/maxMessageBytes+1)
	requireSameBytes(t, want, run.data(t))
	largest := 0
	for _, m := range msgs {
		largest = max(largest, len(m.raw))
	}
	t.Logf("large result: %d bytes of data in %d parts, largest message %d bytes", len(want), len(run.terminal), largest)

	// Asked for after it finished, the stored result comes again in parts, then the status.
	other := b.dial()
	other.call(protocol.ActionStatus, "", map[string]string{"id": id})
	parts := other.collect(id)
	checkParts(t, id, parts, len(run.terminal))
	requireSameBytes(t, want, asyncRun{terminal: parts}.data(t))
	st := other.next()
	require.Equal(t, protocol.TypeStatus, st.Type, st.raw)
	require.Equal(t, "COMPLETED", st.Status, st.raw)
	require.LessOrEqual(t, len(st.raw), maxMessageBytes)

	// The Go client reassembles it.
	call, err := b.client(client.Options{}).Call(b.ctx, actionProcessData, payload)
	require.NoError(t, err)
	res, err := call.Wait(b.ctx)
	require.NoError(t, err)
	requireSameBytes(t, want, res.Data)
}

func testLargeSyncResult(t *testing.T, b *bundle) {
	// A message of exactly the limit: echo's result, the same data in a larger
	// envelope, is over it and must be split.
	id := b.id("sync-large")
	head, tail := `{"action":"echo","id":"`+id+`","payload":"`, `"}`
	pad := strings.Repeat("y", maxMessageBytes-len(head)-len(tail))
	want := []byte(`"` + pad + `"`)

	s := b.dial()
	s.send(head + pad + tail)
	parts := s.collect(id)
	s.quiet(id)
	checkParts(t, id, parts, 2)
	require.Equal(t, actionEcho, parts[0].Action)
	requireSameBytes(t, want, asyncRun{terminal: parts}.data(t))

	call, err := b.client(client.Options{}).Call(b.ctx, actionEcho, json.RawMessage(want))
	require.NoError(t, err)
	res, err := call.Wait(b.ctx)
	require.NoError(t, err)
	requireSameBytes(t, want, res.Data)
}

// checkParts requires a split result of at least minParts parts, each message within the
// limit, each carrying the request's id and a slice of data, none the data.
func checkParts(t *testing.T, id string, parts []frame, minParts int) {
	t.Helper()
	checkTerminal(t, parts)
	require.GreaterOrEqual(t, len(parts), minParts, "a result over the limit comes in parts")
	for _, p := range parts {
		require.LessOrEqual(t, len(p.raw), maxMessageBytes, "a part over the message limit")
		require.Equal(t, id, p.RequestID)
		require.True(t, p.Success)
		require.Empty(t, p.Data, "a part carries data_part, not data")
		require.NotEmpty(t, p.DataPart)
	}
}

// requireSameBytes compares two large byte strings without printing them.
func requireSameBytes(t *testing.T, want, got []byte) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	at := 0
	for at < min(len(want), len(got)) && want[at] == got[at] {
		at++
	}
	t.Fatalf("data differs: want %d bytes, got %d; first difference at byte %d: want %q, got %q",
		len(want), len(got), at, want[at:min(len(want), at+40)], got[at:min(len(got), at+40)])
}
