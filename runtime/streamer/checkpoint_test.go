package streamer_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// checkpointReporter is a Reporter that keeps checkpoints, as the worker's does.
type checkpointReporter struct {
	saved [][]byte
	last  json.RawMessage
}

func (r *checkpointReporter) Report(float64, string, ...map[string]any) error   { return nil }
func (r *checkpointReporter) Complete(map[string]any) (*streamer.Result, error) { return nil, nil }
func (r *checkpointReporter) Fail(error) error                                  { return nil }

func (r *checkpointReporter) Checkpoint(state json.RawMessage) error {
	if err := streamer.CheckCheckpoint(state); err != nil {
		return err
	}
	r.saved = append(r.saved, state)
	r.last = state
	return nil
}

func (r *checkpointReporter) LastCheckpoint() json.RawMessage { return r.last }

// sumState is the checkpoint of sumTo: the next number to add and the sum so far.
type sumState struct {
	Next int `json:"next"`
	Sum  int `json:"sum"`
}

// sumTo adds 1..n, checkpointing after each number, and stops after `budget` numbers as if
// its invocation ran out of time.
func sumTo(budget int) streamer.JobFunc[int, int] {
	return func(ctx context.Context, job *streamer.Job[int]) (int, error) {
		st := sumState{Next: 1}
		if _, err := job.Resume(&st); err != nil {
			return 0, err
		}
		for ; st.Next <= job.Payload; st.Next++ {
			if budget == 0 {
				return 0, context.DeadlineExceeded
			}
			budget--
			st.Sum += st.Next
			if err := job.Checkpoint(sumState{Next: st.Next + 1, Sum: st.Sum}); err != nil {
				return 0, err
			}
		}
		return st.Sum, nil
	}
}

func TestJobResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	rep := &checkpointReporter{}
	req := func() *streamer.Request { return &streamer.Request{ID: "r-1", Payload: json.RawMessage(`10`)} }

	_, err := streamer.Async(sumTo(4)).ProcessWithProgress(t.Context(), req(), rep)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the first invocation runs out of time")
	require.Len(t, rep.saved, 4)
	require.JSONEq(t, `{"next":5,"sum":10}`, string(rep.last))

	res, err := streamer.Async(sumTo(100)).ProcessWithProgress(t.Context(), req(), rep)
	require.NoError(t, err, "the next invocation resumes at 5, not at 1")
	require.Equal(t, 55, res.Data)
	require.Len(t, rep.saved, 10, "numbers 1-4 were not added again")
}

func TestCheckpointOutsideAWorkerDoesNothing(t *testing.T) {
	t.Parallel()
	res, err := streamer.Sync(sumTo(100)).Process(t.Context(), &streamer.Request{ID: "r-1", Payload: json.RawMessage(`4`)})
	require.NoError(t, err, "the synchronous path has no checkpoints: Resume is false, Checkpoint a no-op")
	require.Equal(t, 10, res.Data)
}

func TestCheckpointErrors(t *testing.T) {
	t.Parallel()
	rep := &checkpointReporter{}
	h := streamer.Async(func(_ context.Context, job *streamer.Job[string]) (bool, error) {
		switch job.Payload {
		case "large":
			return false, job.Checkpoint(strings.Repeat("x", streamer.MaxCheckpointBytes))
		case "unencodable":
			return false, job.Checkpoint(func() {})
		default:
			var v int
			_, err := job.Resume(&v)
			return false, err
		}
	})
	run := func(payload string) error {
		_, err := h.ProcessWithProgress(t.Context(), &streamer.Request{ID: "r-" + payload, Payload: json.RawMessage(`"` + payload + `"`)}, rep)
		return err
	}
	require.ErrorIs(t, run("large"), streamer.ErrCheckpointTooLarge)
	require.Error(t, run("unencodable"))
	require.Empty(t, rep.saved, "nothing was saved")
	rep.last = json.RawMessage(`{"not":"an int"}`)
	err := run("resume")
	require.Error(t, err, "a checkpoint that does not decode into the value is an error")
	require.False(t, errors.Is(err, streamer.ErrCheckpointTooLarge))
}

func TestMaxDuration(t *testing.T) {
	t.Parallel()
	h := streamer.Async(sumTo(1))
	require.Zero(t, h.MaxDuration(), "the worker's default")
	limited := h.WithMaxDuration(time.Hour)
	require.Equal(t, time.Hour, limited.MaxDuration())
	require.Zero(t, h.MaxDuration(), "WithMaxDuration returns a copy")
	reg := streamer.NewRegistry()
	require.NoError(t, reg.Handle("sum", limited))
	require.Error(t, reg.Handle("negative", h.WithMaxDuration(-time.Second)))
}
