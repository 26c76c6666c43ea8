package executor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Causes of the handler context's cancellation.
var (
	errCancelRequested = errors.New("executor: cancel requested")
	errOutOfTime       = errors.New("executor: worker out of time")
	errLeaseLost       = errors.New("executor: lease lost")
)

// attempt is the run of one claimed request by one invocation.
type attempt struct {
	*invocation
	req *store.AsyncRequest

	handlerCtx context.Context // cancelled on cancel request, lease loss, time out
	cancel     context.CancelCauseFunc
	final      context.Context // store writes and sends: not cancelled with ctx, same deadline
	endFinal   context.CancelFunc
	c          *progress.Coalescer

	mu           sync.Mutex // serialises checkpoints and guards the fields below
	closed       bool       // outcome being stored: no more checkpoints
	persisted    progress.ProgressUpdate
	persistedAt  time.Time
	connectionID string
}

// outcome is what a handler run produced: a result or an error.
type outcome struct {
	result  *streamer.Result
	err     error
	elapsed time.Duration
}

func (in *invocation) newAttempt(req *store.AsyncRequest) *attempt {
	a := &attempt{
		invocation:   in,
		req:          req,
		persistedAt:  time.Now(),
		connectionID: req.ConnectionID,
	}
	a.invocation.log = in.log.With(slog.String("action", req.Action), slog.Int("attempt", req.Attempt))
	a.handlerCtx, a.cancel = context.WithCancelCause(in.ctx)
	if base := context.WithoutCancel(in.ctx); in.bounded {
		a.final, a.endFinal = context.WithDeadline(base, in.end)
	} else {
		a.final, a.endFinal = context.WithCancel(base)
	}
	a.c = progress.New(a.final, req.ClientID, req.ConnectionID, in.w.sender, progress.Options{
		Interval:        in.w.cfg.ProgressInterval,
		PersistInterval: in.w.cfg.PersistInterval,
		Persist:         a.persist,
		Action:          req.Action,
		Logger:          in.w.cfg.Logger,
	})
	return a
}

// run runs the handler and settles the outcome.
func (a *attempt) run() error {
	defer a.cancel(nil)
	defer a.endFinal()
	if a.bounded {
		stop := time.AfterFunc(time.Until(a.stopAt), func() { a.cancel(errOutOfTime) })
		defer stop.Stop()
	}
	switch _, ok := a.w.registry.Lookup(a.req.Action); {
	case !ok:
		return a.fail(streamer.UnknownAction(a.req.Action))
	case a.req.CancelRequested:
		return a.cancelled()
	}
	if a.req.Progress > 0 {
		// A retry carries on from the progress the client has seen: it never goes down.
		_ = a.c.Report(a.req.Progress, a.req.ProgressMessage)
	}
	stopKeeper := a.keepLease()
	out := a.execute()
	stopKeeper()
	return a.settle(out)
}

// execute runs the handler through the registry's middleware on its own goroutine, so
// that a handler that ignores its cancelled context cannot keep the worker past its
// deadline: after a grace period it is abandoned.
func (a *attempt) execute() outcome {
	rep := &outcomeReporter{ctx: a.final, c: a.c, requestID: a.req.ClientID, log: a.log}
	process := streamer.Chain(func(ctx context.Context, r *streamer.Request) (*streamer.Result, error) {
		return a.w.registry.Run(ctx, r, rep)
	}, a.w.cfg.Middleware...)
	req := &streamer.Request{
		ID:           a.req.ClientID,
		ConnectionID: a.req.ConnectionID,
		UserID:       a.req.UserID,
		TenantID:     a.req.TenantID,
		Action:       a.req.Action,
		Payload:      a.req.Payload,
		Timestamp:    a.req.CreatedAt,
	}

	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		var o outcome
		defer func() {
			if p := recover(); p != nil { // in middleware: the registry turns handler panics into errors
				o = outcome{err: streamer.Recovered(p)}
			}
			var panicked *streamer.PanicError
			if errors.As(o.err, &panicked) {
				a.log.Error("executor: handler panicked", slog.Any("panic", panicked.Value), slog.String("stack", string(panicked.Stack)))
			}
			o.elapsed = time.Since(start)
			done <- o
		}()
		res, err := process(a.handlerCtx, req)
		o = rep.outcome(res, err)
	}()

	select {
	case o := <-done:
		return o
	case <-a.handlerCtx.Done():
	}
	grace := a.w.cfg.SafetyMargin / 2
	if a.bounded {
		grace = a.end.Sub(a.stopAt) / 2
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case o := <-done:
		return o
	case <-t.C:
		a.log.Warn("executor: handler ignored its cancelled context; abandoned", slog.Duration("grace", grace))
		return outcome{err: context.Cause(a.handlerCtx), elapsed: time.Since(start)}
	}
}

