package lambdas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/middleware"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// ErrMissingDependency is wrapped by the errors of Functions and Handler when a function
// needs a dependency that Deps does not provide.
var ErrMissingDependency = errors.New("lambdas: missing dependency")

// ErrUnknownRole is wrapped by the error of Handler (and Start) for a role that is not
// one of contract.Roles.
var ErrUnknownRole = errors.New("lambdas: unknown function role")

// Option configures an App.
type Option func(*settings)

// settings are the App's tunables; Start overrides them from the environment.
type settings struct {
	asyncThreshold time.Duration
	syncBudget     time.Duration
	maxAttempts    int
	limits         store.Limits
	redriveAfter   time.Duration
	directDispatch bool
	worker         executor.Config
	processor      executor.ProcessorConfig
}

// WithAsyncThreshold sets the estimate above which a request is queued instead of run at
// once. Default contract.DefaultAsyncThreshold (5 s); STREAMER_ASYNC_THRESHOLD overrides
// it in Start.
func WithAsyncThreshold(d time.Duration) Option {
	return func(s *settings) { s.asyncThreshold = d }
}

// WithSyncBudget sets the time a synchronous handler gets. Default
// contract.DefaultSyncBudget (25 s); STREAMER_SYNC_BUDGET overrides it in Start.
func WithSyncBudget(d time.Duration) Option {
	return func(s *settings) { s.syncBudget = d }
}

// WithMaxAttempts sets the attempts an async request gets. Default
// contract.DefaultMaxAttempts (3); STREAMER_MAX_ATTEMPTS overrides it in Start.
func WithMaxAttempts(n int) Option {
	return func(s *settings) { s.maxAttempts = n }
}

// WithLimits sets the per-user and per-tenant limits on async requests the router
// applies (store.Limits: zero fields take the defaults, negative ones turn a limit off).
// Default: the zero store.Limits, i.e. contract.DefaultUserMaxInFlight and the other
// defaults; STREAMER_USER_MAX_IN_FLIGHT and its siblings override single fields in Start.
// The router applies limits only when Deps.Limits is set.
func WithLimits(l store.Limits) Option {
	return func(s *settings) { s.limits = l }
}

// WithRedriveAfter sets how long a request may stay PENDING without a write, or
// PROCESSING after its lease ended, before the re-driver hands it out again. Default
// contract.DefaultRedriveAfter (15 minutes); STREAMER_REDRIVE_AFTER overrides it in Start.
func WithRedriveAfter(d time.Duration) Option {
	return func(s *settings) { s.redriveAfter = d }
}

// WithDirectDispatch turns direct dispatch on or off: with it, the router hands every
// new async request to a worker (Deps.Dispatch) right after queuing it, so the work
// starts without waiting for the Requests table's stream, which still delivers every
// request as the safety net. Default on; STREAMER_DIRECT_DISPATCH overrides it in Start.
func WithDirectDispatch(on bool) Option {
	return func(s *settings) { s.directDispatch = on }
}

// WithWorkerConfig sets the worker's lease, safety margin and intervals (its Logger is
// replaced by Deps.Logger). Default: the zero executor.Config, i.e. its defaults.
func WithWorkerConfig(c executor.Config) Option {
	return func(s *settings) { s.worker = c }
}

// WithProcessorConfig sets the dispatcher's concurrency (its Logger is replaced by
// Deps.Logger). Default: the zero executor.ProcessorConfig, i.e. its defaults.
func WithProcessorConfig(c executor.ProcessorConfig) Option {
	return func(s *settings) { s.processor = c }
}

// App is an application's Registry of actions and middleware, with the settings of its
// functions; it builds every Lambda handler over that one Registry. Register everything
// before calling Functions, Handler or Start.
type App struct {
	registry *streamer.Registry
	mu       sync.Mutex
	settings settings
}

// New returns an App with no actions.
func New(opts ...Option) *App {
	a := &App{
		registry: streamer.NewRegistry(),
		settings: settings{
			asyncThreshold: contract.DefaultAsyncThreshold,
			syncBudget:     contract.DefaultSyncBudget,
			maxAttempts:    contract.DefaultMaxAttempts,
			directDispatch: true,
		},
	}
	a.Configure(opts...)
	return a
}

// Configure applies opts to the App's settings, as New does: the local command sets its
// flags (limits, the re-drive bound) with it. Call it before Functions or Handler.
func (a *App) Configure(opts ...Option) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range opts {
		o(&a.settings)
	}
}

// Handle registers h under action in the App's Registry: a typed action
// (streamer.Sync, streamer.Async) or any streamer.Handler. Empty, reserved
// ("streamer.") and duplicate names are refused.
func (a *App) Handle(action string, h streamer.Handler) error {
	return a.registry.Handle(action, h)
}

