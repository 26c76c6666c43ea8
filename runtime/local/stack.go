package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/store"
)

// hardStopGrace is how long Shutdown waits for invocations to return after it cancelled
// them because its context ended.
const hardStopGrace = 5 * time.Second

// idleConns is how many idle connections the SDK clients keep to the stack and to
// DynamoDB Local.
const idleConns = 256

// Stack is a running local stack: the emulated WebSocket API, @connections API, stream
// poller, Lambda functions, store and dev identity provider, all in this process.
type Stack struct {
	cfg    Config
	ln     net.Listener
	srv    *http.Server
	m      *counters
	rt     *lambdaRuntime
	gw     *gateway
	issuer *auth.DevIssuer // the dev identity provider; nil in template mode
	tokens tokenMinter     // mints the tokens of /dev/token and Token; nil when it cannot
	tmpl   *tmplStack      // set in template mode
	// manager is the functions' connection manager; Metrics reports its Stats (nil in
	// template mode, where the functions run in their own processes).
	manager *connection.Manager
	// inFlight reads the limits table for InFlight.
	inFlight *store.Limiter
	ready    atomic.Bool
	// transport carries the SDK clients' calls (@connections, DynamoDB). Shutdown closes
	// its idle connections: the HTTP server would wait 5 s for a connection the
	// transport dialled but never used.
	transport *http.Transport

	base       context.Context // lifetime of invocations; cancelled by a hard stop
	cancelBase context.CancelFunc
	stopPoll   context.CancelFunc
	polling    sync.WaitGroup
	serving    chan error
	cleanup    func(context.Context) error // drops the DynamoDB tables, if any

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start listens on cfg.Addr and runs the stack until Shutdown. It returns once the stack
// is ready: tables created, functions built, poller running, /healthz answering 200.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("local: listen: %w", err)
		}
	}
	s := &Stack{
		cfg:     cfg,
		ln:      ln,
		serving: make(chan error, 1),
		// Loopback calls only: keep enough idle connections for a burst of posts.
		transport: &http.Transport{MaxIdleConns: idleConns, MaxIdleConnsPerHost: idleConns, IdleConnTimeout: time.Minute},
		cleanup:   func(context.Context) error { return nil },
	}
	s.base, s.cancelBase = context.WithCancel(context.WithoutCancel(ctx))
	build := s.build
	if cfg.Template != "" {
		build = s.buildTemplate
	}
	if err := build(ctx); err != nil {
		s.cancelBase()
		_ = ln.Close()
		return nil, err
	}
	s.ready.Store(true)
	cfg.Logger.Info("local stack ready", "url", s.URL(), "websocket", s.WebSocketURL(), "store", s.storeName(), "shards", cfg.Shards)
	return s, nil
}

// newGateway returns the WebSocket API emulator of the stack; its API (s.gw.ws) is set
// by the build.
func (s *Stack) newGateway() *gateway {
	return &gateway{
		api:  apiIdentity{apiID: "local", stage: s.cfg.Stage, region: s.cfg.Region, account: s.cfg.AccountID, domain: s.ln.Addr().String()},
		cfg:  &s.cfg,
		rt:   s.rt,
		base: s.base,
		log:  s.cfg.Logger,
		m:    s.m,
		// Any origin: API Gateway does not check Origin either (the token is the check).
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		conns:    make(map[string]*wsConn),
	}
}

// buildTemplate builds the stack cfg.Template describes (tmplstack.go), then starts the
// HTTP server.
func (s *Stack) buildTemplate(ctx context.Context) error {
	s.m = newCounters(nil)
	s.rt = &lambdaRuntime{m: s.m, log: s.cfg.Logger}
	s.gw = s.newGateway()
	s.stopPoll = func() {}
	if err := s.startTemplate(ctx); err != nil {
		s.stopPoll()
		if s.tmpl != nil {
			err = errors.Join(err, s.tmpl.shutdown(context.WithoutCancel(ctx)))
		}
		return err
	}
	s.cleanup = s.tmpl.shutdown
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.serving <- s.srv.Serve(s.ln) }()
	return nil
}