// settle stores the outcome and sends the terminal message, or hands the request back.
func (a *attempt) settle(o outcome) error {
	cause := context.Cause(a.handlerCtx)
	switch {
	case errors.Is(cause, errLeaseLost):
		a.log.Warn("executor: lease lost; another worker owns the request")
		a.stopPersisting()
		a.c.Close()
		return nil
	case errors.Is(cause, errCancelRequested):
		return a.cancelled()
	case o.err == nil:
		return a.complete(o)
	case cause != nil:
		// Out of time, or the invocation itself is ending (shutdown): hand the request back.
		a.log.Info("executor: stopped before the deadline", slog.String("cause", cause.Error()), slog.String("error", o.err.Error()))
		return a.retryOrFail(streamer.NewError(streamer.ErrCodeTimeout, "the worker ran out of time"))
	}
	var se *streamer.Error
	if !errors.As(o.err, &se) {
		// Not a protocol error: the client gets INTERNAL_ERROR, the details go to the log.
		a.log.Error("executor: handler failed", slog.String("error", o.err.Error()))
	}
	e := streamer.AsError(o.err)
	if e.Retryable() {
		return a.retryOrFail(e)
	}
	return a.fail(e)
}

// complete stores a successful outcome and sends the result message.
func (a *attempt) complete(o outcome) error {
	data, err := json.Marshal(o.result.Data)
	if err != nil {
		a.log.Error("executor: result cannot be encoded", slog.String("error", err.Error()))
		return a.fail(streamer.NewError(streamer.ErrCodeInternalError, "the result could not be encoded"))
	}
	if len(data) > contract.MaxItemBytes {
		return a.fail(tooLarge(len(data)))
	}
	msg := &protocol.ResultMessage{
		Type:       protocol.TypeResult,
		RequestID:  a.req.ClientID,
		Action:     a.req.Action,
		Success:    true,
		Data:       data,
		Metadata:   o.result.Metadata,
		DurationMS: cmp.Or(o.result.Duration, o.elapsed).Milliseconds(),
	}
	err = a.finish(store.StatusCompleted, data, nil, msg)
	if errors.Is(err, store.ErrTooLarge) {
		return a.fail(tooLarge(len(data)))
	}
	return err
}

func tooLarge(n int) *streamer.Error {
	return streamer.NewErrorWithDetails(streamer.ErrCodePayloadTooLarge, "the result is too large to store",
		map[string]any{"bytes": n, "limit": contract.MaxItemBytes})
}

// cancelled ends a cancelled request with a CANCELLED error.
func (a *attempt) cancelled() error {
	return a.terminate(store.StatusCancelled, streamer.NewError(streamer.ErrCodeCancelled, "the request was cancelled"))
}

// fail ends the request FAILED with e.
func (a *attempt) fail(e *streamer.Error) error {
	return a.terminate(store.StatusFailed, e)
}

// terminate ends the request with status (FAILED or CANCELLED) and the error e.
func (a *attempt) terminate(status store.RequestStatus, e *streamer.Error) error {
	wire := a.wireError(e)
	return a.finish(status, nil, a.errorJSON(wire), &protocol.ErrorMessage{Type: protocol.TypeError, RequestID: a.req.ClientID, Error: wire})
}

