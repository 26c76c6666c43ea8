package protocol

import (
	"encoding/json"
	"time"
)

// Message types: the `type` of every server-to-client message (PROTOCOL.md).
const (
	TypeAck      = "ack"
	TypeProgress = "progress"
	TypeResult   = "result"
	TypeError    = "error"
	TypeStatus   = "status"
	TypePong     = "pong"
)

// Statuses of an async request, as the status message carries them.
const (
	StatusPending    = "PENDING"
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusCancelled  = "CANCELLED"
)

// Limits of the protocol.
const (
	// MaxMessageBytes is the largest message either side may send: API Gateway's
	// WebSocket message limit (128 KiB, hard).
	MaxMessageBytes = 128 * 1024
	// MaxIDLength is the longest request id a client may choose.
	MaxIDLength = 128
)

// System actions (reserved names, not registrable).
const (
	ActionStatus = "streamer.status"
	ActionCancel = "streamer.cancel"
	ActionPing   = "streamer.ping"
	// ReservedPrefix starts every reserved action name.
	ReservedPrefix = "streamer."
)

// ClientMessage is a client-to-server frame.
type ClientMessage struct {
	Action  string          `json:"action"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// AckMessage acknowledges an async request that was queued.
type AckMessage struct {
	Type      string `json:"type"` // "ack"
	RequestID string `json:"request_id"`
	Action    string `json:"action"`
	Status    string `json:"status"`
}

// ProgressMessage carries one progress update of a request.
type ProgressMessage struct {
	Type       string         `json:"type"` // "progress"
	RequestID  string         `json:"request_id"`
	Percentage float64        `json:"percentage"`
	Message    string         `json:"message"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Timestamp  time.Time      `json:"timestamp"`
}

// ResultMessage is the terminal message of a successful request. A result over the
// message limit is sent as parts: Part set, Data empty, DataPart holding a slice of the
// JSON text of data.
type ResultMessage struct {
	Type       string          `json:"type"` // "result"
	RequestID  string          `json:"request_id"`
	Action     string          `json:"action,omitempty"`
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data,omitempty"`
	Metadata   map[string]any  `json:"metadata,omitempty"`
	DurationMS int64           `json:"duration_ms"`
	Part       *Part           `json:"part,omitempty"`
	DataPart   string          `json:"data_part,omitempty"`
}

// Part locates one part of a split result.
type Part struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ErrorMessage is the terminal message of a failed request, and the answer to a frame the
// router could not accept.
type ErrorMessage struct {
	Type      string `json:"type"` // "error"
	RequestID string `json:"request_id"`
	Error     *Error `json:"error"`
}

// StatusMessage answers streamer.status and streamer.cancel.
type StatusMessage struct {
	Type       string          `json:"type"` // "status"
	RequestID  string          `json:"request_id"`
	Status     string          `json:"status"`
	Percentage float64         `json:"percentage"`
	Message    string          `json:"message"`
	Result     json.RawMessage `json:"result"` // null until COMPLETED
	Error      *Error          `json:"error"`  // null unless FAILED or CANCELLED
}

// PongMessage answers streamer.ping.
type PongMessage struct {
	Type string `json:"type"` // "pong"
}

// NewErrorMessage returns the error message for requestID, with retry information filled
// in from the code.
func NewErrorMessage(requestID string, err *Error) *ErrorMessage {
	return &ErrorMessage{Type: TypeError, RequestID: requestID, Error: err.WireError()}
}

// ValidID reports whether id is a valid client request id: 1 to 128 characters of
// [A-Za-z0-9._:-].
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