// build opens the store, starts the HTTP server (the verifier reads the JWKS from it),
// builds the functions and starts the poller.
func (s *Stack) build(ctx context.Context) error {
	issuer := s.cfg.Issuer
	if issuer == nil {
		var err error
		if issuer, err = auth.NewDevIssuer(); err != nil {
			return fmt.Errorf("local: dev identity provider: %w", err)
		}
	}
	s.issuer, s.tokens = issuer, issuer
	s.m = newCounters(memorySizes(s.cfg.Functions))
	s.rt = &lambdaRuntime{m: s.m, log: s.cfg.Logger}
	st, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	s.cleanup = st.cleanup
	s.gw = s.newGateway()
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.serving <- s.srv.Serve(s.ln) }()

	conns := &countingConnections{next: st.connections, m: s.m, lag: s.cfg.Latency.DynamoDB}
	reqs := &countingRequests{next: st.requests, m: s.m, lag: s.cfg.Latency.DynamoDB}
	limits := &countingLimits{next: st.limits, m: s.m}
	if s.inFlight, err = store.NewLimiter(st.limits, st.requests, store.NoLimits(), nil); err != nil {
		return errors.Join(err, s.srv.Close(), st.cleanup(context.WithoutCancel(ctx)))
	}
	inv := &workerInvoker{
		rt:      s.rt,
		base:    s.base,
		timeout: s.cfg.Functions[contract.RoleWorker].Timeout,
		retries: s.cfg.WorkerRetryAttempts,
		delay:   s.cfg.WorkerRetryDelay,
		inline:  s.cfg.Inline,
		lat:     s.cfg.Latency,
	}
	// The router's direct dispatch is an asynchronous invoke even with Inline, which only
	// models a stream consumer that runs handlers itself.
	dispatch := *inv
	dispatch.inline = false
	var direct executor.Invoker = &dispatch
	if s.cfg.StreamOnly {
		direct = nil
	}
	fns, err := s.functions(ctx, conns, reqs, limits, inv, direct)
	if err != nil {
		return errors.Join(err, s.srv.Close(), st.cleanup(context.WithoutCancel(ctx)))
	}
	inv.worker, dispatch.worker = fns.Worker, fns.Worker
	s.gw.ws = s.inProcessAPI(fns)

	p := &poller{
		src:            st.stream,
		m:              s.m,
		log:            s.cfg.Logger,
		interval:       s.cfg.PollInterval,
		batchSize:      s.cfg.BatchSize,
		lanes:          s.cfg.Shards,
		retries:        s.cfg.StreamRetryAttempts,
		propagation:    s.cfg.Latency.StreamPropagation,
		bisect:         true,
		reportFailures: true,
		filter:         pendingFilter,
		shards:         make(map[string]bool),
		process: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			wait(ctx, s.cfg.Latency.InvokeCall)
			timeout := s.cfg.Functions[contract.RoleProcessor].Timeout
			return invoke(s.base, s.rt, contract.RoleProcessor, timeout, timeout, fns.Processor, ev)
		},
	}
	pollCtx, stop := context.WithCancel(s.base)
	s.stopPoll = stop
	if st.kept {
		// Read from the newest records on, positioned before the start sweep writes: what
		// the stream held was dispatched by the process that wrote it, or lost with it,
		// and the sweep hands out again what that left unfinished.
		p.latest = true
		p.begin(pollCtx)
	}
	s.polling.Go(func() { p.run(pollCtx) })
	if st.kept {
		if err := s.resume(ctx, reqs); err != nil {
			stop()
			s.polling.Wait()
			return errors.Join(err, s.srv.Close(), st.cleanup(context.WithoutCancel(ctx)))
		}
	}
	s.polling.Go(func() { s.redriveEvery(pollCtx, fns.Redriver) })
	return nil
}

// resumeHorizon is how far ahead of now the start sweep counts a lease as ended: every
// lease in the tables belongs to a worker of the process before this one, and none
// outlasts a worker's 15-minute timeout.
const resumeHorizon = time.Hour

// resume hands out again every request the previous process left unfinished: PENDING
// ones, and PROCESSING ones whatever their lease (their workers died with it). Each is
// re-driven (an attempt used; FAILED, with its terminal message, at the last one) and
// the stream dispatches it.
func (s *Stack) resume(ctx context.Context, reqs executor.RedriveQueue) error {
	r, err := executor.NewRedriver(reqs, s.manager, executor.RedriverConfig{Logger: s.cfg.Logger})
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	rep, err := r.Sweep(ctx, time.Now().Add(resumeHorizon))
	if err != nil {
		return fmt.Errorf("local: resuming the requests of the last run: %w", err)
	}
	s.cfg.Logger.Info("resumed the requests of the last run", "requeued", rep.Requeued, "failed", rep.Failed)
	return nil
}

// redriveEvery invokes the re-driver function every RedriveInterval until ctx ends, as
// the deployed stack's EventBridge schedule does.
func (s *Stack) redriveEvery(ctx context.Context, redrive func(context.Context, events.EventBridgeEvent) (executor.RedriveReport, error)) {
	t := time.NewTicker(s.cfg.RedriveInterval)
	defer t.Stop()
	timeout := s.cfg.Functions[contract.RoleRedriver].Timeout
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ev := events.EventBridgeEvent{Source: "aws.events", DetailType: "Scheduled Event", Time: time.Now().UTC()}
		if _, err := invoke(s.base, s.rt, contract.RoleRedriver, timeout, timeout, redrive, ev); err != nil {
			s.cfg.Logger.Warn("redriver failed", "error", err)
		}
	}
}