// retryOrFail hands the request back for another attempt while attempts remain, and
// fails it with e after the last one.
func (a *attempt) retryOrFail(e *streamer.Error) error {
	if a.req.Attempt >= a.maxAttempts() {
		return a.fail(e)
	}
	// Everything this attempt says goes out while it still holds the lease: once
	// released, the next attempt may start at once, and its messages must come after
	// these. The latest progress is stored so that the next attempt carries on from what
	// the client has seen.
	last := a.c.Last()
	note := fmt.Sprintf("retrying after %s (attempt %d of %d)", e.Code, a.req.Attempt+1, a.maxAttempts())
	if a.c.Report(last.Percentage, note, last.Metadata) == nil {
		if err := a.c.Flush(a.final); err != nil {
			a.log.Info("executor: retry note not delivered", slog.String("error", err.Error()))
		}
	}
	if err := a.persist(a.final, a.c.Last()); err != nil {
		a.log.Warn("executor: progress not stored before release", slog.String("error", err.Error()))
	}
	a.stopPersisting()
	a.c.Close()

	_, err := a.w.queue.Release(a.final, a.id, a.owner, a.errorJSON(a.wireError(e)))
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		a.log.Warn("executor: lease lost before release; another worker owns the request")
		return nil
	case err != nil:
		return fmt.Errorf("executor: release %s: %w", a.id, err)
	}
	a.log.Info("executor: attempt failed; request released for a retry", slog.String("code", e.Code))
	return nil
}

// maxAttempts is the request's attempt budget (the default for a request stored without
// one).
func (a *attempt) maxAttempts() int {
	return cmp.Or(a.req.MaxAttempts, contract.DefaultMaxAttempts)
}

// finish stores the terminal status, then sends msg: the request's one terminal message,
// after every progress message. Nothing is sent when the store write fails, so a client
// never sees an outcome that was not stored.
func (a *attempt) finish(status store.RequestStatus, result, errJSON json.RawMessage, msg any) error {
	a.stopPersisting()
	last := a.c.Last()
	p := store.ProgressState{Percentage: last.Percentage, Message: last.Message, Metadata: last.Metadata}
	if status == store.StatusCompleted {
		p.Percentage = 100
	}
	stored, err := a.w.queue.Finish(a.final, a.id, a.owner, status, p, result, errJSON)
	switch {
	case errors.Is(err, store.ErrTooLarge):
		return fmt.Errorf("executor: finish %s: %w", a.id, err)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		a.log.Warn("executor: lease lost before finish; another worker owns the request")
		a.c.Close()
		return nil
	case err != nil:
		a.c.Close()
		return fmt.Errorf("executor: finish %s: %w", a.id, err)
	}
	a.log.Info("executor: request finished", slog.String("status", string(status)))
	if stored.ConnectionID != "" && stored.ConnectionID != a.connectionID {
		// The client resumed after the last checkpoint: the terminal message follows it.
		a.c.SetConnectionID(stored.ConnectionID)
	}
	if err := a.c.Finish(a.final, msg); err != nil {
		// The outcome is stored: a client that resumes (streamer.status) gets it.
		level := slog.LevelWarn
		if errors.Is(err, connection.ErrGone) {
			level = slog.LevelInfo
		}
		a.log.Log(a.final, level, "executor: terminal message not delivered; outcome stored", slog.String("error", err.Error()))
	}
	return nil
}

// wireError is e as stored and sent: retry information filled in, with this attempt.
func (a *attempt) wireError(e *streamer.Error) *streamer.Error {
	w := *e.WireError()
	retry := *w.Retry
	retry.Attempt = a.req.Attempt
	retry.MaxTries = a.maxAttempts()
	w.Retry = &retry
	return &w
}

// errorJSON encodes e for the store. Details that cannot be encoded are dropped (and
// dropped from e, which is also the message sent) rather than losing the error.
func (a *attempt) errorJSON(e *streamer.Error) json.RawMessage {
	b, err := json.Marshal(e)
	if err != nil {
		a.log.Warn("executor: error details cannot be encoded; dropped", slog.String("error", err.Error()))
		e.Details = nil
		b, _ = json.Marshal(e) // code, message and retry info always encode
	}
	return b
}

