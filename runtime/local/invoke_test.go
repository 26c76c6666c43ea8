package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
)

// testRuntime is a Lambda runtime with fresh counters.
func testRuntime() *lambdaRuntime {
	return &lambdaRuntime{m: newCounters(memorySizes(DefaultFunctionSettings())), log: testLogger()}
}

// outcome is one call of an invocation's reply.
type outcome struct {
	body string
	err  error
}

// stuck is a function that ignores its context and returns "late" only when release is
// closed.
func stuck(release <-chan struct{}) func(context.Context, string) (string, error) {
	return func(context.Context, string) (string, error) {
		<-release
		return "late", nil
	}
}

// TestInvokeThenInlineAnswersAtTheLimitWhileTheFunctionRuns runs a function that ignores
// its deadline on the caller's goroutine: the reply comes at the integration timeout
// while the function still runs, the late result is dropped, and the invocation is
// counted once, when it returns.
func TestInvokeThenInlineAnswersAtTheLimitWhileTheFunctionRuns(t *testing.T) {
	t.Parallel()
	rt := testRuntime()
	release := make(chan struct{})
	replies := make(chan outcome, 2)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		invokeThen(t.Context(), rt, contract.RoleRouter, time.Minute, 50*time.Millisecond,
			func(body string, err error) { replies <- outcome{body, err} },
			inline, stuck(release), "ev")
	}()

	o := <-replies
	require.ErrorIs(t, o.err, ErrIntegrationTimeout)
	require.Empty(t, o.body)
	select {
	case <-returned:
		t.Fatal("invokeThen returned before the function did")
	default:
	}
	require.Zero(t, rt.m.lambda[contract.RoleRouter].invocations.Load(), "counted before the function returned")

	close(release)
	<-returned
	require.NoError(t, rt.wait(t.Context()))
	require.Empty(t, replies, "the late result must be dropped")
	c := rt.m.lambda[contract.RoleRouter]
	require.Equal(t, int64(1), c.invocations.Load())
	require.Zero(t, c.errors.Load())
}

// TestInvokeTimesOutAFunctionThatNeverReturns: the blocking form returns the function's
// timeout while the function runs on in the background, counted as running until it
// returns.
func TestInvokeTimesOutAFunctionThatNeverReturns(t *testing.T) {
	t.Parallel()
	rt := testRuntime()
	release := make(chan struct{})
	_, err := invoke(t.Context(), rt, contract.RoleWorker, 50*time.Millisecond, time.Minute, stuck(release), "ev")
	require.ErrorIs(t, err, ErrFunctionTimeout)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, rt.wait(ctx), context.DeadlineExceeded, "the stuck function must still count as running")
	close(release)
	require.NoError(t, rt.wait(t.Context()))
	c := rt.m.lambda[contract.RoleWorker]
	require.Equal(t, int64(1), c.invocations.Load())
	require.Equal(t, int64(1), c.timeouts.Load())
	require.Equal(t, int64(50), c.billedMS.Load(), "billed for the timeout, not the run")
}

// TestInvokeReturnsResultsErrorsAndPanics: a result and an error pass through; a panic
// becomes ErrFunctionPanic; each is one invocation, the failures counted as errors.
func TestInvokeReturnsResultsErrorsAndPanics(t *testing.T) {
	t.Parallel()
	rt := testRuntime()
	echo := func(_ context.Context, ev string) (string, error) { return ev, nil }
	got, err := invoke(t.Context(), rt, contract.RoleConnect, time.Minute, time.Minute, echo, "hello")
	require.NoError(t, err)
	require.Equal(t, "hello", got)

	boom := errors.New("boom")
	fail := func(context.Context, string) (string, error) { return "", boom }
	_, err = invoke(t.Context(), rt, contract.RoleConnect, time.Minute, time.Minute, fail, "ev")
	require.ErrorIs(t, err, boom)

	replies := make(chan outcome, 2)
	panics := func(context.Context, string) (string, error) { panic("bad input") }
	invokeThen(t.Context(), rt, contract.RoleConnect, time.Minute, time.Minute,
		func(body string, err error) { replies <- outcome{body, err} }, inline, panics, "ev")
	require.ErrorIs(t, (<-replies).err, ErrFunctionPanic)
	require.Empty(t, replies)

	c := rt.m.lambda[contract.RoleConnect]
	require.Equal(t, int64(3), c.invocations.Load())
	require.Equal(t, int64(2), c.errors.Load())
	require.Zero(t, c.timeouts.Load())
}

// TestInvokeThenAnswersWhenTheStackStops: a hard stop (base cancelled) answers at once
// even for a function that ignores its context.
func TestInvokeThenAnswersWhenTheStackStops(t *testing.T) {
	t.Parallel()
	rt := testRuntime()
	base, stop := context.WithCancel(t.Context())
	release := make(chan struct{})
	replies := make(chan outcome, 2)
	go invokeThen(base, rt, contract.RoleRouter, time.Minute, time.Minute,
		func(body string, err error) { replies <- outcome{body, err} }, inline, stuck(release), "ev")
	stop()
	require.ErrorIs(t, (<-replies).err, context.Canceled)
	close(release)
	require.NoError(t, rt.wait(t.Context()))
	require.Empty(t, replies)
}
