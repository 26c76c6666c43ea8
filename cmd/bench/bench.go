package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/store"
)

// Scenario names.
const (
	ScenarioEcho        = "echo"        // sync round trips across C connections
	ScenarioAsync       = "async"       // ack, first-progress and completion latency
	ScenarioFanout      = "fanout"      // N connections, one job each at once
	ScenarioConcurrency = "concurrency" // M long jobs at once
	ScenarioFloor       = "floor"       // the local stack against a bare WebSocket echo server
	ScenarioDispatch    = "dispatch"    // dispatch against inline processing on one shard
	ScenarioCost        = "cost"        // AWS usage and cost per request of each demo action
	ScenarioColdStart   = "coldstart"   // bootstrap size and time to ready
	ScenarioSoak        = "soak"        // many connections, mixed load and limits, for a fixed time
)

// Scenarios returns every scenario in the order Run runs them.
func Scenarios() []string {
	return []string{ScenarioEcho, ScenarioAsync, ScenarioFanout, ScenarioConcurrency, ScenarioFloor, ScenarioDispatch, ScenarioCost, ScenarioColdStart, ScenarioSoak}
}

// DefaultScenarios are the scenarios Run runs when Options.Scenarios is empty: all but
// soak, which runs for SoakDuration and is asked for by name.
func DefaultScenarios() []string {
	return slices.DeleteFunc(Scenarios(), func(s string) bool { return s == ScenarioSoak })
}

// Errors of Run.
var (
	// ErrInvalidOptions: an option is out of range or unknown.
	ErrInvalidOptions = errors.New("bench: invalid options")
	// ErrRemoteTarget: the URL is not loopback and AllowRemote is not set.
	ErrRemoteTarget = errors.New("bench: refusing a non-loopback URL without --allow-remote")
)

// Bounds of the options, so a run stays bounded in count and time.
const (
	MaxRequests      = 1_000_000
	MaxConnections   = 2_000
	MaxJobs          = 2_000
	MaxDurationLimit = 30 * time.Minute
	// DefaultConnections is C, the connections of echo and floor, and fanout's N.
	DefaultConnections = 100
	// DefaultJobs is M, the long jobs of concurrency and dispatch.
	DefaultJobs = 100
	// DefaultDurationLimit bounds each scenario.
	DefaultDurationLimit = 2 * time.Minute
)

// defaultRequests is a scenario's request count when Options.N is zero.
func defaultRequests(scenario string) int {
	switch scenario {
	case ScenarioEcho:
		return 20_000
	case ScenarioFloor:
		return 30_000
	default: // async, cost
		return 100
	}
}

// Options configures Run. The zero value runs every scenario against an in-process
// local stack with the defaults.
type Options struct {
	// URL is the stack's WebSocket URL (ws:// or wss://). Empty: the bench starts a
	// local stack in this process (in-memory store, the demo handlers).
	URL string
	// Token authenticates the connections. Empty with a loopback URL: a dev token from
	// the local stack's GET /dev/token.
	Token string
	// AllowRemote permits a URL that is not loopback (a deployed stack, deliberately).
	AllowRemote bool
	// Scenarios to run; they run in the order of Scenarios(). Default: all of them.
	Scenarios []string
	// N is the request count of echo (in total), async, floor (per target) and cost (per
	// action). Default: 20,000 for echo, 30,000 for floor, 100 for async and cost.
	N int
	// Connections is C: the connections of echo and floor, and fanout's N.
	// Default DefaultConnections.
	Connections int
	// Jobs is M: the one-second jobs of concurrency and dispatch. Default DefaultJobs.
	Jobs int
	// DurationLimit bounds each scenario; a scenario that reaches it reports what it
	// completed. Default DefaultDurationLimit.
	DurationLimit time.Duration
	// ColdStartRuns is how many times coldstart starts the bootstrap. Default 7.
	ColdStartRuns int
	// AWSModel makes the local stacks the bench starts wait the latencies AWS adds
	// (AWSModel()), so that their figures read in AWS terms. It does not apply to a URL
	// target. Default false: the local stack as it is.
	AWSModel bool
	// StreamOnly starts the local stacks without the router's direct dispatch: every
	// request reaches a worker through the stream, as before direct dispatch (the async
	// scenario always measures both side by side). Default false.
	StreamOnly bool
	// GoBin is the go command coldstart builds with. Default "go".
	GoBin string
	// LambdaPackage is the package coldstart builds, resolved from the working
	// directory. Default "github.com/streamer-go/streamer/cmd/lambda".
	LambdaPackage string
	// SoakConnections is how many connections soak keeps busy. Default
	// DefaultSoakConnections.
	SoakConnections int
	// SoakDuration is how long soak sends new requests; it then waits for their
	// outcomes. Default DefaultSoakDuration.
	SoakDuration time.Duration
	// Progress is where the progress bar goes (stderr). Default: nowhere.
	Progress Progress
}

// Progress is the destination of the progress bar.
type Progress struct {
	// W receives the bar; nil draws none.
	W io.Writer
	// Terminal redraws the bar in place while a scenario runs; otherwise (a pipe, CI
	// logs) one line is written when the scenario ends.
	Terminal bool
}

