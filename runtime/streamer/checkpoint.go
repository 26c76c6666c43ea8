package streamer

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxCheckpointBytes is the largest checkpoint a handler may save (64 KiB of JSON): it is
// stored in the request's DynamoDB item beside the payload (at most 128 KiB) and the
// progress, well inside the 400 KB item limit.
const MaxCheckpointBytes = 64 << 10

// ErrCheckpointTooLarge is returned by Job.Checkpoint (and a Checkpointer) for a state
// whose JSON is over MaxCheckpointBytes; nothing is saved. Keep an offset or a cursor in
// the checkpoint, not the data.
var ErrCheckpointTooLarge = errors.New("streamer: checkpoint too large")

// Checkpointer is implemented by the Reporter of a run that can go on in a new
// invocation: the worker's. When the invocation's deadline nears, the worker stops the
// handler (its context is cancelled) and, if the handler saved a checkpoint during the
// invocation, hands the request on to a new invocation, where the handler runs again and
// resumes from the latest checkpoint. Typed actions use it through Job.Checkpoint and
// Job.Resume; a HandlerWithProgress can type-assert its Reporter to it.
type Checkpointer interface {
	// Checkpoint saves state, a JSON document of at most MaxCheckpointBytes, as the point
	// to resume from. It is stored with the next progress write (at most one a second) and
	// at the latest when the invocation hands the request on.
	Checkpoint(state json.RawMessage) error
	// LastCheckpoint returns the latest state saved for the request, in this invocation
	// or an earlier one; nil when there is none.
	LastCheckpoint() json.RawMessage
}

// Checkpoint saves state, encoded as JSON, as the point this job resumes from when it
// goes on in a new invocation (a worker invocation ends at its Lambda timeout, 15
// minutes at most; a job that checkpoints may run for hours). Save the state after each
// unit of work is done, and return when the context is cancelled: the job then continues
// from the latest checkpoint, with the same request id, progress and client. State must
// stay small (at most MaxCheckpointBytes of JSON, else ErrCheckpointTooLarge). On the
// synchronous path, where a run cannot continue, Checkpoint does nothing and returns nil.
func (j *Job[P]) Checkpoint(state any) error {
	cp, ok := j.reporter.(Checkpointer)
	if !ok {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("streamer: checkpoint: %w", err)
	}
	return cp.Checkpoint(data)
}

// Resume decodes the latest checkpoint of the job into v and reports whether there was
// one. It is false on the job's first run, and true when the job goes on in a new
// invocation (or a retry) after it saved a checkpoint.
func (j *Job[P]) Resume(v any) (bool, error) {
	cp, ok := j.reporter.(Checkpointer)
	if !ok {
		return false, nil
	}
	data := cp.LastCheckpoint()
	if len(data) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("streamer: resume: %w", err)
	}
	return true, nil
}

// CheckCheckpoint returns ErrCheckpointTooLarge (wrapped, with the size) when state is
// over MaxCheckpointBytes, and an error when it is not valid JSON.
func CheckCheckpoint(state json.RawMessage) error {
	switch {
	case len(state) > MaxCheckpointBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrCheckpointTooLarge, len(state), MaxCheckpointBytes)
	case !json.Valid(state):
		return errors.New("streamer: checkpoint is not valid JSON")
	}
	return nil
}
