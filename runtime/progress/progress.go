// Package progress reports the progress of a long-running request to its client.
//
// A Coalescer pushes progress messages through a Sender (the connection manager) at most
// once per interval (200 ms by default): the first report goes out at once, later reports
// inside the window replace the pending state, and a trailing push delivers the latest
// state when the window closes, so the client always ends up with the newest value while
// a chatty handler costs at most five pushes a second. Percentages are clamped to 0-100
// and never go down. Complete and Fail flush pending progress and then send the request's
// one terminal message; nothing is sent after it. An optional hook persists the latest
// state at most once a second, off the handler's goroutine.
package progress

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// Reporter is the interface handlers report progress through: streamer.Reporter, also
// known as progress.Reporter to handlers that take it from this package.
type Reporter = streamer.Reporter

// ProgressUpdate is one progress state of a request: the latest one is what is pushed,
// persisted and returned by Last.
type ProgressUpdate struct {
	RequestID  string         `json:"request_id"`
	Percentage float64        `json:"percentage"` // 0-100, never decreasing
	Message    string         `json:"message"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Timestamp  time.Time      `json:"timestamp"` // UTC time of the report
}

// Sender delivers one message to one WebSocket connection; connection.ConnectionManager
// satisfies it.
type Sender interface {
	Send(ctx context.Context, connectionID string, message any) error
}

// Options configures a Coalescer. The zero value gives the documented defaults.
type Options struct {
	// Interval is the minimum time between two progress pushes.
	// Default (zero or negative): contract.ProgressInterval, 200 ms.
	Interval time.Duration
	// PersistInterval is the minimum time between the starts of two Persist calls.
	// Default (zero or negative): contract.PersistInterval, 1 s.
	PersistInterval time.Duration
	// Persist, if set, stores the latest update (for streamer.status and resumed
	// clients). It runs on its own goroutine, never concurrently with itself, and must
	// not modify u.Metadata; an error is logged. Default: nil, nothing is persisted.
	Persist func(ctx context.Context, u ProgressUpdate) error
	// Action is the request's action, copied into the result message.
	// Default: empty, and the result message carries no action.
	Action string
	// Logger receives failed progress pushes and persists. Default: slog.Default().
	Logger *slog.Logger
}

// Errors returned by a Coalescer.
var (
	// ErrFinished is returned by calls made after the terminal message was sent (or the
	// Coalescer was closed).
	ErrFinished = errors.New("progress: reporter finished")
	// ErrInvalidPercentage is returned by Report for a NaN percentage.
	ErrInvalidPercentage = errors.New("progress: percentage is NaN")
	// ErrNoSender is returned when a Coalescer built without a Sender has to send.
	ErrNoSender = errors.New("progress: no sender")
)
