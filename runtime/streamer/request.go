package streamer

import (
	"encoding/json"
	"time"
)

// Request is one client request as a handler sees it. User and tenant come from the
// verified token (the $connect authorizer), never from the client's message.
type Request struct {
	ID           string          `json:"id"`      // the client's request id (generated when absent)
	ConnectionID string          `json:"-"`       // WebSocket connection the request came on
	UserID       string          `json:"-"`       // from the verified token
	TenantID     string          `json:"-"`       // from the verified token
	Action       string          `json:"action"`  // handler name
	Payload      json.RawMessage `json:"payload"` // the client's payload, raw JSON
	Metadata     map[string]any  `json:"-"`       // per-request values set by middleware
	Timestamp    time.Time       `json:"-"`       // when the router received the request

	// decoded is the payload a typed handler's Validate decoded, for its run to reuse.
	decoded any
}

// UnmarshalPayload decodes the request's JSON payload into v. An empty payload is an
// error, so handlers that require a payload need no separate check.
func (r *Request) UnmarshalPayload(v any) error {
	if len(r.Payload) == 0 {
		return NewErrorWithDetails(ErrCodeValidation, "payload required", map[string]any{"field": "payload"})
	}
	if err := json.Unmarshal(r.Payload, v); err != nil {
		return NewErrorWithDetails(ErrCodeValidation, "invalid JSON payload", map[string]any{"field": "payload", "error": err.Error()})
	}
	return nil
}

// GetMetadata returns the metadata value stored under key.
func (r *Request) GetMetadata(key string) (any, bool) {
	v, ok := r.Metadata[key]
	return v, ok
}

// SetMetadata stores a metadata value under key, creating the map on first use.
func (r *Request) SetMetadata(key string, value any) {
	if r.Metadata == nil {
		r.Metadata = make(map[string]any)
	}
	r.Metadata[key] = value
}

// Result is the outcome of a handler run. Data is marshalled to JSON as the `data` of the
// result message.
type Result struct {
	RequestID string         `json:"request_id"`         // request this result answers
	Success   bool           `json:"success"`            // whether the operation succeeded
	Data      any            `json:"data,omitempty"`     // result data, marshalled to JSON
	Error     *Error         `json:"error,omitempty"`    // error information if it failed
	Metadata  map[string]any `json:"metadata,omitempty"` // processing metadata
	Duration  time.Duration  `json:"-"`                  // processing time
}
