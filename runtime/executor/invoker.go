package executor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// ErrClosed is returned by GoroutineInvoker.Invoke after Shutdown began.
var ErrClosed = errors.New("executor: invoker closed")

// WorkerEvent is the payload the processor hands to a worker: the scoped id of one
// queued request (store.ScopedID). The worker reads everything else from the store, so
// a duplicate or late event is harmless.
type WorkerEvent struct {
	RequestID string `json:"request_id"`
}

// Invoker starts a worker for one request without waiting for it to finish.
type Invoker interface {
	// Invoke hands ev to a worker. A nil error means the worker will run (at least once);
	// it says nothing about the outcome.
	Invoke(ctx context.Context, ev WorkerEvent) error
}

// LambdaAPI is the part of the Lambda client LambdaInvoker uses.
type LambdaAPI interface {
	Invoke(ctx context.Context, params *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var (
	_ LambdaAPI = (*lambda.Client)(nil)
	_ Invoker   = (*LambdaInvoker)(nil)
	_ Invoker   = (*GoroutineInvoker)(nil)
)

// LambdaInvoker invokes the worker function asynchronously (InvocationType Event): Lambda
// queues the event, answers 202 at once, and retries a failed worker run on its own.
type LambdaInvoker struct {
	api      LambdaAPI
	function string
}

// NewLambdaInvoker returns an Invoker that sends each WorkerEvent to function (a name or
// ARN, usually from contract.EnvWorkerFunction) through api.
func NewLambdaInvoker(api LambdaAPI, function string) *LambdaInvoker {
	return &LambdaInvoker{api: api, function: function}
}

// Invoke queues one asynchronous invocation of the worker function.
func (l *LambdaInvoker) Invoke(ctx context.Context, ev WorkerEvent) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("executor: encode worker event: %w", err)
	}
	out, err := l.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("executor: invoke %s for %s: %w", l.function, ev.RequestID, err)
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("executor: invoke %s for %s: status %d", l.function, ev.RequestID, out.StatusCode)
	}
	return nil
}

// WorkerFunc runs one worker invocation; (*Worker).Handle is one.
type WorkerFunc func(ctx context.Context, ev WorkerEvent) error

// GoroutineOptions configures a GoroutineInvoker.
type GoroutineOptions struct {
	// Timeout is the deadline of each invocation, like a Lambda function's timeout.
	// Default 15 minutes (Lambda's maximum).
	Timeout time.Duration
	// Logger receives worker errors and recovered panics. Default: slog.Default().
	Logger *slog.Logger
}

// GoroutineInvoker runs each invocation on its own goroutine with a deadline: the local
// stack's stand-in for an asynchronous Lambda invocation. Shutdown drains it.
type GoroutineInvoker struct {
	run     WorkerFunc
	timeout time.Duration
	logger  *slog.Logger

	base   context.Context // cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewGoroutineInvoker returns an Invoker that calls run on a new goroutine per event.
func NewGoroutineInvoker(run WorkerFunc, opts GoroutineOptions) *GoroutineInvoker {
	base, cancel := context.WithCancel(context.Background())
	return &GoroutineInvoker{
		run:     run,
		timeout: cmp.Or(opts.Timeout, 15*time.Minute),
		logger:  loggerOr(opts.Logger),
		base:    base,
		cancel:  cancel,
	}
}

// Invoke starts run(ev) on a new goroutine and returns at once. The run's context is not
// derived from ctx (an asynchronous invocation outlives its caller); it ends at the
// invoker's timeout or when Shutdown gives up waiting.
func (g *GoroutineInvoker) Invoke(ctx context.Context, ev WorkerEvent) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("executor: invoke %s: %w", ev.RequestID, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.wg.Add(1)
	go g.invoke(ev)
	return nil
}

func (g *GoroutineInvoker) invoke(ev WorkerEvent) {
	defer g.wg.Done()
	ctx, cancel := context.WithTimeout(g.base, g.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			g.logger.Error("executor: worker panicked", "request_id", ev.RequestID, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if err := g.run(ctx, ev); err != nil {
		g.logger.Error("executor: worker failed", "request_id", ev.RequestID, "error", err)
	}
}

// Shutdown stops accepting invocations and waits for the running ones. When ctx ends
// first, it cancels their contexts (each worker then hands its request back to the
// queue), waits for them to return, and returns ctx's error.
func (g *GoroutineInvoker) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()

	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		g.cancel()
		return nil
	case <-ctx.Done():
		g.cancel()
		<-done
		return fmt.Errorf("executor: shutdown: %w", ctx.Err())
	}
}