func (o Options) withDefaults() (Options, error) {
	all := Scenarios()
	if len(o.Scenarios) == 0 {
		o.Scenarios = DefaultScenarios()
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(all, s) {
			return o, fmt.Errorf("%w: unknown scenario %q (want some of %s)", ErrInvalidOptions, s, strings.Join(all, ","))
		}
	}
	o.Scenarios = slices.DeleteFunc(all, func(s string) bool { return !slices.Contains(o.Scenarios, s) })
	o.Connections = cmp.Or(o.Connections, DefaultConnections)
	o.Jobs = cmp.Or(o.Jobs, DefaultJobs)
	o.DurationLimit = cmp.Or(o.DurationLimit, DefaultDurationLimit)
	o.ColdStartRuns = cmp.Or(o.ColdStartRuns, 7)
	o.SoakConnections = cmp.Or(o.SoakConnections, DefaultSoakConnections)
	o.SoakDuration = cmp.Or(o.SoakDuration, DefaultSoakDuration)
	o.GoBin = cmp.Or(o.GoBin, "go")
	o.LambdaPackage = cmp.Or(o.LambdaPackage, "github.com/streamer-go/streamer/cmd/lambda")
	switch {
	case o.N < 0 || o.N > MaxRequests:
		return o, fmt.Errorf("%w: n must be 1 to %d", ErrInvalidOptions, MaxRequests)
	case o.Connections < 1 || o.Connections > MaxConnections:
		return o, fmt.Errorf("%w: connections must be 1 to %d", ErrInvalidOptions, MaxConnections)
	case o.Jobs < 1 || o.Jobs > MaxJobs:
		return o, fmt.Errorf("%w: jobs must be 1 to %d", ErrInvalidOptions, MaxJobs)
	case o.DurationLimit < 0 || o.DurationLimit > MaxDurationLimit:
		return o, fmt.Errorf("%w: duration limit must be up to %s", ErrInvalidOptions, MaxDurationLimit)
	case o.ColdStartRuns < 1 || o.ColdStartRuns > 100:
		return o, fmt.Errorf("%w: cold start runs must be 1 to 100", ErrInvalidOptions)
	case o.SoakConnections < 1 || o.SoakConnections > MaxConnections:
		return o, fmt.Errorf("%w: soak connections must be 1 to %d", ErrInvalidOptions, MaxConnections)
	case o.SoakDuration < 0 || o.SoakDuration > MaxDurationLimit:
		return o, fmt.Errorf("%w: soak duration must be up to %s", ErrInvalidOptions, MaxDurationLimit)
	}
	if o.URL != "" {
		if o.AWSModel || o.StreamOnly {
			return o, fmt.Errorf("%w: the AWS model and stream-only apply to the stacks the bench starts, not to a URL target", ErrInvalidOptions)
		}
		if err := CheckTarget(o.URL, o.AllowRemote); err != nil {
			return o, err
		}
	}
	return o, nil
}

// requests returns the request count of scenario.
func (o Options) requests(scenario string) int {
	return cmp.Or(o.N, defaultRequests(scenario))
}

// CheckTarget refuses a URL that is not ws:// or wss://, and one whose host is not
// loopback (localhost, 127.0.0.0/8, ::1) unless allowRemote.
func CheckTarget(rawURL string, allowRemote bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("%w: URL must be ws:// or wss://, got %q", ErrInvalidOptions, rawURL)
	}
	if allowRemote || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrRemoteTarget, u.Host)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// httpBase returns the HTTP(S) origin of a WebSocket URL, where a local stack serves
// /metrics and /dev/token.
func httpBase(wsURL string) string {
	u, err := url.Parse(wsURL)
	if err != nil {
		return ""
	}
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + u.Host
}

// target is the stack the URL scenarios run against.
type target struct {
	url, token string
	metrics    func(ctx context.Context) (local.Snapshot, error) // nil when the stack has no counters
}

// runner runs the scenarios of one Run.
type runner struct {
	opts   Options
	runID  string // starts every request id, so runs never meet on idempotency
	target *target
	stop   []func()
}

// Run runs the scenarios of opts and returns their report. A scenario that fails (the
// target cannot be reached, say) records its error in its Result and the next one runs;
// Run itself fails on bad options, and when ctx ends (with the report so far).
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, runID: strings.ToLower(rand.Text()[:6])}
	defer r.close()
	rep := &Report{Started: time.Now().UTC(), Machine: describeMachine(), Target: cmp.Or(opts.URL, "in-process local stack")}
	for _, s := range opts.Scenarios {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("bench: %w", err)
		}
		start := time.Now()
		res := r.run(ctx, s)
		res.Scenario = s
		res.ElapsedS = time.Since(start).Seconds()
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

