// Package middleware holds the middleware Streamer ships: one log line per handler run
// (Logging) and one observation per run for a metrics Recorder (Metrics), with an
// in-memory Recorder for tests and the local stack. Package lambdas installs both around
// every action.
package middleware

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// OutcomeSuccess is the outcome of a run that returned no error; a failed run's outcome
// is its error code (see Outcome).
const OutcomeSuccess = "success"

// Outcome names the outcome of a run for logs and metrics: OutcomeSuccess, or the code
// the client sees (INTERNAL_ERROR for an error that is not a *Error).
func Outcome(res *streamer.Result, err error) string {
	if err == nil && res != nil && res.Error != nil {
		err = res.Error
	}
	if err == nil {
		return OutcomeSuccess
	}
	return streamer.AsError(err).Code
}

// Logging logs one line per run through logger: request_id, action,
// tenant_id, user_id, connection_id, duration_ms and outcome, plus the error text of a
// failed run (logs may hold what clients never see). Successes and client errors log
// at Info, TIMEOUT at Warn, INTERNAL_ERROR and SERVICE_UNAVAILABLE at Error.
func Logging(logger *slog.Logger) streamer.Middleware {
	return func(next streamer.ProcessFunc) streamer.ProcessFunc {
		return func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
			start := time.Now()
			res, err := next(ctx, req)
			outcome := Outcome(res, err)
			level := slog.LevelInfo
			switch outcome {
			case streamer.ErrCodeTimeout:
				level = slog.LevelWarn
			case streamer.ErrCodeInternalError, streamer.ErrCodeServiceUnavail:
				level = slog.LevelError
			}
			if !logger.Enabled(ctx, level) {
				return res, err
			}
			attrs := []slog.Attr{
				slog.String("request_id", req.ID),
				slog.String("action", req.Action),
				slog.String("tenant_id", req.TenantID),
				slog.String("user_id", req.UserID),
				slog.String("connection_id", req.ConnectionID),
				slog.Int64("duration_ms", time.Since(start).Milliseconds()),
				slog.String("outcome", outcome),
			}
			if err != nil {
				attrs = append(attrs, slog.String("error", err.Error()))
			}
			logger.LogAttrs(ctx, level, "request", attrs...)
			return res, err
		}
	}
}

// Recorder receives one observation per run. Implementations must be safe for
// concurrent use; the Lambda runtime records CloudWatch Embedded Metric Format lines.
type Recorder interface {
	// RecordRequest records a run of action with its outcome (see Outcome) and duration.
	RecordRequest(action, outcome string, d time.Duration)
}

// Metrics records every run on m.
func Metrics(m Recorder) streamer.Middleware {
	return func(next streamer.ProcessFunc) streamer.ProcessFunc {
		return func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
			start := time.Now()
			res, err := next(ctx, req)
			m.RecordRequest(req.Action, Outcome(res, err), time.Since(start))
			return res, err
		}
	}
}

// Stats aggregates the runs of one action with one outcome.
type Stats struct {
	Count int64         // number of runs
	Total time.Duration // sum of their durations
	Max   time.Duration // longest run
}

// MemoryMetrics is a Recorder that keeps counts in memory, for tests and the
// local stack. The zero value is ready to use.
type MemoryMetrics struct {
	mu    sync.Mutex
	stats map[metricKey]Stats
}

var _ Recorder = (*MemoryMetrics)(nil)

// metricKey identifies one series of MemoryMetrics.
type metricKey struct{ action, outcome string }

// RecordRequest implements Recorder.
func (m *MemoryMetrics) RecordRequest(action, outcome string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats == nil {
		m.stats = make(map[metricKey]Stats)
	}
	k := metricKey{action, outcome}
	s := m.stats[k]
	s.Count++
	s.Total += d
	s.Max = max(s.Max, d)
	m.stats[k] = s
}

// Stats returns what was recorded for action with outcome.
func (m *MemoryMetrics) Stats(action, outcome string) Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats[metricKey{action, outcome}]
}
