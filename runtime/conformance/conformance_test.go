package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/conformance"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// The actions of an app that is not the demo: what the suite is described with.

type greeting struct {
	Name string `json:"name"`
}

func greet(_ context.Context, job *streamer.Job[greeting]) (map[string]string, error) {
	if job.Payload.Name == "" {
		return nil, streamer.InvalidField("name", "name required")
	}
	return map[string]string{"greeting": "Hello, " + job.Payload.Name}, nil
}

type countdownPayload struct {
	From   int `json:"from"`
	StepMS int `json:"step_ms"`
}

// countdown reports progress at every step and stops when its context is cancelled.
func countdown(ctx context.Context, job *streamer.Job[countdownPayload]) (map[string]bool, error) {
	p := job.Payload
	for i := 1; i <= p.From; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(p.StepMS) * time.Millisecond):
		}
		_ = job.Report(float64(i)*100/float64(p.From), fmt.Sprintf("%d left", p.From-i))
	}
	return map[string]bool{"done": true}, nil
}

type exportPayload struct {
	KB int `json:"kb"`
}

// export returns about kb KiB of rows.
func export(_ context.Context, job *streamer.Job[exportPayload]) (map[string][]string, error) {
	rows := make([]string, job.Payload.KB)
	for i := range rows {
		rows[i] = fmt.Sprintf("%04d:%s", i, strings.Repeat("r", 1019))
	}
	return map[string][]string{"rows": rows}, nil
}

// newApp registers the actions as the app's Lambda main does.
func newApp(t *testing.T) *lambdas.App {
	t.Helper()
	app := lambdas.New()
	for name, h := range map[string]streamer.Handler{
		"greet":     streamer.Sync(greet),
		"countdown": streamer.Async(countdown),
		"export":    streamer.Async(export),
	} {
		if err := app.Handle(name, h); err != nil {
			t.Fatal(err)
		}
	}
	return app
}

// described is how the app's actions are described to the suite.
func described(cfg conformance.Config) conformance.Config {
	cfg.Sync = &conformance.Action{Name: "greet", Payload: json.RawMessage(`{"name":"Ada"}`)}
	cfg.Async = &conformance.Action{Name: "countdown", Payload: json.RawMessage(`{"from":5,"step_ms":200}`), Progress: true}
	cfg.Long = &conformance.Action{Name: "countdown", Payload: json.RawMessage(`{"from":600,"step_ms":100}`)}
	cfg.Large = &conformance.Action{Name: "export", Payload: json.RawMessage(`{"kb":300}`), MinResultBytes: 300 << 10}
	return cfg
}

// TestInProcessStack runs every guarantee against the app's local stack in this process,
// on the in-memory store.
func TestInProcessStack(t *testing.T) {
	conformance.Run(t, described(conformance.StartLocal(t, local.Config{App: newApp(t)})))
}

// TestSyncLargeResult describes a synchronous large action: LargeResult takes its sync
// path (no ack, nothing stored).
func TestSyncLargeResult(t *testing.T) {
	app := lambdas.New()
	if err := app.Handle("export", streamer.Sync(export)); err != nil {
		t.Fatal(err)
	}
	cfg := conformance.StartLocal(t, local.Config{App: app})
	cfg.Large = &conformance.Action{Name: "export", Payload: json.RawMessage(`{"kb":200}`)}
	conformance.Run(t, cfg)
}

// TestStackWithoutActions points the suite at a stack with no actions at all and
// describes none: what needs no action passes, the rest is skipped.
func TestStackWithoutActions(t *testing.T) {
	conformance.Run(t, conformance.StartLocal(t, local.Config{}))
}