// persist is the Coalescer's Persist hook: it checkpoints progress, renews the lease and
// reads back what others changed: a resumed client's connection, a cancel request.
func (a *attempt) persist(ctx context.Context, u progress.ProgressUpdate) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	if u.Timestamp.Before(a.persisted.Timestamp) {
		u = a.persisted // an older snapshot than the one stored: keep the newer
	}
	now := a.w.cfg.Now()
	p := store.ProgressState{Percentage: u.Percentage, Message: u.Message, Metadata: u.Metadata}
	stored, err := a.w.queue.Checkpoint(ctx, a.id, a.owner, p, a.leaseUntil(now))
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		a.cancel(errLeaseLost)
		return fmt.Errorf("executor: checkpoint %s: %w", a.id, err)
	case err != nil:
		return fmt.Errorf("executor: checkpoint %s: %w", a.id, err)
	}
	a.persisted, a.persistedAt = u, time.Now()
	if stored.ConnectionID != "" && stored.ConnectionID != a.connectionID {
		a.log.Info("executor: client resumed on another connection", slog.String("connection_id", stored.ConnectionID))
		a.connectionID = stored.ConnectionID
		a.c.SetConnectionID(stored.ConnectionID)
	}
	if stored.CancelRequested {
		a.cancel(errCancelRequested)
	}
	return nil
}

// keepLease renews the lease at least every Lease/3 while the handler runs, for handlers
// that report rarely or never (each renewal also notices a cancel request). It returns
// the function that stops it.
func (a *attempt) keepLease() (stop func()) {
	every := a.w.cfg.Lease / 3
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			a.mu.Lock()
			idle := time.Since(a.persistedAt)
			a.mu.Unlock()
			if idle < every {
				continue
			}
			if err := a.persist(a.final, a.c.Last()); err != nil {
				a.log.Warn("executor: lease renewal failed", slog.String("error", err.Error()))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// stopPersisting waits for a checkpoint in flight and refuses later ones: the outcome is
// about to be stored.
func (a *attempt) stopPersisting() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}

// outcomeReporter is the Reporter a handler gets. Report goes to the Coalescer; Complete
// and Fail flush progress and record the outcome without sending it: the worker stores
// the outcome first and sends the terminal message after.
type outcomeReporter struct {
	ctx       context.Context
	c         *progress.Coalescer
	requestID string
	log       *slog.Logger

	mu     sync.Mutex
	done   bool
	result *streamer.Result
	failed error
}

var _ streamer.Reporter = (*outcomeReporter)(nil)

// Report sends a progress update (coalesced); ErrFinished after Complete or Fail.
func (r *outcomeReporter) Report(percentage float64, message string, details ...map[string]any) error {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done {
		return progress.ErrFinished
	}
	return r.c.Report(percentage, message, details...)
}

// Complete records a successful outcome with result as its data and returns it.
func (r *outcomeReporter) Complete(result map[string]any) (*streamer.Result, error) {
	res := &streamer.Result{RequestID: r.requestID, Success: true, Data: result}
	if err := r.record(res, nil); err != nil {
		return nil, err
	}
	return res, nil
}

// Fail records a failed outcome (a nil err becomes INTERNAL_ERROR).
func (r *outcomeReporter) Fail(err error) error {
	if err == nil {
		err = streamer.NewError(streamer.ErrCodeInternalError, "internal error")
	}
	return r.record(nil, err)
}

func (r *outcomeReporter) record(res *streamer.Result, err error) error {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return progress.ErrFinished
	}
	r.done, r.result, r.failed = true, res, err
	r.mu.Unlock()
	if ferr := r.c.Flush(r.ctx); ferr != nil {
		r.log.Info("executor: progress flush failed", slog.String("error", ferr.Error()))
	}
	return nil
}

// outcome combines what the handler returned with what it recorded: a returned error
// wins, then a recorded failure, then the returned result, then the recorded one. A
// Result carrying an Error is a failure.
func (r *outcomeReporter) outcome(res *streamer.Result, err error) outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	switch {
	case err != nil:
		return outcome{err: err}
	case r.failed != nil:
		return outcome{err: r.failed}
	case res == nil && r.result != nil:
		return outcome{result: r.result}
	case res == nil:
		return outcome{result: &streamer.Result{RequestID: r.requestID, Success: true}}
	case res.Error != nil:
		return outcome{err: res.Error}
	}
	return outcome{result: res}
}
