package executor

import (
	"bytes"
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
	errMaxDuration     = errors.New("executor: maximum duration reached")
)

// durationLimited is a handler with its own maximum duration (a streamer.TypedHandler
// given WithMaxDuration, or any handler with the method); 0 means the worker's default.
type durationLimited interface {
	MaxDuration() time.Duration
}

// attempt is the run of one claimed request by one invocation.
type attempt struct {
	*invocation
	req   *store.AsyncRequest
	limit time.Duration // the request's maximum duration, from its enqueue

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

	// The handler's checkpoint, apart from mu so that saving one never waits for a
	// store write in flight.
	cpMu      sync.Mutex
	cpClosed  bool            // the request is being handed on or finished: no more saves
	cp        json.RawMessage // the latest checkpoint: stored at the claim, or saved since
	cpGen     uint64          // bumped by every save
	cpStored  uint64          // the cpGen last written to the store
	cpInvoked bool            // the handler saved a checkpoint in this invocation
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
		cp:           req.Checkpoint,
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
	h, ok := a.w.registry.Lookup(a.req.Action)
	switch {
	case !ok:
		return a.fail(streamer.UnknownAction(a.req.Action))
	case a.req.CancelRequested:
		return a.cancelled()
	}
	a.limit = a.w.cfg.MaxDuration
	if d, ok := h.(durationLimited); ok && d.MaxDuration() > 0 {
		a.limit = d.MaxDuration()
	}
	if !a.req.CreatedAt.IsZero() {
		left := a.req.CreatedAt.Add(a.limit).Sub(a.w.cfg.Now())
		if left <= 0 {
			return a.fail(overTime(a.limit))
		}
		stop := time.AfterFunc(left, func() { a.cancel(errMaxDuration) })
		defer stop.Stop()
	}
	if a.req.Progress > 0 {
		// A retry or a continuation carries on from the progress the client has seen: it
		// never goes down.
		var meta map[string]any
		if len(a.req.ProgressMetadata) > 0 && json.Unmarshal(a.req.ProgressMetadata, &meta) != nil {
			meta = nil // stored by a worker as a JSON object; anything else is dropped
		}
		_ = a.c.Report(a.req.Progress, a.req.ProgressMessage, meta)
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
	rep := &outcomeReporter{ctx: a.final, c: a.c, a: a, requestID: a.req.ClientID, log: a.log}
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
	case errors.Is(cause, errMaxDuration):
		return a.fail(overTime(a.limit))
	case cause != nil:
		// Out of time, or the invocation itself is ending (shutdown): a handler that
		// checkpointed goes on in a new invocation; otherwise this was an attempt.
		a.log.Info("executor: stopped before the deadline", slog.String("cause", cause.Error()), slog.String("error", o.err.Error()))
		if a.checkpointedHere() {
			return a.handOn()
		}
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
	elapsed := o.elapsed
	if a.req.Continuations > 0 && !a.req.CreatedAt.IsZero() {
		// A job that ran in several invocations: its whole time, from the enqueue.
		elapsed = a.w.cfg.Now().Sub(a.req.CreatedAt)
	}
	msg := &protocol.ResultMessage{
		Type:       protocol.TypeResult,
		RequestID:  a.req.ClientID,
		Action:     a.req.Action,
		Success:    true,
		Data:       data,
		Metadata:   o.result.Metadata,
		DurationMS: cmp.Or(o.result.Duration, elapsed).Milliseconds(),
	}
	err = a.finish(store.StatusCompleted, data, nil, msg)
	if errors.Is(err, store.ErrTooLarge) {
		return a.fail(tooLarge(len(data)))
	}
	return err
}

// overTime is the error of a request that reached its maximum duration.
func overTime(limit time.Duration) *streamer.Error {
	return streamer.NewErrorWithDetails(streamer.ErrCodeTimeout, "the request ran past its maximum duration",
		map[string]any{"max_duration_s": limit.Seconds()})
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

// handOn passes a request whose handler checkpointed in this invocation on to a new
// invocation: everything this invocation said goes out first (the next one's messages
// must come after), then Continue stores the latest progress and checkpoint and puts
// the request back to PENDING, a write the stream delivers to a new worker. No attempt
// is used and no terminal message is sent.
func (a *attempt) handOn() error {
	if err := a.c.Flush(a.final); err != nil {
		a.log.Info("executor: progress not delivered before the hand-on", slog.String("error", err.Error()))
	}
	a.stopPersisting()
	a.c.Close()
	last := a.c.Last()
	p := store.ProgressState{Percentage: last.Percentage, Message: last.Message, Metadata: last.Metadata, Checkpoint: a.lastCheckpoint()}
	stored, err := a.w.queue.Continue(a.final, a.id, a.owner, p)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		a.log.Warn("executor: lease lost before the hand-on; another worker owns the request")
		return nil
	case err != nil:
		return fmt.Errorf("executor: continue %s: %w", a.id, err)
	}
	a.log.Info("executor: deadline near; request continues in a new invocation", slog.Int("continuations", stored.Continuations))
	return nil
}

// saveCheckpoint keeps state as the request's latest checkpoint and asks the reporter
// for a persist soon, which stores it with the progress (Checkpointer.Checkpoint).
func (a *attempt) saveCheckpoint(state json.RawMessage) error {
	if err := streamer.CheckCheckpoint(state); err != nil {
		return err
	}
	a.cpMu.Lock()
	if a.cpClosed {
		a.cpMu.Unlock()
		return progress.ErrFinished
	}
	a.cp, a.cpInvoked = bytes.Clone(state), true
	a.cpGen++
	a.cpMu.Unlock()
	a.c.PersistSoon()
	return nil
}

// lastCheckpoint returns the latest checkpoint (Checkpointer.LastCheckpoint).
func (a *attempt) lastCheckpoint() json.RawMessage {
	a.cpMu.Lock()
	defer a.cpMu.Unlock()
	return bytes.Clone(a.cp)
}

// checkpointedHere reports whether the handler saved a checkpoint in this invocation:
// only then did the invocation get somewhere a new one can carry on from.
func (a *attempt) checkpointedHere() bool {
	a.cpMu.Lock()
	defer a.cpMu.Unlock()
	return a.cpInvoked
}

// unstoredCheckpoint returns the latest checkpoint and its generation when it has not
// been stored yet, else nil.
func (a *attempt) unstoredCheckpoint() (json.RawMessage, uint64) {
	a.cpMu.Lock()
	defer a.cpMu.Unlock()
	if a.cpGen == a.cpStored {
		return nil, a.cpGen
	}
	return a.cp, a.cpGen
}

// checkpointStored records that the checkpoint of generation gen is in the store.
func (a *attempt) checkpointStored(gen uint64) {
	a.cpMu.Lock()
	defer a.cpMu.Unlock()
	a.cpStored = max(a.cpStored, gen)
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
	cp, gen := a.unstoredCheckpoint()
	p := store.ProgressState{Percentage: u.Percentage, Message: u.Message, Metadata: u.Metadata, Checkpoint: cp}
	stored, err := a.w.queue.Checkpoint(ctx, a.id, a.owner, p, a.leaseUntil(now))
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		a.cancel(errLeaseLost)
		return fmt.Errorf("executor: checkpoint %s: %w", a.id, err)
	case err != nil:
		return fmt.Errorf("executor: checkpoint %s: %w", a.id, err)
	}
	a.persisted, a.persistedAt = u, time.Now()
	a.checkpointStored(gen)
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

// keepLease renews the lease whenever it is Lease/3 old (checked every Lease/12) while
// the handler runs, for handlers that report rarely or never, so that a live holder
// writes the request at least every 5/12 of a Lease and a duplicate delivery, which
// leaves a request written within Lease/2 alone, never waits for it (each renewal also
// notices a cancel request). It returns the function that stops it.
func (a *attempt) keepLease() (stop func()) {
	every := a.w.cfg.Lease / 3
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every / 4)
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

// stopPersisting waits for a checkpoint in flight and refuses later ones, and later
// saves of the handler's checkpoint: the outcome (or the hand-on) is about to be stored.
func (a *attempt) stopPersisting() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cpMu.Lock()
	a.cpClosed = true
	a.cpMu.Unlock()
}

// outcomeReporter is the Reporter a handler gets. Report goes to the Coalescer; Complete
// and Fail flush progress and record the outcome without sending it: the worker stores
// the outcome first and sends the terminal message after. It is also the handler's
// Checkpointer: checkpoints are kept by the attempt and stored with the progress.
type outcomeReporter struct {
	ctx       context.Context
	c         *progress.Coalescer
	a         *attempt // keeps the handler's checkpoints
	requestID string
	log       *slog.Logger

	mu     sync.Mutex
	done   bool
	result *streamer.Result
	failed error
}

var (
	_ streamer.Reporter     = (*outcomeReporter)(nil)
	_ streamer.Checkpointer = (*outcomeReporter)(nil)
)

// Checkpoint saves the handler's state to resume from in a new invocation.
func (r *outcomeReporter) Checkpoint(state json.RawMessage) error { return r.a.saveCheckpoint(state) }

// LastCheckpoint returns the latest saved state, nil when there is none.
func (r *outcomeReporter) LastCheckpoint() json.RawMessage { return r.a.lastCheckpoint() }

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
