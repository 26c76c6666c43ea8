package executor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// RedriveQueue is the part of the request queue the re-driver uses: the unfinished
// index, bulk reads, and the Redrive transition. *store.Queue implements it.
type RedriveQueue interface {
	Unfinished(ctx context.Context, createdBefore time.Time) ([]string, error)
	LoadMany(ctx context.Context, ids []string) (map[string]*store.AsyncRequest, error)
	Redrive(ctx context.Context, requestID string, staleBefore time.Time, errJSON json.RawMessage) (*store.AsyncRequest, bool, error)
}

var _ RedriveQueue = (*store.Queue)(nil)

// RedriverConfig configures a Redriver. The zero value gives the documented defaults.
type RedriverConfig struct {
	// After is how long a request may stay PENDING without a write, or PROCESSING after
	// its lease ended, before Handle re-drives it. It must outlast a normal dispatch and
	// Lambda's retries of a failed worker invocation (about 3 minutes).
	// Default contract.DefaultRedriveAfter (15 minutes).
	After time.Duration
	// Logger receives what each sweep did. Default slog.Default().
	Logger *slog.Logger
	// Now is the sweep's clock. Default time.Now.
	Now func() time.Time
}

// RedriveReport is what one sweep did.
type RedriveReport struct {
	Unfinished int // requests in the unfinished index created before the bound
	Requeued   int // made PENDING again (an attempt used): the stream dispatches them
	Failed     int // out of attempts: FAILED, and their terminal message sent
}

// Redriver finds requests that nothing will deliver any more (their stream record was
// dead-lettered, every invocation of their worker failed) and hands them out again,
// bounded by their attempts: the recovery the deployed stack runs on a schedule and the
// local stack at start.
type Redriver struct {
	queue  RedriveQueue
	sender Sender
	cfg    RedriverConfig
	gaveUp json.RawMessage
}

// NewRedriver returns a Redriver over queue that sends the terminal message of a request
// it gives up on through sender.
func NewRedriver(queue RedriveQueue, sender Sender, cfg RedriverConfig) (*Redriver, error) {
	if cfg.After < 0 {
		return nil, fmt.Errorf("%w: negative After", ErrInvalidConfig)
	}
	if queue == nil || sender == nil {
		return nil, fmt.Errorf("%w: queue and sender are required", ErrInvalidConfig)
	}
	cfg.After = cmp.Or(cfg.After, contract.DefaultRedriveAfter)
	cfg.Logger = loggerOr(cfg.Logger)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	gaveUp, err := json.Marshal(givenUpError().WireError())
	if err != nil {
		return nil, fmt.Errorf("executor: redriver: %w", err)
	}
	return &Redriver{queue: queue, sender: sender, cfg: cfg, gaveUp: gaveUp}, nil
}

// givenUpError is the error of a request whose attempts all ended without an outcome.
func givenUpError() *streamer.Error {
	return streamer.NewError(streamer.ErrCodeTimeout, "the request was not finished: every attempt stopped without an outcome")
}

// Handle is the Lambda handler of the scheduled re-driver: one Sweep of the requests
// stale for After.
func (r *Redriver) Handle(ctx context.Context, _ events.EventBridgeEvent) (RedriveReport, error) {
	return r.Sweep(ctx, r.cfg.Now().Add(-r.cfg.After))
}

// redriveBatch is how many requests one LoadMany of a sweep reads.
const redriveBatch = 100

// Sweep re-drives every request that is PENDING without a write since staleBefore, or
// PROCESSING with a lease that ended before it. The local stack calls it at start with
// staleBefore = now: the process that ran everything is gone. Errors on single requests
// are logged and joined; the sweep goes on with the others.
func (r *Redriver) Sweep(ctx context.Context, staleBefore time.Time) (RedriveReport, error) {
	var rep RedriveReport
	ids, err := r.queue.Unfinished(ctx, staleBefore)
	if err != nil {
		return rep, fmt.Errorf("executor: redrive: %w", err)
	}
	rep.Unfinished = len(ids)
	stale := store.Condition{Now: r.cfg.Now(), Statuses: []store.RequestStatus{store.StatusPending, store.StatusProcessing}, StaleBefore: staleBefore}
	var errs []error
	for len(ids) > 0 {
		batch := ids[:min(len(ids), redriveBatch)]
		ids = ids[len(batch):]
		found, err := r.queue.LoadMany(ctx, batch)
		if err != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("executor: redrive: %w", err))...)
		}
		for _, id := range batch {
			if req, ok := found[id]; !ok || stale.Check(req) != nil {
				continue // finished, alive, or gone since the index was read
			}
			if err := r.redrive(ctx, id, staleBefore, &rep); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "executor: redrive sweep",
		slog.Int("unfinished", rep.Unfinished), slog.Int("requeued", rep.Requeued), slog.Int("failed", rep.Failed))
	return rep, errors.Join(errs...)
}

// redrive applies Redrive to one stale request and, when it gave up on it, sends its
// terminal message.
func (r *Redriver) redrive(ctx context.Context, id string, staleBefore time.Time, rep *RedriveReport) error {
	log := r.cfg.Logger.With(slog.String("request_id", id))
	req, failed, err := r.queue.Redrive(ctx, id, staleBefore, r.gaveUp)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return nil // it moved on meanwhile
	case err != nil:
		log.Warn("executor: redrive failed", slog.String("error", err.Error()))
		return fmt.Errorf("executor: redrive %s: %w", id, err)
	case !failed:
		rep.Requeued++
		log.Info("executor: request re-driven", slog.Int("attempt", req.Attempt))
		return nil
	}
	rep.Failed++
	log.Warn("executor: request given up after its last attempt", slog.Int("attempts", req.Attempt))
	wire := givenUpError().WireError()
	wire.Retry.Attempt, wire.Retry.MaxTries = req.Attempt, req.MaxAttempts
	msg := &protocol.ErrorMessage{Type: protocol.TypeError, RequestID: req.ClientID, Error: wire}
	if err := r.sender.Send(ctx, req.ConnectionID, msg); err != nil && !errors.Is(err, connection.ErrGone) {
		// The outcome is stored: a client that resumes (streamer.status) gets it.
		log.Info("executor: terminal message of a given-up request not delivered", slog.String("error", err.Error()))
	}
	return nil
}
