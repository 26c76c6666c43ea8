package local

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
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
	issuer *auth.DevIssuer
	// manager is the functions' connection manager; Metrics reports its Stats.
	manager *connection.Manager
	ready   atomic.Bool
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
	issuer, err := auth.NewDevIssuer()
	if err != nil {
		return nil, fmt.Errorf("local: dev identity provider: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("local: listen: %w", err)
	}
	s := &Stack{
		cfg:     cfg,
		ln:      ln,
		issuer:  issuer,
		m:       newCounters(cfg.Functions),
		serving: make(chan error, 1),
		// Loopback calls only: keep enough idle connections for a burst of posts.
		transport: &http.Transport{MaxIdleConns: idleConns, MaxIdleConnsPerHost: idleConns, IdleConnTimeout: time.Minute},
	}
	s.base, s.cancelBase = context.WithCancel(context.WithoutCancel(ctx))
	s.rt = &lambdaRuntime{m: s.m, log: cfg.Logger}
	if err := s.build(ctx); err != nil {
		s.cancelBase()
		_ = ln.Close()
		return nil, err
	}
	s.ready.Store(true)
	cfg.Logger.Info("local stack ready", "url", s.URL(), "websocket", s.WebSocketURL(), "store", s.storeName(), "shards", cfg.Shards)
	return s, nil
}

// build opens the store, starts the HTTP server (the verifier reads the JWKS from it),
// builds the functions and starts the poller.
func (s *Stack) build(ctx context.Context) error {
	st, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	s.cleanup = st.cleanup
	s.gw = &gateway{
		api:  apiIdentity{apiID: "local", stage: s.cfg.Stage, region: s.cfg.Region, domain: s.ln.Addr().String()},
		cfg:  &s.cfg,
		rt:   s.rt,
		base: s.base,
		log:  s.cfg.Logger,
		m:    s.m,
		// Any origin: API Gateway does not check Origin either (the token is the check).
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		conns:    make(map[string]*wsConn),
	}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.serving <- s.srv.Serve(s.ln) }()

	conns := &countingConnections{next: st.connections, m: s.m, lag: s.cfg.Latency.DynamoDB}
	reqs := &countingRequests{next: st.requests, m: s.m, lag: s.cfg.Latency.DynamoDB}
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
	fns, err := s.functions(ctx, conns, reqs, inv, &dispatch)
	if err != nil {
		return errors.Join(err, s.srv.Close(), st.cleanup(context.WithoutCancel(ctx)))
	}
	inv.worker, dispatch.worker = fns.Worker, fns.Worker
	s.gw.fns = fns

	p := &poller{
		src:         st.stream,
		m:           s.m,
		log:         s.cfg.Logger,
		interval:    s.cfg.PollInterval,
		batchSize:   s.cfg.BatchSize,
		lanes:       s.cfg.Shards,
		retries:     s.cfg.StreamRetryAttempts,
		propagation: s.cfg.Latency.StreamPropagation,
		shards:      make(map[string]bool),
		process: func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			wait(ctx, s.cfg.Latency.InvokeCall)
			timeout := s.cfg.Functions[contract.RoleProcessor].Timeout
			return invoke(s.base, s.rt, contract.RoleProcessor, timeout, timeout, fns.Processor, ev)
		},
	}
	pollCtx, stop := context.WithCancel(s.base)
	s.stopPoll = stop
	s.polling.Go(func() { p.run(pollCtx) })
	return nil
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
	tok, err := s.issuer.Mint(user, tenant, ttl)
	if err != nil {
		return "", fmt.Errorf("local: mint token: %w", err)
	}
	return tok, nil
}

// Metrics returns the counters of every AWS-equivalent call so far, and the connection
// manager's own.
func (s *Stack) Metrics() Snapshot {
	snap := s.m.snapshot(s.gw.openAge(time.Now()))
	snap.ConnectionManager = s.manager.Stats()
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

// randomSuffix returns 8 random lowercase characters for fresh table names.
func randomSuffix() string { return strings.ToLower(rand.Text()[:8]) }

// storeHandles are the opened store: its two interfaces, its change stream, and what
// Shutdown must undo.
type storeHandles struct {
	connections store.ConnectionStore
	requests    *store.Queue
	stream      streamReader
	cleanup     func(context.Context) error
}
