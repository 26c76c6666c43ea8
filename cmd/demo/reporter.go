package demo

import (
	"context"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// nopReporter is the Reporter of a synchronous run: progress goes nowhere and Complete
// just builds the result.
type nopReporter struct{ requestID string }

var _ streamer.Reporter = nopReporter{}

func (nopReporter) Report(float64, string, ...map[string]any) error { return nil }

func (r nopReporter) Complete(result map[string]any) (*streamer.Result, error) {
	return &streamer.Result{RequestID: r.requestID, Success: true, Data: result}, nil
}

func (nopReporter) Fail(error) error { return nil }

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
