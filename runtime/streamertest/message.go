package streamertest

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/streamer-go/streamer/runtime/internal/apigw"
)

// Message is one message a fake received, as JSON and decoded.
type Message struct {
	// ConnectionID is the connection the message was sent to.
	ConnectionID string
	// Value is the value handed to Send (nil for messages that arrived over HTTP).
	Value any
	// JSON is the message as it would travel on the socket.
	JSON json.RawMessage
	// Type is the message's "type" field (ack, progress, result, error, status, pong), if any.
	Type string
	// RequestID is the message's "request_id" field, if any.
	RequestID string
	// Fields is the JSON object decoded into a map; nil when the JSON is not an object.
	Fields map[string]any
}

// Decode unmarshals the message's JSON into v, for example a *protocol.ProgressMessage.
func (m Message) Decode(v any) error {
	if err := json.Unmarshal(m.JSON, v); err != nil {
		return fmt.Errorf("streamertest: decode %s message: %w", m.Type, err)
	}
	return nil
}

// newMessage builds the Message for value sent to connectionID, encoded as the
// connection manager encodes it; a value the manager refuses gets its error.
func newMessage(connectionID string, value any) (Message, error) {
	raw, err := apigw.Encode(value)
	if err != nil {
		return Message{}, err
	}
	m := Message{ConnectionID: connectionID, Value: value, JSON: append(json.RawMessage(nil), raw...)}
	if json.Unmarshal(raw, &m.Fields) == nil {
		m.Type, _ = m.Fields["type"].(string)
		m.RequestID, _ = m.Fields["request_id"].(string)
	}
	return m, nil
}

// recorder keeps the messages of every connection, in arrival order.
type recorder struct {
	mu     sync.Mutex
	byConn map[string][]Message
}

func (r *recorder) add(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byConn == nil {
		r.byConn = make(map[string][]Message)
	}
	r.byConn[m.ConnectionID] = append(r.byConn[m.ConnectionID], m)
}

func (r *recorder) record(connectionID string, value any) error {
	m, err := newMessage(connectionID, value)
	if err != nil {
		return err
	}
	r.add(m)
	return nil
}

// GetMessages returns the messages recorded for connectionID, oldest first (a copy).
func (r *recorder) GetMessages(connectionID string) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.byConn[connectionID]...)
}
