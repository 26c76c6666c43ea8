package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// Echo returns the request's payload as the result data. It runs synchronously; an empty
// payload is a VALIDATION_ERROR.
type Echo struct{}

var _ streamer.Handler = Echo{}

// EstimatedDuration is zero: echo always answers on the route response.
func (Echo) EstimatedDuration() time.Duration { return 0 }

// Validate refuses a missing or null payload.
func (Echo) Validate(req *streamer.Request) error {
	if p := bytes.TrimSpace(req.Payload); len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "payload required", map[string]any{"field": "payload"})
	}
	return nil
}

// Process returns the payload as data, unchanged.
func (Echo) Process(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
	return &streamer.Result{RequestID: req.ID, Success: true, Data: json.RawMessage(req.Payload)}, nil
}

// Health reports that the function answers, and which build it runs.
type Health struct {
	// Version is reported as "version"; Register sets BuildVersion().
	Version string
}

var _ streamer.Handler = Health{}

// EstimatedDuration is zero: health always answers on the route response.
func (Health) EstimatedDuration() time.Duration { return 0 }

// Validate accepts any payload (it is ignored).
func (Health) Validate(*streamer.Request) error { return nil }

// Process returns {"status":"ok","version":...}.
func (h Health) Process(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
	return &streamer.Result{RequestID: req.ID, Success: true, Data: map[string]any{"status": "ok", "version": h.Version}}, nil
}
