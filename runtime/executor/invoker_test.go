package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
)

// lambdaServer stands in for the Lambda Invoke API; the real SDK client talks to it.
func lambdaServer(t *testing.T, status int, got chan<- *http.Request, bodies chan<- []byte) *lambda.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- r
		bodies <- body
		if status != http.StatusAccepted {
			w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return lambda.New(lambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	})
}

func TestLambdaInvokerQueuesAsyncInvocation(t *testing.T) {
	t.Parallel()
	got, bodies := make(chan *http.Request, 1), make(chan []byte, 1)
	inv := executor.NewLambdaInvoker(lambdaServer(t, http.StatusAccepted, got, bodies), "streamer-worker")

	require.NoError(t, inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: "t#u#r-1"}))

	r := <-got
	require.Equal(t, "/2015-03-31/functions/streamer-worker/invocations", r.URL.Path)
	require.Equal(t, "Event", r.Header.Get("X-Amz-Invocation-Type"))
	var ev executor.WorkerEvent
	require.NoError(t, json.Unmarshal(<-bodies, &ev))
	require.Equal(t, "t#u#r-1", ev.RequestID)
}

func TestLambdaInvokerReportsThrottling(t *testing.T) {
	t.Parallel()
	got, bodies := make(chan *http.Request, 1), make(chan []byte, 1)
	inv := executor.NewLambdaInvoker(lambdaServer(t, http.StatusTooManyRequests, got, bodies), "streamer-worker")

	err := inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: "t#u#r-1"})
	require.ErrorContains(t, err, "executor: invoke streamer-worker for t#u#r-1")
	require.ErrorContains(t, err, "TooManyRequestsException")
}

func TestGoroutineInvokerRunsWithDeadline(t *testing.T) {
	t.Parallel()
	type run struct {
		id          string
		hasDeadline bool
		left        time.Duration
	}
	runs := make(chan run, 1)
	inv := executor.NewGoroutineInvoker(func(ctx context.Context, ev executor.WorkerEvent) error {
		dl, ok := ctx.Deadline()
		runs <- run{ev.RequestID, ok, time.Until(dl)}
		return nil
	}, executor.GoroutineOptions{Timeout: time.Minute, Logger: quietLogger()})

	caller, cancel := context.WithCancel(t.Context())
	require.NoError(t, inv.Invoke(caller, executor.WorkerEvent{RequestID: "r-1"}))
	cancel() // an asynchronous invocation outlives its caller
	r := <-runs
	require.Equal(t, "r-1", r.id)
	require.True(t, r.hasDeadline)
	require.Greater(t, r.left, 50*time.Second)
	require.LessOrEqual(t, r.left, time.Minute)

	require.NoError(t, inv.Shutdown(t.Context()))
	require.ErrorIs(t, inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: "r-2"}), executor.ErrClosed)
}

func TestGoroutineInvokerShutdownDrains(t *testing.T) {
	t.Parallel()
	var finished atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	inv := executor.NewGoroutineInvoker(func(ctx context.Context, ev executor.WorkerEvent) error {
		started <- struct{}{}
		if ev.RequestID == "panics" {
			panic("worker bug")
		}
		<-release
		finished.Add(1)
		return errors.New("logged, not fatal")
	}, executor.GoroutineOptions{Logger: quietLogger()})
	require.NoError(t, inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: "waits"}))
	require.NoError(t, inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: "panics"}))
	await(t, started)
	await(t, started)

	done := make(chan error, 1)
	go func() { done <- inv.Shutdown(t.Context()) }()
	close(release)
	require.NoError(t, await(t, done))
	require.EqualValues(t, 1, finished.Load(), "Shutdown returned before the running invocation")
}

func TestGoroutineInvokerShutdownCancelsWhenOutOfTime(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var cancelled atomic.Bool
	inv := executor.NewGoroutineInvoker(func(ctx context.Context, _ executor.WorkerEvent) error {
		close(started)
		<-ctx.Done()
		cancelled.Store(true)
		return nil
	}, executor.GoroutineOptions{Logger: quietLogger()})
	require.NoError(t, inv.Invoke(t.Context(), executor.WorkerEvent{RequestID: "forever"}))
	await(t, started)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, inv.Shutdown(ctx), context.DeadlineExceeded)
	require.True(t, cancelled.Load(), "Shutdown returned before the invocation saw its cancellation")
}