// Use adds middleware around every action, synchronous and asynchronous runs alike. The
// App's own logging and metrics middleware run outside it.
func (a *App) Use(mw ...streamer.Middleware) {
	a.registry.Use(mw...)
}

// Registry returns the App's Registry: the actions and middleware every function runs.
func (a *App) Registry() *streamer.Registry { return a.registry }

// DirectDispatch reports whether the router dispatches new requests to a worker itself
// (WithDirectDispatch).
func (a *App) DirectDispatch() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings.directDispatch
}

// Queue is the request queue of the functions: what the router, the worker, the
// limiter (its bulk reads) and the re-driver use. *store.Queue (dynamostore, memstore)
// implements it.
type Queue interface {
	router.Queue
	executor.Queue
	executor.RedriveQueue
}

// Sender pushes one message to one connection: the router's oversized synchronous
// results, the worker's progress and terminal messages. *connection.Manager implements
// it.
type Sender interface {
	Send(ctx context.Context, connectionID string, message any) error
}

var (
	_ Queue  = (*store.Queue)(nil)
	_ Sender = (*connection.Manager)(nil)
)

// AsyncThreshold returns the estimate above which the router queues a request: with
// streamer.RunsAsync it tells whether an action runs at once or on the worker.
func (a *App) AsyncThreshold() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings.asyncThreshold
}

// Deps are the dependencies of the functions. Each function needs only some of them (see
// Handler); Functions needs all the required ones.
type Deps struct {
	// Connections stores connection records (connect, disconnect). Required by connect
	// and disconnect.
	Connections store.ConnectionStore
	// Requests is the request queue. Required by router, worker and redriver.
	Requests Queue
	// Limits is the limits table: with it the router applies the App's limits
	// (WithLimits) to async requests. Default: none, no limits.
	Limits store.LimitTable
	// Sender pushes messages to clients (oversized synchronous results, progress,
	// terminal messages, those of requests the re-driver gives up on). Required by
	// router, worker and redriver.
	Sender Sender
	// Verifier checks tokens at $connect. Required by authorizer.
	Verifier auth.TokenVerifier
	// Invoker starts workers. Required by processor.
	Invoker executor.Invoker
	// Dispatch starts a worker from the router (direct dispatch). Used by the router
	// when direct dispatch is on (WithDirectDispatch); without it the router leaves every
	// request to the stream.
	Dispatch executor.Invoker
	// Logger receives every function's logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics records one observation per handler run. Default: none.
	Metrics middleware.Recorder
	// CallbackURL is the @connections endpoint stored on connection records. Default:
	// https://{domainName}/{stage} of the $connect event.
	CallbackURL string
	// Now is the clock of connection records. Default time.Now.
	Now func() time.Time
}

func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Functions are the Lambda handlers of every role, as plain functions.
type Functions struct {
	// Authorizer is the $connect REQUEST authorizer (see auth.Authorizer).
	Authorizer func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)
	// Connect stores the connection (TTL 24 h) with the user and tenant of the
	// authorizer context.
	Connect func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
	// Disconnect deletes the connection record.
	Disconnect func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
	// Router handles $default: the router's Route.
	Router func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
	// Processor is the Requests table's stream consumer (dispatcher).
	Processor func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
	// Worker runs one queued request.
	Worker func(context.Context, executor.WorkerEvent) error
	// Redriver hands out again the requests nothing will deliver any more (a scheduled
	// EventBridge event starts it).
	Redriver func(context.Context, events.EventBridgeEvent) (executor.RedriveReport, error)
}

// Functions builds every function over deps, which must hold every required dependency.
func (a *App) Functions(deps Deps) (*Functions, error) {
	deps = deps.withDefaults()
	router, routerErr := a.routerFunc(deps)
	authorizer, authErr := authorizerFunc(deps)
	connect, connectErr := connectFunc(deps)
	disconnect, disconnectErr := disconnectFunc(deps)
	processor, processorErr := a.processorFunc(deps)
	worker, workerErr := a.workerFunc(deps)
	redriver, redriverErr := a.redriverFunc(deps)
	if err := errors.Join(authErr, connectErr, disconnectErr, routerErr, processorErr, workerErr, redriverErr); err != nil {
		return nil, err
	}
	return &Functions{
		Authorizer: authorizer,
		Connect:    connect,
		Disconnect: disconnect,
		Router:     router,
		Processor:  processor,
		Worker:     worker,
		Redriver:   redriver,
	}, nil
}

