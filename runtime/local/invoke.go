package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
)

// Errors of the in-process Lambda runtime.
var (
	// ErrFunctionTimeout: an invocation ran past its function's timeout.
	ErrFunctionTimeout = errors.New("local: function timed out")
	// ErrFunctionPanic: a handler panicked; Lambda reports that as a function error.
	ErrFunctionPanic = errors.New("local: function panicked")
	// ErrIntegrationTimeout: API Gateway stopped waiting for an integration (29 s).
	ErrIntegrationTimeout = errors.New("local: integration timed out")
)

// lambdaRuntime runs handler functions the way Lambda does: every invocation with a
// deadline and over for its caller at its limit even if the function ignores it, a
// panic turned into a function error, each invocation counted with its billed
// duration. It tracks running invocations so shutdown can drain them.
type lambdaRuntime struct {
	m       *counters
	log     *slog.Logger
	running sync.WaitGroup
}

// invoke calls f(ctx, ev) as one invocation of fn with the function's timeout and waits
// for it at most wait (the caller's own limit, such as API Gateway's integration
// timeout; wait >= timeout means until the function ends). Past its timeout the
// invocation is over for the caller even if f ignores ctx: f goes on in the background
// (counted in running) until it returns, billed for the timeout, like a Lambda killed at
// its deadline. Past wait the caller gets ErrIntegrationTimeout while f runs on.
func invoke[E, R any](base context.Context, rt *lambdaRuntime, fn string, timeout, wait time.Duration, f func(context.Context, E) (R, error), ev E) (R, error) {
	type outcome struct {
		r   R
		err error
	}
	done := make(chan outcome, 1)
	invokeThen(base, rt, fn, timeout, wait, func(r R, err error) { done <- outcome{r, err} }, background, f, ev)
	o := <-done
	return o.r, o.err
}

// invokeThen is invoke for a caller that takes the outcome as a callback: reply is
// called exactly once, with f's result, or at the limit (the function's timeout or wait,
// whichever is shorter) with ErrFunctionTimeout or ErrIntegrationTimeout, or when base
// ends, even if f ignores ctx; a result f returns after that is dropped. start runs the
// invocation: background for a caller that must not be held up by f, inline to spend
// the caller's own goroutine on it (no hand-off between goroutines; reply may then come
// from a timer's goroutine while the caller is still inside f).
func invokeThen[E, R any](base context.Context, rt *lambdaRuntime, fn string, timeout, wait time.Duration, reply func(R, error), start func(run func()), f func(context.Context, E) (R, error), ev E) {
	rt.running.Add(1)
	begun := time.Now()
	ctx, cancel := context.WithTimeout(base, timeout)
	limited, limitErr := ctx, ErrFunctionTimeout
	var cancelLimit context.CancelFunc = func() {}
	if wait < timeout {
		limited, cancelLimit = context.WithTimeout(ctx, wait)
		limitErr = ErrIntegrationTimeout
	}
	var answered atomic.Bool
	stop := context.AfterFunc(limited, func() {
		if !answered.CompareAndSwap(false, true) {
			return
		}
		var zero R
		if err := base.Err(); err != nil {
			reply(zero, fmt.Errorf("local: %s: %w", fn, err))
			return
		}
		reply(zero, fmt.Errorf("%w: %s after %s", limitErr, fn, min(wait, timeout)))
	})
	start(func() {
		defer rt.running.Done()
		r, err := execute(ctx, rt, fn, timeout, begun, f, ev)
		stop()
		cancelLimit()
		cancel()
		if answered.CompareAndSwap(false, true) {
			reply(r, err)
		}
	})
}

// inline runs an invocation on the calling goroutine (a start of invokeThen).
func inline(run func()) { run() }

// background runs an invocation on a goroutine of its own (a start of invokeThen).
func background(run func()) { go run() }

// execute runs f(ctx, ev) on the calling goroutine as one invocation of fn begun at
// begun: a panic becomes ErrFunctionPanic, and the invocation is counted and billed (up
// to timeout) when f returns.
func execute[E, R any](ctx context.Context, rt *lambdaRuntime, fn string, timeout time.Duration, begun time.Time, f func(context.Context, E) (R, error), ev E) (r R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: %v", ErrFunctionPanic, fn, p)
			rt.log.Error("function panicked", "function", fn, "panic", p)
		}
		elapsed := time.Since(begun)
		rt.m.invocation(fn, min(elapsed, timeout), err != nil, elapsed >= timeout)
	}()
	return f(ctx, ev)
}

// workerInvoker is the processor's executor.Invoker in the local stack: each Invoke is
// one asynchronous invocation (InvocationType Event) of the worker function, run on its
// own goroutine with the worker's timeout, retried after a failure like Lambda retries
// async invocations (WorkerRetryAttempts, WorkerRetryDelay doubling), then dropped to
// the on-failure destination (the log).
type workerInvoker struct {
	rt      *lambdaRuntime
	base    context.Context // detached from callers: an async invocation outlives them
	worker  func(context.Context, executor.WorkerEvent) error
	timeout time.Duration
	retries int
	delay   time.Duration
	inline  bool    // Config.Inline: Invoke runs the worker before it returns
	lat     Latency // InvokeCall for the caller, AsyncStart before the worker runs
}

var _ executor.Invoker = (*workerInvoker)(nil)

// Invoke queues one worker invocation and returns at once; with Config.Inline it runs
// the worker and returns when it has finished.
func (w *workerInvoker) Invoke(ctx context.Context, ev executor.WorkerEvent) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: invoke worker for %s: %w", ev.RequestID, err)
	}
	wait(ctx, w.lat.InvokeCall)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: invoke worker for %s: %w", ev.RequestID, err)
	}
	if w.inline {
		w.run(ev)
		return nil
	}
	w.rt.running.Add(1)
	go func() {
		defer w.rt.running.Done()
		wait(w.base, w.lat.AsyncStart)
		w.run(ev)
	}()
	return nil
}

func (w *workerInvoker) run(ev executor.WorkerEvent) {
	call := func(ctx context.Context, ev executor.WorkerEvent) (struct{}, error) {
		return struct{}{}, w.worker(ctx, ev)
	}
	delay := w.delay
	for attempt := 0; ; attempt++ {
		_, err := invoke(w.base, w.rt, contract.RoleWorker, w.timeout, w.timeout, call, ev)
		if err == nil {
			return
		}
		if attempt >= w.retries || w.base.Err() != nil {
			w.rt.log.Error("worker invocation failed; dropped to the on-failure destination",
				"request_id", ev.RequestID, "attempts", attempt+1, "error", err)
			return
		}
		w.rt.log.Warn("worker invocation failed; Lambda retries it", "request_id", ev.RequestID, "error", err, "retry_in", delay)
		sleep(w.base, delay)
		delay *= 2
	}
}

// wait blocks until every running invocation has returned or ctx is done.
func (rt *lambdaRuntime) wait(ctx context.Context) error {
	if err := waitGroup(ctx, &rt.running); err != nil {
		return fmt.Errorf("local: draining invocations: %w", err)
	}
	return nil
}

// waitGroup waits for wg or until ctx ends, and returns ctx's error then.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
