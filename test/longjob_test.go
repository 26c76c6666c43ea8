package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/conformance"
	"github.com/stretchr/testify/require"
)

// actionLongJob is the demo action that checkpoints after every step (cmd/demo).
const actionLongJob = "long_job"

// TestLongJobOutlivesTheWorkerTimeout runs the demo's long_job for three times the
// worker's timeout on `streamer local --worker-timeout 2s` over DynamoDB Local: the job
// goes on in new invocations from its checkpoint and completes as one request, with its
// progress continuing across the invocations (never going down, reported by every run)
// and exactly one result.
func TestLongJobOutlivesTheWorkerTimeout(t *testing.T) {
	const workerTimeout = 2 * time.Second
	ls := startLocal(t, append(dynamoDBFlags(t), "--worker-timeout", workerTimeout.String())...)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	s := conformance.Dial(ctx, t, ls.wsURL, ls.token(t, "long-job-user", conformance.DefaultTenant, time.Hour))
	before, err := ls.metrics(ctx)
	require.NoError(t, err)

	// 30 steps of 200 ms: 6 s of work, three worker timeouts.
	id := "long-job-" + strings.ToLower(rand.Text()[:8])
	sent := time.Now()
	s.Call(actionLongJob, id, map[string]int{"steps": 30, "step_ms": 200})
	run := conformance.CheckAsync(t, id, s.Collect(id)) // ack first, progress never down, one terminal message
	took := time.Since(sent)
	s.Quiet(id) // and nothing after it

	var res struct {
		Steps int `json:"steps"`
		Runs  int `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(run.Data(t), &res), "one result")
	require.Equal(t, 30, res.Steps, "every step done")
	require.GreaterOrEqual(t, res.Runs, 3, "the job ran in at least three invocations")

	lastRun, steps := 0.0, map[float64]bool{}
	for _, p := range run.Progress {
		r, ok := p.Metadata["run"].(float64)
		require.True(t, ok, "progress says its run: %s", p.Raw)
		require.GreaterOrEqual(t, r, lastRun, "runs follow one another: %s", p.Raw)
		lastRun = r
		steps[r] = true
	}
	require.Len(t, steps, res.Runs, "every run reported progress on the same request")
	require.InDelta(t, 100, run.Progress[len(run.Progress)-1].Percentage, 0.001)

	after, err := ls.metrics(ctx)
	require.NoError(t, err)
	invocations := after.Lambda["worker"].Invocations - before.Lambda["worker"].Invocations
	require.GreaterOrEqual(t, invocations, int64(res.Runs), "one worker invocation per run at least")
	t.Logf("long_job: 6 s of work with a %s worker timeout: %d runs, %d worker invocations, %d progress messages, result %s after the request",
		workerTimeout, res.Runs, invocations, len(run.Progress), took.Round(time.Millisecond))
}
