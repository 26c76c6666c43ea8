package streamertest

import (
	"encoding/json"
	"testing"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// RequireProtocol checks the messages a client received (in order) for requestID
// against the guarantees of PROTOCOL.md, and returns the request's terminal message,
// with the parts of a split result reassembled into one result. It fails the test when
// an ack is not the request's first message or comes twice, a progress percentage goes
// down, a message follows the terminal one, or there is no terminal message. Status
// messages (answers to streamer.status) and other requests' messages are skipped.
func RequireProtocol(tb testing.TB, msgs []Message, requestID string) Message {
	tb.Helper()
	var (
		parts    protocol.Reassembler
		terminal *Message
		seen     int
		lastPct  float64
	)
	for i, m := range msgs {
		if m.RequestID != requestID || m.Type == protocol.TypeStatus {
			continue
		}
		if terminal != nil {
			tb.Fatalf("streamertest: request %s: message %d (%s) after the terminal %s message", requestID, i, m.Type, terminal.Type)
		}
		seen++
		switch m.Type {
		case protocol.TypeAck:
			if seen != 1 {
				tb.Fatalf("streamertest: request %s: ack at message %d is not the request's first message", requestID, i)
			}
		case protocol.TypeProgress:
			var p protocol.ProgressMessage
			if err := m.Decode(&p); err != nil {
				tb.Fatalf("streamertest: request %s: %v", requestID, err)
			}
			if p.Percentage < lastPct {
				tb.Fatalf("streamertest: request %s: progress went down from %v to %v at message %d", requestID, lastPct, p.Percentage, i)
			}
			lastPct = p.Percentage
		case protocol.TypeError:
			terminal = &m
		case protocol.TypeResult:
			var r protocol.ResultMessage
			if err := m.Decode(&r); err != nil {
				tb.Fatalf("streamertest: request %s: %v", requestID, err)
			}
			whole, done, err := parts.Add(r)
			if err != nil {
				tb.Fatalf("streamertest: request %s: message %d: %v", requestID, i, err)
			}
			if done {
				raw, err := json.Marshal(whole)
				if err != nil {
					tb.Fatalf("streamertest: request %s: %v", requestID, err)
				}
				t, _ := newMessage(m.ConnectionID, json.RawMessage(raw)) // raw is JSON: no error
				t.Value = whole
				terminal = &t
			}
		}
	}
	if terminal == nil {
		tb.Fatalf("streamertest: request %s: no terminal message among %d messages", requestID, len(msgs))
		return Message{}
	}
	return *terminal
}
