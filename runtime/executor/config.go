package executor

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Default values of Config and ProcessorConfig.
const (
	// DefaultLease is how long a claim holds a request between renewals.
	DefaultLease = time.Minute
	// DefaultSafetyMargin is how long before its deadline a worker hands the request back.
	DefaultSafetyMargin = 10 * time.Second
	// DefaultConcurrency is how many worker invocations the processor starts at once.
	DefaultConcurrency = 10
	// MinLease is the shortest Lease accepted: renewals are checked every Lease/12.
	MinLease = 100 * time.Millisecond
)

// ErrInvalidConfig is wrapped by the errors of NewWorker and NewProcessor for a bad
// configuration.
var ErrInvalidConfig = errors.New("executor: invalid config")

// Config configures a Worker. The zero value gives the documented defaults.
type Config struct {
	// Lease is how long a claim holds a request before another worker may take it over.
	// The worker renews the lease on every progress persist and whenever it is Lease/3
	// old, never past its own deadline, so a worker that dies keeps its request for at
	// most Lease. At least MinLease. Default DefaultLease (1 minute).
	Lease time.Duration
	// SafetyMargin is how long before the invocation's deadline the worker cancels the
	// handler and hands the request back (PENDING, attempt+1) so that another invocation
	// picks it up. It never exceeds a tenth of the time left when the worker starts, or
	// 250 ms when that is more (but at most a quarter of the time left).
	// Default DefaultSafetyMargin (10 s).
	SafetyMargin time.Duration
	// ProgressInterval is the minimum time between two progress pushes.
	// Default contract.ProgressInterval (200 ms).
	ProgressInterval time.Duration
	// PersistInterval is the minimum time between two progress writes (each also renews
	// the lease, stores the handler's latest checkpoint, and notices cancellation and a
	// resumed client). Default contract.PersistInterval (1 s).
	PersistInterval time.Duration
	// MaxDuration is how long a request may take in total, from its enqueue across every
	// invocation that continues it, for actions that set no limit of their own
	// (TypedHandler.WithMaxDuration, or a MaxDuration method on the handler). The worker
	// does not start a request past it and stops one that reaches it, failing it with
	// TIMEOUT. Default contract.DefaultMaxDuration (4 hours).
	MaxDuration time.Duration
	// Middleware runs outside the registry's own middleware around every run (package
	// lambdas puts its logging and metrics here). Default none.
	Middleware []streamer.Middleware
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the timestamps written to the store (claim time, lease ends).
	// It must follow real time: timers use the runtime's clock. Default time.Now.
	Now func() time.Time
}

// withDefaults fills the zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	if c.Lease < 0 || c.SafetyMargin < 0 || c.ProgressInterval < 0 || c.PersistInterval < 0 || c.MaxDuration < 0 {
		return c, fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	c.Lease = cmp.Or(c.Lease, DefaultLease)
	if c.Lease < MinLease {
		return c, fmt.Errorf("%w: Lease %s is under %s", ErrInvalidConfig, c.Lease, MinLease)
	}
	c.SafetyMargin = cmp.Or(c.SafetyMargin, DefaultSafetyMargin)
	c.ProgressInterval = cmp.Or(c.ProgressInterval, contract.ProgressInterval)
	c.PersistInterval = cmp.Or(c.PersistInterval, contract.PersistInterval)
	c.MaxDuration = cmp.Or(c.MaxDuration, contract.DefaultMaxDuration)
	c.Logger = loggerOr(c.Logger)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// ProcessorConfig configures a Processor. The zero value gives the documented defaults.
type ProcessorConfig struct {
	// Concurrency is how many Invoke calls run at once for one batch.
	// Default DefaultConcurrency (10).
	Concurrency int
	// Logger receives the records that could not be decoded or dispatched.
	// Default slog.Default().
	Logger *slog.Logger
}

// withDefaults fills the zero fields and validates the result.
func (c ProcessorConfig) withDefaults() (ProcessorConfig, error) {
	if c.Concurrency < 0 {
		return c, fmt.Errorf("%w: negative Concurrency", ErrInvalidConfig)
	}
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.Logger = loggerOr(c.Logger)
	return c, nil
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
