package streamertest_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

type steps struct {
	N int `json:"n"`
}

func (s steps) Validate() error {
	if s.N < 1 {
		return streamer.InvalidField("n", "n must be positive")
	}
	return nil
}

func TestRunSyncAndAsync(t *testing.T) {
	t.Parallel()
	run := func(_ context.Context, job *streamer.Job[steps]) (map[string]int, error) {
		for i := 1; i <= job.Payload.N; i++ {
			_ = job.Report(float64(i*100/job.Payload.N), "step")
		}
		return map[string]int{"steps": job.Payload.N}, nil
	}

	out := streamertest.Run(t, streamer.Sync(run), steps{N: 4})
	require.False(t, out.Async)
	require.Len(t, out.Messages, 1, "a sync action answers with its result alone")
	require.Empty(t, out.Progress)
	var res map[string]int
	require.NoError(t, out.DecodeResult(&res))
	require.Equal(t, map[string]int{"steps": 4}, res)

	out = streamertest.Run(t, streamer.Async(run), steps{N: 4}, streamertest.WithAction("count"), streamertest.WithProgressInterval(time.Millisecond))
	require.True(t, out.Async)
	require.Equal(t, protocol.TypeAck, out.Messages[0].Type)
	require.NotEmpty(t, out.Progress)
	require.Equal(t, 100.0, out.Progress[len(out.Progress)-1].Percentage)
	require.Equal(t, "count", out.Terminal.Fields["action"])
	require.NoError(t, out.DecodeResult(&res))
	require.Nil(t, out.Err())

	out = streamertest.Run(t, streamer.Async(run), steps{})
	require.False(t, out.Async, "an invalid payload is refused before it is queued")
	require.Equal(t, streamer.ErrCodeValidation, out.Err().Code)
	require.Equal(t, "n", out.Err().Details["field"])
	require.Equal(t, out.Err(), out.DecodeResult(&res))
}

func TestRunRetriesAsTheWorkerDoes(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	flaky := streamer.Async(func(_ context.Context, job *streamer.Job[steps]) (int32, error) {
		if n := attempts.Add(1); n < 3 {
			_ = job.Report(float64(n*10), "trying")
			return 0, streamer.NewError(streamer.ErrCodeServiceUnavail, "downstream busy")
		}
		return attempts.Load(), nil
	})
	out := streamertest.Run(t, flaky, steps{N: 1}, streamertest.WithProgressInterval(time.Millisecond))
	var n int32
	require.NoError(t, out.DecodeResult(&n))
	require.Equal(t, int32(3), n, "two retryable failures, then success on the third attempt")
	var notes []string
	for _, p := range out.Progress {
		notes = append(notes, p.Message)
	}
	require.Contains(t, strings.Join(notes, "|"), "retrying after SERVICE_UNAVAILABLE")

	out = streamertest.Run(t, streamer.Async(func(context.Context, *streamer.Job[steps]) (int, error) {
		return 0, streamer.NewError(streamer.ErrCodeServiceUnavail, "always down")
	}), steps{N: 1})
	require.Equal(t, streamer.ErrCodeServiceUnavail, out.Err().Code, "the last attempt's error is the outcome")
	require.Equal(t, 3, out.Err().Retry.MaxTries)
}

func TestRunLargeResultAndTimeout(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 200*1024)
	out := streamertest.Run(t, streamer.Async(func(context.Context, *streamer.Job[steps]) (string, error) { return big, nil }), steps{N: 1})
	var got string
	require.NoError(t, out.DecodeResult(&got))
	require.Equal(t, big, got, "the parts are reassembled")
	require.Greater(t, len(out.Messages), 2, "ack and several parts")

	// Each attempt is stopped a tenth of its 3 s before the deadline: 300 ms to hand the
	// request back, room enough on a loaded machine.
	out = streamertest.Run(t, streamer.Async(func(ctx context.Context, _ *streamer.Job[steps]) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}), steps{N: 1}, streamertest.WithTimeout(3*time.Second))
	require.Equal(t, streamer.ErrCodeTimeout, out.Err().Code, "every attempt ran out of time")
}

func TestRunContinuesACheckpointedJob(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	count := streamer.Async(func(ctx context.Context, job *streamer.Job[steps]) (int32, error) {
		runs.Add(1)
		next := 1
		if _, err := job.Resume(&next); err != nil {
			return 0, err
		}
		for ; next <= job.Payload.N; next++ {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if err := job.Checkpoint(next + 1); err != nil {
				return 0, err
			}
			_ = job.Report(float64(next*100/job.Payload.N), "step")
		}
		return runs.Load(), nil
	})
	// 2 s of work in one-second invocations: the job goes on in new invocations.
	out := streamertest.Run(t, count, steps{N: 40}, streamertest.WithTimeout(time.Second))
	var n int32
	require.NoError(t, out.DecodeResult(&n))
	require.GreaterOrEqual(t, n, int32(3), "it ran in several invocations, as one request")
	require.Equal(t, 100.0, out.Progress[len(out.Progress)-1].Percentage)
}
