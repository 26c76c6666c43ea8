package protocol_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// wireMessages are one typical message of each type of the protocol, as the router, the
// reporter and the worker send them.
func wireMessages() []struct {
	name string
	msg  any
} {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123_000_000, time.UTC)
	return []struct {
		name string
		msg  any
	}{
		{"client", &protocol.ClientMessage{Action: "generate_report", ID: "r-42", Payload: json.RawMessage(`{"start_date":"2026-01-01","end_date":"2026-01-31"}`)}},
		{"ack", &protocol.AckMessage{Type: protocol.TypeAck, RequestID: "r-42", Action: "generate_report", Status: "PENDING"}},
		{"progress", &protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: "r-42", Percentage: 42.5, Message: "Processing...", Metadata: map[string]any{"items_processed": 425, "items_total": 1000}, Timestamp: at}},
		{"result", &protocol.ResultMessage{Type: protocol.TypeResult, RequestID: "r-42", Action: "generate_report", Success: true, Data: json.RawMessage(`{"days":31,"pages":1,"size_bytes":2890}`), DurationMS: 1834}},
		{"error", protocol.NewErrorMessage("r-42", &protocol.Error{Code: protocol.CodeValidation, Message: "start_date and end_date required", Details: map[string]any{"field": "payload"}})},
		{"status", &protocol.StatusMessage{Type: protocol.TypeStatus, RequestID: "r-42", Status: "PROCESSING", Percentage: 42.5, Message: "Processing...", Result: json.RawMessage("null")}},
		{"pong", &protocol.PongMessage{Type: protocol.TypePong}},
	}
}

// BenchmarkMessageEncode measures json.Marshal of each message type: what the connection
// manager pays for every push, and the router for every reply it does not hand-encode.
func BenchmarkMessageEncode(b *testing.B) {
	for _, m := range wireMessages() {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := json.Marshal(m.msg)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.SetBytes(int64(n))
		})
	}
}

// BenchmarkMessageDecode measures json.Unmarshal of each message type into its struct:
// what a Go client pays for every message it receives.
func BenchmarkMessageDecode(b *testing.B) {
	for _, m := range wireMessages() {
		raw, err := json.Marshal(m.msg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := json.Unmarshal(raw, newOf(m.msg)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// newOf returns a new zero value of the message type of msg, to decode into.
func newOf(msg any) any {
	switch msg.(type) {
	case *protocol.ClientMessage:
		return new(protocol.ClientMessage)
	case *protocol.AckMessage:
		return new(protocol.AckMessage)
	case *protocol.ProgressMessage:
		return new(protocol.ProgressMessage)
	case *protocol.ResultMessage:
		return new(protocol.ResultMessage)
	case *protocol.ErrorMessage:
		return new(protocol.ErrorMessage)
	case *protocol.StatusMessage:
		return new(protocol.StatusMessage)
	default:
		return new(protocol.PongMessage)
	}
}
