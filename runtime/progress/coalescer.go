package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

var _ Reporter = (*Coalescer)(nil)

// Coalescer is the Reporter of one request. It rate-limits progress pushes, keeps only
// the latest pending state (memory does not grow with the number of reports), sends one
// message at a time in order, and ends with exactly one terminal message. It is safe for
// concurrent use by many goroutines.
type Coalescer struct {
	ctx       context.Context // bounds every send and persist not given its own context
	requestID string
	sender    Sender
	opts      Options
	start     time.Time

	// sendMu is held for every send, so sends never overlap and a terminal message
	// cannot be overtaken by a progress push that took its snapshot earlier.
	sendMu sync.Mutex
	// wg counts work that Close and Finish wait for: armed or running timer callbacks,
	// progress pushes on callers' goroutines and Flush calls.
	wg sync.WaitGroup

	mu           sync.Mutex
	connID       string
	last         ProgressUpdate
	seq          uint64      // number of accepted reports; last is report number seq
	sentSeq      uint64      // seq of the last update pushed successfully
	nextPush     time.Time   // earliest start of the next progress push
	pushing      bool        // a progress push is claimed or in flight
	pushTimer    *time.Timer // the trailing push; non-nil while armed
	nextPersist  time.Time   // earliest start of the next Persist call
	persistGen   uint64      // bumped by every report and PersistSoon: what Persist must store
	persisting   bool        // a Persist call is in flight
	persistTimer *time.Timer // the next Persist call; non-nil while armed
	done         bool        // a terminal call or Close happened; nothing new starts
}

// NewReporter returns a Coalescer with the default Options whose sends are bounded by
// context.Background.
func NewReporter(requestID, connectionID string, sender Sender) *Coalescer {
	return New(context.Background(), requestID, connectionID, sender, Options{})
}

// New returns a Coalescer for requestID that pushes to connectionID through sender. ctx
// bounds every push, persist and the terminal message of Complete and Fail; pass a
// context that outlives a cancelled handler if a CANCELLED error must still be sent.
// The request's duration is measured from this call.
func New(ctx context.Context, requestID, connectionID string, sender Sender, opts Options) *Coalescer {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Interval <= 0 {
		opts.Interval = contract.ProgressInterval
	}
	if opts.PersistInterval <= 0 {
		opts.PersistInterval = contract.PersistInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Coalescer{
		ctx:       ctx,
		requestID: requestID,
		sender:    sender,
		opts:      opts,
		start:     time.Now(),
		connID:    connectionID,
		last:      ProgressUpdate{RequestID: requestID},
	}
}

// Report records a progress state and pushes it now if the window allows, otherwise when
// the window closes (only the latest state is kept). The percentage is clamped to 0-100
// and a value lower than the current one keeps the current one, while message and
// metadata (details merged, later maps winning) still replace the previous ones. It
// returns ErrInvalidPercentage for NaN and ErrFinished after a terminal call or Close;
// a failed push is logged, not returned, and the next push retries with the newest state.
func (c *Coalescer) Report(percentage float64, message string, details ...map[string]any) error {
	if math.IsNaN(percentage) {
		return ErrInvalidPercentage
	}
	metadata := mergeDetails(details)
	now := time.Now()

	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return ErrFinished
	}
	c.last = ProgressUpdate{
		RequestID:  c.requestID,
		Percentage: max(c.last.Percentage, min(max(percentage, 0), 100)),
		Message:    message,
		Metadata:   metadata,
		Timestamp:  now.UTC(),
	}
	c.seq++
	c.persistGen++
	c.schedulePersist(now)
	pushNow := false
	switch {
	case c.pushing || c.pushTimer != nil:
		// The push in flight or the armed timer delivers this state.
	case now.Before(c.nextPush):
		c.pushTimer = c.arm(c.nextPush.Sub(now), c.onPushTimer)
	default:
		c.pushing = true
		c.wg.Add(1)
		pushNow = true
	}
	c.mu.Unlock()

	if pushNow {
		defer c.wg.Done()
		c.push()
	}
	return nil
}

// Flush pushes the pending progress state now, whatever the window, and returns the
// send's error. It returns ErrFinished after a terminal call or Close.
func (c *Coalescer) Flush(ctx context.Context) error {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return ErrFinished
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()

	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if _, err := c.sendPending(ctx, false); err != nil {
		return fmt.Errorf("progress: flush: %w", err)
	}
	return nil
}

