package demo

import (
	"context"
	"encoding/json"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// Echo returns the request's payload as the result data, unchanged. A missing or null
// payload is a VALIDATION_ERROR. Register it as a sync action.
func Echo(_ context.Context, job *streamer.Job[json.RawMessage]) (json.RawMessage, error) {
	if len(job.Payload) == 0 {
		return nil, streamer.InvalidField("payload", "payload required")
	}
	return job.Payload, nil
}

// HealthStatus is the result of health.
type HealthStatus struct {
	Status  string `json:"status"`  // always "ok"
	Version string `json:"version"` // the build running the function
}

// Health reports that the function answers, and which build it runs. Any payload is
// accepted and ignored. Register its Run as a sync action.
type Health struct {
	// Version is reported as "version"; Register sets BuildVersion().
	Version string
}

// Run returns {"status":"ok","version":...}.
func (h Health) Run(context.Context, *streamer.Job[json.RawMessage]) (HealthStatus, error) {
	return HealthStatus{Status: "ok", Version: h.Version}, nil
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