// Handler builds the handler of one role (one of contract.Roles), for lambda.Start.
// Dependencies per role: authorizer Verifier; connect and disconnect Connections; router
// Requests and Sender (and Limits for limits, Dispatch for direct dispatch); processor
// Invoker; worker and redriver
// Requests and Sender.
func (a *App) Handler(role string, deps Deps) (any, error) {
	deps = deps.withDefaults()
	switch role {
	case contract.RoleAuthorizer:
		return authorizerFunc(deps)
	case contract.RoleConnect:
		return connectFunc(deps)
	case contract.RoleDisconnect:
		return disconnectFunc(deps)
	case contract.RoleRouter:
		return a.routerFunc(deps)
	case contract.RoleProcessor:
		return a.processorFunc(deps)
	case contract.RoleWorker:
		return a.workerFunc(deps)
	case contract.RoleRedriver:
		return a.redriverFunc(deps)
	default:
		return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknownRole, role, contract.Roles)
	}
}

// observability is the middleware the App puts around every run, outside the
// registry's: one log line per run, and one metric when deps has a recorder.
func observability(deps Deps) []streamer.Middleware {
	mw := []streamer.Middleware{middleware.Logging(deps.Logger)}
	if deps.Metrics != nil {
		mw = append(mw, middleware.Metrics(deps.Metrics))
	}
	return mw
}

func (a *App) routerFunc(deps Deps) (func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error), error) {
	if deps.Requests == nil || deps.Sender == nil {
		return nil, fmt.Errorf("%w: the router needs Requests and Sender", ErrMissingDependency)
	}
	a.mu.Lock()
	opts := router.Options{
		AsyncThreshold: a.settings.asyncThreshold,
		SyncBudget:     a.settings.syncBudget,
		MaxAttempts:    a.settings.maxAttempts,
		Middleware:     observability(deps),
		Logger:         deps.Logger,
	}
	limits := a.settings.limits
	if inv := deps.Dispatch; a.settings.directDispatch && inv != nil {
		opts.Dispatcher = router.DispatchFunc(func(ctx context.Context, requestID string) error {
			return inv.Invoke(ctx, executor.WorkerEvent{RequestID: requestID})
		})
	}
	a.mu.Unlock()
	if deps.Limits != nil {
		l, err := store.NewLimiter(deps.Limits, deps.Requests, limits, deps.Now)
		if err != nil {
			return nil, fmt.Errorf("lambdas: router: %w", err)
		}
		opts.Limiter = l
	}
	return router.New(a.registry, deps.Requests, deps.Sender, opts).Route, nil
}

func (a *App) redriverFunc(deps Deps) (func(context.Context, events.EventBridgeEvent) (executor.RedriveReport, error), error) {
	if deps.Requests == nil || deps.Sender == nil {
		return nil, fmt.Errorf("%w: the redriver needs Requests and Sender", ErrMissingDependency)
	}
	a.mu.Lock()
	after := a.settings.redriveAfter
	a.mu.Unlock()
	r, err := executor.NewRedriver(deps.Requests, deps.Sender, executor.RedriverConfig{After: after, Logger: deps.Logger, Now: deps.Now})
	if err != nil {
		return nil, fmt.Errorf("lambdas: redriver: %w", err)
	}
	return r.Handle, nil
}

func (a *App) workerFunc(deps Deps) (func(context.Context, executor.WorkerEvent) error, error) {
	if deps.Requests == nil || deps.Sender == nil {
		return nil, fmt.Errorf("%w: the worker needs Requests and Sender", ErrMissingDependency)
	}
	a.mu.Lock()
	cfg := a.settings.worker
	a.mu.Unlock()
	cfg.Logger = deps.Logger
	cfg.Middleware = observability(deps)
	w, err := executor.NewWorker(deps.Requests, a.registry, deps.Sender, cfg)
	if err != nil {
		return nil, fmt.Errorf("lambdas: worker: %w", err)
	}
	return w.Handle, nil
}

func (a *App) processorFunc(deps Deps) (func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error), error) {
	if deps.Invoker == nil {
		return nil, fmt.Errorf("%w: the processor needs Invoker", ErrMissingDependency)
	}
	a.mu.Lock()
	cfg := a.settings.processor
	a.mu.Unlock()
	cfg.Logger = deps.Logger
	p, err := executor.NewProcessor(deps.Invoker, cfg)
	if err != nil {
		return nil, fmt.Errorf("lambdas: processor: %w", err)
	}
	return p.Handle, nil
}

func authorizerFunc(deps Deps) (func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error), error) {
	if deps.Verifier == nil {
		return nil, fmt.Errorf("%w: the authorizer needs Verifier", ErrMissingDependency)
	}
	return auth.NewAuthorizer(deps.Verifier, deps.Logger).Handle, nil
}