// Complete flushes pending progress and sends the result message (success, data = the
// JSON of result, duration since New). It returns the Result the handler returns. A
// failed send is returned with the Result, so the caller can still store the outcome;
// it is not retried. A result that cannot be encoded is answered with an INTERNAL_ERROR
// error message instead, so the client still gets its terminal message.
func (c *Coalescer) Complete(result map[string]any) (*streamer.Result, error) {
	data, err := json.Marshal(result)
	if err != nil {
		encErr := fmt.Errorf("progress: encode result: %w", err)
		failed := streamer.NewError(streamer.ErrCodeInternalError, "the result could not be encoded")
		return nil, errors.Join(encErr, c.Finish(c.ctx, protocol.NewErrorMessage(c.requestID, failed)))
	}
	duration := time.Since(c.start)
	msg := &protocol.ResultMessage{
		Type:       protocol.TypeResult,
		RequestID:  c.requestID,
		Action:     c.opts.Action,
		Success:    true,
		Data:       data,
		DurationMS: duration.Milliseconds(),
	}
	if err := c.Finish(c.ctx, msg); err != nil {
		if errors.Is(err, ErrFinished) {
			return nil, err
		}
		return c.result(result, duration), err
	}
	return c.result(result, duration), nil
}

func (c *Coalescer) result(data map[string]any, d time.Duration) *streamer.Result {
	return &streamer.Result{RequestID: c.requestID, Success: true, Data: data, Duration: d}
}

// Fail flushes pending progress and sends the error message for err, converted with
// streamer.AsError (a nil err becomes INTERNAL_ERROR). A failed send is returned.
func (c *Coalescer) Fail(err error) error {
	wire := streamer.AsError(err)
	if wire == nil {
		wire = streamer.NewError(streamer.ErrCodeInternalError, "internal error")
	}
	return c.Finish(c.ctx, protocol.NewErrorMessage(c.requestID, wire))
}

// Finish flushes pending progress, then sends terminal (any message the Sender accepts)
// exactly once, both bounded by ctx. It first waits for work in flight (a push, a
// Persist call), so no progress message follows the terminal one and no persist runs
// after Finish returns. A failed progress flush is logged; a failed terminal send is
// returned and not retried. Every later Report, Flush, Complete, Fail or Finish returns
// ErrFinished. It must not be called from Persist or from the Sender.
func (c *Coalescer) Finish(ctx context.Context, terminal any) error {
	if !c.stop() {
		return ErrFinished
	}
	c.wg.Wait()

	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if _, err := c.sendPending(ctx, true); err != nil {
		c.logError(ctx, "progress: flush before terminal failed", err)
	}
	c.mu.Lock()
	conn := c.connID
	c.mu.Unlock()
	if err := c.send(ctx, conn, terminal); err != nil {
		return fmt.Errorf("progress: send terminal: %w", err)
	}
	return nil
}

// Close stops the timers and waits for work in flight, without sending a terminal
// message: for a worker that releases a request another attempt will finish. Later calls
// return ErrFinished. Close after a terminal call, or twice, is harmless.
func (c *Coalescer) Close() {
	c.stop()
	c.wg.Wait()
}

// SetConnectionID sends later pushes and the terminal message to id, for a client that
// resumed the request on a new connection.
func (c *Coalescer) SetConnectionID(id string) {
	c.mu.Lock()
	c.connID = id
	c.mu.Unlock()
}

// Last returns the latest reported state (the zero state with the request ID before the
// first report).
func (c *Coalescer) Last() ProgressUpdate {
	c.mu.Lock()
	u := c.last
	c.mu.Unlock()
	u.Metadata = maps.Clone(u.Metadata)
	return u
}

// stop marks the Coalescer done and stops its timers; it reports false if it already was.
func (c *Coalescer) stop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return false
	}
	c.done = true
	c.disarm(&c.pushTimer)
	c.disarm(&c.persistTimer)
	return true
}

// arm runs f after d on its own goroutine, counted in wg. c.mu must be held and c.done
// false, so that no Add races with a Wait.
func (c *Coalescer) arm(d time.Duration, f func()) *time.Timer {
	c.wg.Add(1)
	return time.AfterFunc(d, func() {
		defer c.wg.Done()
		f()
	})
}

