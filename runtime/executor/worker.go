package executor

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Queue is the part of the request queue the worker uses: a read and the lease-checked
// transitions. *store.Queue (dynamostore, memstore) implements it.
type Queue interface {
	Get(ctx context.Context, requestID string) (*store.AsyncRequest, error)
	Claim(ctx context.Context, requestID, owner string, now, leaseUntil time.Time) (*store.AsyncRequest, error)
	Checkpoint(ctx context.Context, requestID, owner string, p store.ProgressState, leaseUntil time.Time) (*store.AsyncRequest, error)
	Finish(ctx context.Context, requestID, owner string, status store.RequestStatus, p store.ProgressState, result, errJSON json.RawMessage) (*store.AsyncRequest, error)
	Release(ctx context.Context, requestID, owner string, errJSON json.RawMessage) (*store.AsyncRequest, error)
	Continue(ctx context.Context, requestID, owner string, p store.ProgressState) (*store.AsyncRequest, error)
}

// Registry finds the handler of an action and runs it through the middleware, so async
// runs see the same middleware as synchronous ones. *streamer.Registry implements it.
type Registry interface {
	Lookup(action string) (streamer.Handler, bool)
	Run(ctx context.Context, req *streamer.Request, reporter streamer.Reporter) (*streamer.Result, error)
}

// Sender pushes one message to one connection; connection.ConnectionManager implements
// it.
type Sender = progress.Sender

var (
	_ Queue    = (*store.Queue)(nil)
	_ Registry = (*streamer.Registry)(nil)
)

// ErrInvalidEvent is returned by Worker.Handle for an event without a request id.
var ErrInvalidEvent = errors.New("executor: worker event without request_id")

// leaseSlack is added to a foreign lease before trying to take it over, so that the
// claim's "lease expired" check cannot lose to clock granularity.
const leaseSlack = 50 * time.Millisecond

// Worker runs queued requests: one Handle call per WorkerEvent. It is safe for
// concurrent use; every Handle call is a separate invocation with its own lease owner.
type Worker struct {
	queue    Queue
	registry Registry
	sender   Sender
	cfg      Config
}

// NewWorker returns a Worker that takes requests from queue, finds their handlers in
// registry and sends progress and terminal messages through sender.
func NewWorker(queue Queue, registry Registry, sender Sender, cfg Config) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if queue == nil || registry == nil || sender == nil {
		return nil, fmt.Errorf("%w: queue, registry and sender are required", ErrInvalidConfig)
	}
	return &Worker{queue: queue, registry: registry, sender: sender, cfg: cfg}, nil
}

// Handle is one worker invocation for ev.RequestID: claim the request, run its handler,
// store the outcome, then send the terminal message (or hand the request back for a
// retry). It returns nil when the request was handled or needs nothing from this
// invocation (already finished, held by a live worker, expired), and an error when the
// store could not be reached, so that the invocation is retried (Lambda retries failed
// asynchronous invocations).
func (w *Worker) Handle(ctx context.Context, ev WorkerEvent) error {
	if ev.RequestID == "" {
		return ErrInvalidEvent
	}
	in := w.newInvocation(ctx, ev.RequestID)
	req, err := in.claim()
	if err != nil || req == nil {
		return err
	}
	return in.newAttempt(req).run()
}

// invocation is one Handle call: its time budget and lease owner.
type invocation struct {
	w       *Worker
	ctx     context.Context
	id      string
	owner   string
	log     *slog.Logger
	bounded bool      // ctx has a deadline
	end     time.Time // ctx's deadline
	stopAt  time.Time // end minus the safety margin: the handler is stopped here
}

func (w *Worker) newInvocation(ctx context.Context, requestID string) *invocation {
	owner := "worker-" + rand.Text()
	in := &invocation{
		w:     w,
		ctx:   ctx,
		id:    requestID,
		owner: owner,
		log:   w.cfg.Logger.With(slog.String("request_id", requestID), slog.String("owner", owner)),
	}
	in.end, in.bounded = ctx.Deadline()
	if in.bounded {
		left := time.Until(in.end)
		in.stopAt = in.end.Add(-margin(w.cfg.SafetyMargin, left))
	}
	return in
}

// minMargin is the least time a short invocation keeps for handing its request on: a
// few store writes and sends, which a tenth of a one-second invocation does not always
// cover on a loaded machine.
const minMargin = 250 * time.Millisecond

// margin is how long before its deadline an invocation with left to run stops its
// handler: a tenth of left, at least minMargin (but at most a quarter of left), at most
// safety.
func margin(safety, left time.Duration) time.Duration {
	return min(safety, max(left/10, min(minMargin, left/4)))
}

// leaseUntil is the end of a lease taken or renewed at now: Lease later, but never past
// the invocation's deadline (after it the invocation is gone).
func (in *invocation) leaseUntil(now time.Time) time.Time {
	lease := in.w.cfg.Lease
	if in.bounded {
		lease = min(lease, in.end.Sub(now))
	}
	return now.Add(lease)
}

// claim takes the request for this invocation. It returns nil, nil when there is nothing
// to do. A request held by a worker that wrote it within the last Lease/2 is left to it:
// a live holder writes at least that often, so this is a duplicate delivery (such as the
// stream's record of a request the router dispatched directly, or of one handed on). A
// holder silent for longer is probably dead (this may be the retry of its crashed
// invocation), and its lease is waited for once, when it ends within one Lease and
// before this invocation's stop time: if the holder renews it after all, the claim
// fails; if it died, its lease expires and this invocation takes the request over.
func (in *invocation) claim() (*store.AsyncRequest, error) {
	if in.bounded && time.Now().After(in.stopAt) {
		return nil, fmt.Errorf("executor: %s: no time left to run the request", in.id)
	}
	cur, err := in.w.queue.Get(in.ctx, in.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		in.log.Warn("executor: request not found (expired or deleted)")
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("executor: get %s: %w", in.id, err)
	case cur.Status.Terminal():
		in.log.Debug("executor: request already finished", slog.String("status", string(cur.Status)))
		return nil, nil
	}
	now := in.w.cfg.Now()
	if cur.Status == store.StatusProcessing && cur.LeaseUntil.After(now) {
		wait := cur.LeaseUntil.Sub(now) + leaseSlack
		if now.Sub(cur.UpdatedAt) < in.w.cfg.Lease/2 || wait > in.w.cfg.Lease+leaseSlack || (in.bounded && time.Now().Add(wait).After(in.stopAt)) {
			in.log.Debug("executor: request held by another worker", slog.String("holder", cur.LeaseOwner))
			return nil, nil
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-in.ctx.Done():
			return nil, fmt.Errorf("executor: waiting for the lease of %s: %w", in.id, context.Cause(in.ctx))
		case <-t.C:
		}
		now = in.w.cfg.Now()
	}
	req, err := in.w.queue.Claim(in.ctx, in.id, in.owner, now, in.leaseUntil(now))
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		in.log.Debug("executor: request not claimable", slog.String("error", err.Error()))
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("executor: claim %s: %w", in.id, err)
	}
	return req, nil
}