func (r *runner) run(ctx context.Context, scenario string) Result {
	limit := r.opts.DurationLimit
	switch scenario {
	case ScenarioColdStart:
		limit = max(limit, coldStartMinLimit)
	case ScenarioSoak: // its own duration, then the wait for the last outcomes
		limit = r.opts.SoakDuration + soakRequestWait + time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var (
		res Result
		err error
	)
	switch scenario {
	case ScenarioFloor:
		res, err = r.floor(ctx)
	case ScenarioDispatch:
		res, err = r.dispatch(ctx)
	case ScenarioColdStart:
		res, err = r.coldStart(ctx)
	case ScenarioSoak:
		res, err = r.soak(ctx)
	default:
		var t *target
		if t, err = r.stack(ctx); err == nil {
			res, err = r.onTarget(ctx, scenario, t)
		}
	}
	if err != nil {
		res.Error = err.Error()
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.Notes = append(res.Notes, fmt.Sprintf("stopped at the duration limit (%s)", limit))
	}
	return res
}

func (r *runner) onTarget(ctx context.Context, scenario string, t *target) (Result, error) {
	switch scenario {
	case ScenarioEcho:
		return r.echo(ctx, t)
	case ScenarioAsync:
		return r.async(ctx, t)
	case ScenarioFanout:
		return r.fanout(ctx, t)
	case ScenarioConcurrency:
		return r.concurrency(ctx, t)
	default:
		return r.cost(ctx, t)
	}
}

// stack returns the target of the URL scenarios: the URL's stack, or a local stack
// started in this process the first time it is needed.
func (r *runner) stack(ctx context.Context) (*target, error) {
	if r.target != nil {
		return r.target, nil
	}
	if r.opts.URL == "" {
		// No limits: these scenarios measure the stack's latency and throughput with one
		// user sending up to M jobs at once; soak runs with the limits.
		st, err := r.startStack(ctx, local.Config{}, lambdas.WithLimits(store.NoLimits()))
		if err != nil {
			return nil, err
		}
		r.stop = append(r.stop, func() { shutdown(st) })
		t, err := inProcessTarget(st)
		if err != nil {
			return nil, err
		}
		r.target = t
		return t, nil
	}
	t := &target{url: r.opts.URL, token: r.opts.Token}
	base := httpBase(r.opts.URL)
	if isLoopback(hostOf(r.opts.URL)) {
		t.metrics = func(ctx context.Context) (local.Snapshot, error) { return fetchMetrics(ctx, base) }
		if t.token == "" {
			tok, err := fetchToken(ctx, base)
			if err != nil {
				return nil, err
			}
			t.token = tok
		}
	}
	r.target = t
	return t, nil
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func (r *runner) close() {
	for _, f := range slices.Backward(r.stop) {
		f()
	}
}

// id returns a request id unique to this run.
func (r *runner) id(kind string, i int) string {
	return fmt.Sprintf("b-%s-%s-%d", r.runID, kind, i)
}

// startStack starts a local stack in this process as the options say (the AWS model,
// direct dispatch unless StreamOnly) and as cfg and opts add.
func (r *runner) startStack(ctx context.Context, cfg local.Config, opts ...lambdas.Option) (*local.Stack, error) {
	if r.opts.AWSModel {
		cfg.Latency = AWSModel()
	}
	if r.opts.StreamOnly {
		opts = append([]lambdas.Option{lambdas.WithDirectDispatch(false)}, opts...)
	}
	return startStack(ctx, cfg, opts...)
}

// startStack starts a local stack in this process on a free loopback port with the demo
// handlers; cfg's App, Addr and Logger are set here.
func startStack(ctx context.Context, cfg local.Config, opts ...lambdas.Option) (*local.Stack, error) {
	app := lambdas.New(opts...)
	if err := demo.Register(app); err != nil {
		return nil, fmt.Errorf("bench: register the demo handlers: %w", err)
	}
	cfg.App = app
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.DiscardHandler)
	st, err := local.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: start a local stack: %w", err)
	}
	return st, nil
}

func inProcessTarget(st *local.Stack) (*target, error) {
	tok, err := st.Token("bench", "bench", time.Hour)
	if err != nil {
		return nil, err
	}
	return &target{
		url:     st.WebSocketURL(),
		token:   tok,
		metrics: func(context.Context) (local.Snapshot, error) { return st.Metrics(), nil },
	}, nil
}

// shutdown stops an in-process stack, giving its invocations a few seconds.
func shutdown(st *local.Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = st.Shutdown(ctx)
}

// getJSON GETs url and decodes its JSON body into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bench: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("bench: GET %s: decode: %w", url, err)
	}
	return nil
}

// fetchMetrics reads a local stack's call counters (GET /metrics).
func fetchMetrics(ctx context.Context, base string) (local.Snapshot, error) {
	var s local.Snapshot
	err := getJSON(ctx, base+"/metrics", &s)
	return s, err
}

// fetchToken gets a dev token from a local stack (GET /dev/token).
func fetchToken(ctx context.Context, base string) (string, error) {
	t, err := local.DevToken(ctx, base, "bench", "bench", time.Hour)
	if err != nil {
		return "", fmt.Errorf("%w (is a local stack running there? else pass --token)", err)
	}
	return t.Token, nil
}