// disarm stops *t if it has not fired yet. c.mu must be held.
func (c *Coalescer) disarm(t **time.Timer) {
	if *t != nil && (*t).Stop() {
		c.wg.Done()
	}
	*t = nil
}

// onPushTimer is the trailing push at the end of a window.
func (c *Coalescer) onPushTimer() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.pushTimer = nil
	c.pushing = true
	c.mu.Unlock()
	c.push()
}

// push sends the pending state and, if a newer one arrived meanwhile, arms the trailing
// push for it. The caller has set c.pushing.
func (c *Coalescer) push() {
	c.sendMu.Lock()
	covered, err := c.sendPending(c.ctx, false)
	c.sendMu.Unlock()
	if err != nil {
		c.logError(c.ctx, "progress: push failed", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.pushing = false
	if !c.done && c.seq > covered {
		c.pushTimer = c.arm(time.Until(c.nextPush), c.onPushTimer)
	}
}

// sendPending pushes the latest state if it has not been pushed yet, and returns the
// report number it covered. Once done, only the terminal path may push. c.sendMu must be
// held.
func (c *Coalescer) sendPending(ctx context.Context, terminal bool) (uint64, error) {
	c.mu.Lock()
	seq := c.seq
	if seq == c.sentSeq || (c.done && !terminal) {
		c.mu.Unlock()
		return seq, nil
	}
	u, conn := c.last, c.connID
	c.nextPush = time.Now().Add(c.opts.Interval)
	c.mu.Unlock()

	msg := &protocol.ProgressMessage{
		Type:       protocol.TypeProgress,
		RequestID:  u.RequestID,
		Percentage: u.Percentage,
		Message:    u.Message,
		Metadata:   u.Metadata,
		Timestamp:  u.Timestamp,
	}
	if err := c.send(ctx, conn, msg); err != nil {
		return seq, err
	}
	c.mu.Lock()
	c.sentSeq = seq
	c.mu.Unlock()
	return seq, nil
}

// PersistSoon asks for a call of the Persist hook within the persist window (at once
// when the window is open) although no report changed the progress: the hook may store
// more than the progress, as the worker stores a handler's checkpoint with it. It does
// nothing without a Persist hook, or after a terminal call or Close.
func (c *Coalescer) PersistSoon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.persistGen++
	c.schedulePersist(time.Now())
}

// schedulePersist arms the persist timer unless a call is armed or running (that call
// re-arms when it sees a newer state). c.mu must be held.
func (c *Coalescer) schedulePersist(now time.Time) {
	if c.opts.Persist == nil || c.persisting || c.persistTimer != nil {
		return
	}
	c.persistTimer = c.arm(c.nextPersist.Sub(now), c.runPersist)
}

// runPersist calls the Persist hook with the latest state. It only runs armed by a
// report, a PersistSoon or a previous call that saw a newer one, so there is always
// something new to store; a failed write is not retried until the next of those.
func (c *Coalescer) runPersist() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.persistTimer = nil
	gen, u := c.persistGen, c.last
	c.persisting = true
	c.nextPersist = time.Now().Add(c.opts.PersistInterval)
	c.mu.Unlock()

	err := c.opts.Persist(c.ctx, u)
	if err != nil {
		c.logError(c.ctx, "progress: persist failed", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.persisting = false
	if !c.done && c.persistGen > gen {
		c.persistTimer = c.arm(time.Until(c.nextPersist), c.runPersist)
	}
}

func (c *Coalescer) send(ctx context.Context, connectionID string, msg any) error {
	if c.sender == nil {
		return ErrNoSender
	}
	return c.sender.Send(ctx, connectionID, msg)
}

func (c *Coalescer) logError(ctx context.Context, msg string, err error) {
	c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("request_id", c.requestID), slog.String("error", err.Error()))
}

// mergeDetails copies the details into one map, so that a caller changing its map after
// Report cannot race with a push; later maps win on equal keys.
func mergeDetails(details []map[string]any) map[string]any {
	switch len(details) {
	case 0:
		return nil
	case 1:
		return maps.Clone(details[0])
	}
	var merged map[string]any
	for _, d := range details {
		if len(d) == 0 {
			continue
		}
		if merged == nil {
			merged = make(map[string]any, len(d))
		}
		maps.Copy(merged, d)
	}
	return merged
}