// URL is the stack's HTTP address, e.g. http://127.0.0.1:8080.
func (s *Stack) URL() string { return "http://" + s.ln.Addr().String() }

// WebSocketURL is the address clients connect to, e.g. ws://127.0.0.1:8080/.
func (s *Stack) WebSocketURL() string { return "ws://" + s.ln.Addr().String() + "/" }

// CallbackURL is the @connections endpoint the functions post to.
func (s *Stack) CallbackURL() string { return s.URL() }

// JWKSURL is where the dev identity provider's keys are published.
func (s *Stack) JWKSURL() string { return s.URL() + auth.JWKSPath }

// Token mints a dev token for user in tenant, valid for ttl (negative: already expired).
func (s *Stack) Token(user, tenant string, ttl time.Duration) (string, error) {
	if s.tokens == nil {
		return "", errNoMinter
	}
	tok, err := s.tokens.Mint(user, tenant, ttl)
	if err != nil {
		return "", fmt.Errorf("local: mint token: %w", err)
	}
	return tok, nil
}

// InFlight returns what a user and their tenant have in flight, as the router's limits
// count it: the admitted requests that are not finished (it reads their statuses).
func (s *Stack) InFlight(ctx context.Context, tenantID, userID string) (store.Usage, error) {
	return s.inFlight.InFlight(ctx, store.Owner{TenantID: tenantID, UserID: userID})
}

// Metrics returns the counters of every AWS-equivalent call so far, and the connection
// manager's own.
func (s *Stack) Metrics() Snapshot {
	snap := s.m.snapshot(s.gw.openAge(time.Now()))
	if s.manager != nil {
		snap.ConnectionManager = s.manager.Stats()
	}
	if s.tmpl != nil {
		snap.Queues = s.tmpl.endpoint.QueueStats()
	}
	return snap
}

// Shutdown stops the stack: it refuses new connections, closes the open ones with 1001
// (each runs $disconnect), stops the stream poller, waits for running invocations
// (workers included), then stops the HTTP server and drops the DynamoDB tables it
// created. When ctx ends first, running invocations see their contexts cancelled and
// get hardStopGrace to return. Calling it again returns the first call's result.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Stack) shutdown(ctx context.Context) error {
	s.ready.Store(false)
	var errs []error
	if err := s.gw.shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("local: closing connections: %w", err))
	}
	s.stopPoll()
	s.polling.Wait()
	if err := s.rt.wait(ctx); err != nil {
		s.cancelBase()
		hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), hardStopGrace)
		errs = append(errs, err, s.rt.wait(hard))
		cancel()
	}
	s.cancelBase()
	s.transport.CloseIdleConnections()
	if err := s.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("local: http server: %w", err))
	}
	if err := <-s.serving; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("local: http server: %w", err))
	}
	if err := s.cleanup(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// inProcessAPI is the WebSocket API StreamerApi deploys, over the in-process functions:
// $connect with the authorizer, $disconnect, and $default with a route response.
func (s *Stack) inProcessAPI(fns *lambdas.Functions) *webSocketAPI {
	route := func(role string, h wsHandler, response bool) apiRoute {
		return apiRoute{function: role, handler: h, timeout: s.cfg.Functions[role].Timeout, response: response}
	}
	return &webSocketAPI{
		selectionField: "action",
		routes: map[string]apiRoute{
			routeConnect:    route(contract.RoleConnect, fns.Connect, false),
			routeDisconnect: route(contract.RoleDisconnect, fns.Disconnect, false),
			routeDefault:    route(contract.RoleRouter, fns.Router, true),
		},
		authorizer: &apiAuthorizer{
			function: contract.RoleAuthorizer,
			handler:  fns.Authorizer,
			timeout:  s.cfg.Functions[contract.RoleAuthorizer].Timeout,
			identity: s.cfg.IdentitySource,
		},
	}
}

// memorySizes returns each function's memory size.
func memorySizes(fns map[string]FunctionSettings) map[string]int {
	out := make(map[string]int, len(fns))
	for name, f := range fns {
		out[name] = f.MemoryMB
	}
	return out
}

// storeHandles are the opened store: its tables, its change stream, whether the tables
// were there before this start (kept), and what Shutdown must undo.
type storeHandles struct {
	connections store.ConnectionStore
	requests    *store.Queue
	limits      store.LimitTable
	stream      streamReader
	kept        bool
	cleanup     func(context.Context) error
}
