package connection

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/streamer-go/streamer/runtime/internal/apigw"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// Options tunes a Manager. Every zero field takes its default.
type Options struct {
	// MaxRetries is how many times a throttled (429) or failed (5xx, network) call is
	// retried after the first try. Default 5; negative disables retries.
	MaxRetries int
	// BaseDelay is the backoff before the first retry; it doubles on every retry, and
	// each wait is drawn at random from its upper half (jitter). Default 50 ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait. Default 2 s.
	MaxDelay time.Duration
	// Concurrency bounds the connections Broadcast sends to at once. Default 10.
	Concurrency int
	// MaxMessageBytes is the message limit: larger result messages are split, anything
	// else larger is refused with ErrPayloadTooLarge. Default protocol.MaxMessageBytes
	// (128 KiB, API Gateway's hard limit).
	MaxMessageBytes int
}

// Defaults of Options.
const (
	DefaultMaxRetries  = 5
	DefaultBaseDelay   = 50 * time.Millisecond
	DefaultMaxDelay    = 2 * time.Second
	DefaultConcurrency = 10
)

func (o Options) withDefaults() Options {
	o.MaxRetries = max(cmp.Or(o.MaxRetries, DefaultMaxRetries), 0)
	o.BaseDelay = cmp.Or(o.BaseDelay, DefaultBaseDelay)
	o.MaxDelay = max(cmp.Or(o.MaxDelay, DefaultMaxDelay), o.BaseDelay)
	o.Concurrency = max(cmp.Or(o.Concurrency, DefaultConcurrency), 1)
	o.MaxMessageBytes = cmp.Or(o.MaxMessageBytes, protocol.MaxMessageBytes)
	return o
}

// Manager is the ConnectionManager over the API Gateway Management API. It is safe for
// concurrent use.
type Manager struct {
	conns   Deleter
	api     API
	opts    Options
	metrics metrics
}

// NewManager returns a Manager that posts through api and deletes the records of gone
// connections from conns (nil: there are no records to delete).
func NewManager(conns Deleter, api API, opts Options) *Manager {
	return &Manager{conns: conns, api: api, opts: opts.withDefaults()}
}

// Send delivers message to one connection: JSON-encoded, or as it is for []byte and
// json.RawMessage. A result message over the limit (a protocol.ResultMessage, or JSON of
// type result) goes as ordered parts made by protocol.SplitResult; any other message over
// the limit is refused with ErrPayloadTooLarge. A gone connection's record
// is deleted and ErrGone returned; throttling and server errors are retried within ctx.
func (m *Manager) Send(ctx context.Context, connectionID string, message any) error {
	frames, err := m.encode(message)
	if err != nil {
		m.metrics.failed.Add(1)
		return err
	}
	return m.deliver(ctx, connectionID, frames)
}

// Broadcast sends message to every connection, at most Options.Concurrency at once, and
// returns the failures joined (errors.Is finds ErrGone and the others in it). The message
// is encoded once.
func (m *Manager) Broadcast(ctx context.Context, connectionIDs []string, message any) error {
	frames, err := m.encode(message)
	if err != nil {
		m.metrics.failed.Add(uint64(len(connectionIDs)))
		return err
	}
	errs := make([]error, len(connectionIDs))
	sem := make(chan struct{}, m.opts.Concurrency)
	var wg sync.WaitGroup
	for i, id := range connectionIDs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			m.metrics.failed.Add(1)
			errs[i] = fmt.Errorf("connection: %s: %w", id, ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = m.deliver(ctx, id, frames)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// IsActive asks API Gateway whether the connection exists. Only a definite answer, gone
// (410), gives false: when the question cannot be answered (throttled after retries,
// IAM, network) it returns true, and the next Send settles it without losing a message.
func (m *Manager) IsActive(ctx context.Context, connectionID string) bool {
	err := m.call(ctx, connectionID, func(ctx context.Context) error {
		_, err := m.api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: &connectionID})
		return err
	})
	return !errors.Is(err, ErrGone)
}

// Stats returns the Manager's counters and the latency of its @connections calls. It
// reads atomics only, so it is cheap enough to call per request; the counters are read
// without stopping writers, so they may be a few calls out of step with each other.
func (m *Manager) Stats() Stats { return m.metrics.snapshot() }

// GetMetrics returns Stats as a map, for code written against ConnectionManager. The
// keys:
//
//	sent               uint64     Stats.Sent
//	posts              uint64     Stats.Posts
//	bytes              uint64     Stats.Bytes
//	split              uint64     Stats.Split
//	failed             uint64     Stats.Failed
//	gone               uint64     Stats.Gone
//	throttled          uint64     Stats.Throttled
//	retries            uint64     Stats.Retries
//	calls              uint64     Latency.Calls: @connections calls made, retries included
//	latency_bounds_ms  []float64  Latency.BoundsMS
//	latency_counts     []uint64   Latency.Counts
//	latency_sum_ms     float64    Latency.SumMS
//	latency_max_ms     float64    Latency.MaxMS
//	latency_p50_ms     float64    Latency.Quantile(0.50)
//	latency_p99_ms     float64    Latency.Quantile(0.99)
func (m *Manager) GetMetrics() map[string]any { return m.Stats().asMap() }

