package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// Limits of long_job's payload.
const (
	MaxSteps  = 100000
	MaxStepMS = 60000
)

// LongJobRequest is the payload of long_job.
type LongJobRequest struct {
	Steps  int `json:"steps"`   // 1..MaxSteps
	StepMS int `json:"step_ms"` // 0..MaxStepMS
}

// Validate checks the ranges of the payload.
func (p LongJobRequest) Validate() error {
	switch {
	case p.Steps < 1 || p.Steps > MaxSteps:
		return streamer.InvalidField("steps", fmt.Sprintf("steps must be between 1 and %d", MaxSteps))
	case p.StepMS < 0 || p.StepMS > MaxStepMS:
		return streamer.InvalidField("step_ms", fmt.Sprintf("step_ms must be between 0 and %d", MaxStepMS))
	}
	return nil
}

// LongJobResult is the result of long_job.
type LongJobResult struct {
	Steps int `json:"steps"` // steps done, each once
	Runs  int `json:"runs"`  // worker invocations the job ran in
}

// longJobState is long_job's checkpoint: the next step, and the runs so far.
type longJobState struct {
	Next int `json:"next"`
	Runs int `json:"runs"`
}

// LongJob runs steps of step_ms each and checkpoints after every step, so it may take
// longer than one worker invocation (15 minutes at most in Lambda): when the worker's
// deadline nears it stops, and the job goes on in a new invocation from the step after
// the last one done, as the same request with the same progress. Its progress metadata
// carries the step and the run (invocation) it is in; its result says how many runs it
// took. Register it as an async action; on the local stack, `streamer local
// --worker-timeout 2s` shows it crossing invocations.
func LongJob(ctx context.Context, job *streamer.Job[LongJobRequest]) (LongJobResult, error) {
	p := job.Payload
	st := longJobState{Next: 1}
	if _, err := job.Resume(&st); err != nil {
		return LongJobResult{}, err
	}
	st.Runs++
	for ; st.Next <= p.Steps; st.Next++ {
		if err := sleep(ctx, time.Duration(p.StepMS)*time.Millisecond); err != nil {
			return LongJobResult{}, err
		}
		if err := job.Checkpoint(longJobState{Next: st.Next + 1, Runs: st.Runs}); err != nil {
			return LongJobResult{}, err
		}
		_ = job.Report(float64(st.Next)*100/float64(p.Steps), fmt.Sprintf("Step %d of %d (run %d)", st.Next, p.Steps, st.Runs),
			map[string]any{"step": st.Next, "steps": p.Steps, "run": st.Runs})
	}
	return LongJobResult{Steps: p.Steps, Runs: st.Runs}, nil
}
