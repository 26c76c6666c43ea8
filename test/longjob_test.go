package e2e

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

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
	endpoint := os.Getenv(envDynamoDB)
	if endpoint == "" {
		const reason = envDynamoDB + " is not set: run `make test`, or scripts/dynamodb-local.sh run -- go test ./..."
		if os.Getenv("CI") == "true" || os.Getenv("STREAMER_REQUIRE_DYNAMODB") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	const workerTimeout = 2 * time.Second
	ls := startLocal(t, "--dynamodb-endpoint", endpoint, "--worker-timeout", workerTimeout.String())
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	s := dialSocket(ctx, t, ls.wsURL, ls.token(t, "long-job-user", tenantA, time.Hour))
	before, err := ls.metrics(ctx)
	require.NoError(t, err)

	// 30 steps of 200 ms: 6 s of work, three worker timeouts.
	id := idPrefix(t) + "job"
	sent := time.Now()
	s.call(actionLongJob, id, map[string]int{"steps": 30, "step_ms": 200})
	run := checkAsync(t, s.collect(id)) // ack first, progress never down, one terminal message
	took := time.Since(sent)
	s.quiet(id) // and nothing after it

	var res struct {
		Steps int `json:"steps"`
		Runs  int `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(run.data(t), &res), "one result")
	require.Equal(t, 30, res.Steps, "every step done")
	require.GreaterOrEqual(t, res.Runs, 3, "the job ran in at least three invocations")

	lastRun, steps := 0.0, map[float64]bool{}
	for _, p := range run.progress {
		r, ok := p.Metadata["run"].(float64)
		require.True(t, ok, "progress says its run: %s", p.raw)
		require.GreaterOrEqual(t, r, lastRun, "runs follow one another: %s", p.raw)
		lastRun = r
		steps[r] = true
	}
	require.Len(t, steps, res.Runs, "every run reported progress on the same request")
	require.InDelta(t, 100, run.progress[len(run.progress)-1].Percentage, 0.001)

	after, err := ls.metrics(ctx)
	require.NoError(t, err)
	invocations := after.Lambda["worker"].Invocations - before.Lambda["worker"].Invocations
	require.GreaterOrEqual(t, invocations, int64(res.Runs), "one worker invocation per run at least")
	t.Logf("long_job: 6 s of work with a %s worker timeout: %d runs, %d worker invocations, %d progress messages, result %s after the request",
		workerTimeout, res.Runs, invocations, len(run.progress), took.Round(time.Millisecond))
}