// encode turns message into the frames to post: one, or the parts of a split result.
func (m *Manager) encode(message any) ([][]byte, error) {
	data, err := apigw.Encode(message)
	if err != nil {
		return nil, err
	}
	if len(data) <= m.opts.MaxMessageBytes {
		return [][]byte{data}, nil
	}
	result := asResult(message, data)
	if result == nil {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrPayloadTooLarge, len(data), m.opts.MaxMessageBytes)
	}
	parts, err := protocol.SplitResult(result, m.opts.MaxMessageBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %d bytes cannot be split: %w", ErrPayloadTooLarge, len(data), err)
	}
	m.metrics.split.Add(1)
	return parts, nil
}

// asResult returns message as a result message that can be split, or nil: a
// protocol.ResultMessage (or pointer), or JSON (data) of type result that is not a part.
func asResult(message any, data []byte) *protocol.ResultMessage {
	switch v := message.(type) {
	case *protocol.ResultMessage:
		return v
	case protocol.ResultMessage:
		return &v
	case []byte, json.RawMessage:
		var r protocol.ResultMessage
		if json.Unmarshal(data, &r) == nil && r.Type == protocol.TypeResult && r.Part == nil {
			return &r
		}
	}
	return nil
}

// deliver posts frames in order to one connection and keeps the counts.
func (m *Manager) deliver(ctx context.Context, connectionID string, frames [][]byte) error {
	for _, frame := range frames {
		err := m.call(ctx, connectionID, func(ctx context.Context) error {
			_, err := m.api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &connectionID, Data: frame})
			return err
		})
		if errors.Is(err, ErrGone) && m.conns != nil {
			if derr := m.conns.Delete(ctx, connectionID); derr != nil {
				err = errors.Join(err, fmt.Errorf("connection: delete record of %s: %w", connectionID, derr))
			}
		}
		if err != nil {
			m.metrics.failed.Add(1)
			return err
		}
		m.metrics.posts.Add(1)
		m.metrics.bytes.Add(uint64(len(frame)))
	}
	m.metrics.sent.Add(1)
	return nil
}

// errClass sorts the errors of @connections calls by what the Manager does about them.
type errClass int

const (
	classOther     errClass = iota // not retried, returned wrapped
	classGone                      // 410 GoneException
	classTooLarge                  // 413 PayloadTooLargeException
	classForbidden                 // 403 ForbiddenException
	classThrottled                 // 429 LimitExceededException: retried
	classServer                    // 5xx or no response: retried
)

func classify(err error) errClass {
	var (
		gone      *types.GoneException
		tooLarge  *types.PayloadTooLargeException
		forbidden *types.ForbiddenException
		limit     *types.LimitExceededException
		sendErr   *smithyhttp.RequestSendError
		status    interface{ HTTPStatusCode() int }
	)
	switch {
	case errors.As(err, &gone):
		return classGone
	case errors.As(err, &tooLarge):
		return classTooLarge
	case errors.As(err, &forbidden):
		return classForbidden
	case errors.As(err, &limit):
		return classThrottled
	case errors.As(err, &sendErr):
		return classServer
	case errors.As(err, &status):
		switch code := status.HTTPStatusCode(); {
		case code == 410:
			return classGone
		case code == 413:
			return classTooLarge
		case code == 403:
			return classForbidden
		case code == 429:
			return classThrottled
		case code >= 500:
			return classServer
		}
	}
	return classOther
}

// call runs op, retrying throttling and server errors with jittered exponential backoff
// until it succeeds, fails for good, runs out of retries or ctx ends. The error it
// returns wraps one of the package's sentinels or the cause; SDK error types are
// converted here and reach the caller only as text.
func (m *Manager) call(ctx context.Context, connectionID string, op func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := op(ctx)
		m.metrics.observe(time.Since(start))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connection: %s: %w", connectionID, ctx.Err())
		}
		var final error
		switch classify(err) {
		case classGone:
			m.metrics.gone.Add(1)
			return fmt.Errorf("%w: %s", ErrGone, connectionID)
		case classTooLarge:
			return fmt.Errorf("%w: %s: %v", ErrPayloadTooLarge, connectionID, err)
		case classForbidden:
			return fmt.Errorf("%w: %s: %v", ErrForbidden, connectionID, err)
		case classThrottled:
			m.metrics.throttled.Add(1)
			final = ErrThrottled
		case classServer:
			final = ErrUnavailable
		default:
			return fmt.Errorf("connection: %s: %w", connectionID, err)
		}
		if attempt >= m.opts.MaxRetries {
			return fmt.Errorf("%w: %s: gave up after %d attempts: %v", final, connectionID, attempt+1, err)
		}
		if werr := m.backoff(ctx, attempt); werr != nil {
			return fmt.Errorf("connection: %s: %w while retrying (%v)", connectionID, werr, err)
		}
		m.metrics.retries.Add(1)
	}
}

// backoff waits before retry number attempt+1: a random time in the upper half of
// min(MaxDelay, BaseDelay*2^attempt), or until ctx ends.
func (m *Manager) backoff(ctx context.Context, attempt int) error {
	d := m.opts.MaxDelay
	if attempt < 30 {
		d = min(d, m.opts.BaseDelay<<attempt)
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
