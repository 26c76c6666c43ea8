package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/store"
)

// Settings of the local command.
const (
	// bannerTokenTTL is the lifetime of the token printed at start.
	bannerTokenTTL = 12 * time.Hour
	// shutdownTimeout bounds the clean shutdown after SIGINT/SIGTERM; running jobs are
	// cancelled when it runs out.
	shutdownTimeout = 30 * time.Second
)

// localFlags are the flags of the local command.
type localFlags struct {
	addr         string
	expose       bool // allow an addr that is not loopback
	endpoint     string
	prefix       string // table names on endpoint
	fresh        bool   // drop the tables first
	shards       int
	level        string
	watch        bool
	template     string        // run this synthesized template instead of the program's App
	retryDelay   time.Duration // template mode: the wait before Lambda's first async retry
	redriveAfter time.Duration
	limits       store.Limits
	noLimits     bool
	// workerTimeout is the worker function's timeout; 0 keeps the default.
	workerTimeout time.Duration
	direct        bool // the router dispatches requests to workers itself
}

// args returns the command line that runs the same stack without --watch: what the
// watcher starts each build with. A rebuild keeps the tables (no --fresh): what the last
// build left unfinished is picked up.
func (f localFlags) args() []string {
	l := f.limits
	a := []string{"local", "--shards", fmt.Sprint(f.shards), "--log-level", f.level, "--direct-dispatch=" + fmt.Sprint(f.direct),
		"--redrive-after", f.redriveAfter.String(),
		"--user-max-in-flight", fmt.Sprint(l.UserMaxInFlight), "--user-rate", fmt.Sprint(l.UserRate), "--user-burst", fmt.Sprint(l.UserBurst),
		"--tenant-max-in-flight", fmt.Sprint(l.TenantMaxInFlight), "--tenant-rate", fmt.Sprint(l.TenantRate), "--tenant-burst", fmt.Sprint(l.TenantBurst)}
	if f.noLimits {
		a = append(a, "--no-limits")
	}
	if f.workerTimeout > 0 {
		a = append(a, "--worker-timeout", f.workerTimeout.String())
	}
	if f.endpoint != "" {
		a = append(a, "--dynamodb-endpoint", f.endpoint, "--table-prefix", f.prefix)
	}
	return a
}

// Local runs the local command with args (its flags) until ctx ends: the local stack
// serving app's actions, the banner on opts.Stdout (URLs, a dev token, a `call` line
// per action with an example), logs on opts.Stderr. With --watch it supervises the
// program instead (see the package doc). cmd/streamer's `streamer local` is this
// command with the demo actions.
func Local(ctx context.Context, app *lambdas.App, args []string, opts Options) int {
	opts = opts.withDefaults()
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(opts.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s local [--addr %s] [--dynamodb-endpoint URL [--table-prefix P] [--fresh]] [--shards 1] [--worker-timeout 15m] [--direct-dispatch=true] [limits] [--log-level info] [--watch]\n"+
			"       %s local --template cdk.out/<Stack>.template.json --dynamodb-endpoint URL [--async-retry-delay 1m]\n\nFlags:\n",
			opts.Name, local.DefaultAddr, opts.Name)
		fs.PrintDefaults()
	}
	var f localFlags
	fs.StringVar(&f.addr, "addr", local.DefaultAddr, "listen address; loopback only unless --insecure-expose-to-network")
	fs.BoolVar(&f.expose, "insecure-expose-to-network", false, "allow an --addr that is not loopback: whoever reaches it can use the stack (its dev endpoints still answer loopback only)")
	fs.StringVar(&f.endpoint, "dynamodb-endpoint", "", "use DynamoDB at this URL (e.g. DynamoDB Local) and its Streams API; the tables are kept, and what a stopped or killed run left unfinished is picked up at start; default: the in-memory store")
	fs.StringVar(&f.prefix, "table-prefix", local.DefaultTablePrefix, "prefix of the table names on --dynamodb-endpoint (two stacks must not share tables)")
	fs.BoolVar(&f.fresh, "fresh", false, "drop the tables on --dynamodb-endpoint first: start empty")
	fs.DurationVar(&f.redriveAfter, "redrive-after", contract.DefaultRedriveAfter, "hand out again a request left PENDING, or PROCESSING after its lease ended, this long")
	fs.IntVar(&f.limits.UserMaxInFlight, "user-max-in-flight", contract.DefaultUserMaxInFlight, "async requests one user may have in flight (-1: no limit)")
	fs.Float64Var(&f.limits.UserRate, "user-rate", contract.DefaultUserRate, "new async requests per second one user may send, sustained (-1: no limit)")
	fs.IntVar(&f.limits.UserBurst, "user-burst", contract.DefaultUserBurst, "new async requests one user may send at once")
	fs.IntVar(&f.limits.TenantMaxInFlight, "tenant-max-in-flight", contract.DefaultTenantMaxInFlight, "async requests one tenant may have in flight (-1: no limit; at most 1000)")
	fs.Float64Var(&f.limits.TenantRate, "tenant-rate", contract.DefaultTenantRate, "new async requests per second one tenant may send, sustained (-1: no limit)")
	fs.IntVar(&f.limits.TenantBurst, "tenant-burst", contract.DefaultTenantBurst, "new async requests one tenant may send at once")
	fs.BoolVar(&f.noLimits, "no-limits", false, "turn every limit off")
	fs.IntVar(&f.shards, "shards", 1, "ordered lanes per stream shard, like the event source mapping's ParallelizationFactor (1-10); the in-memory feed is one shard")
	fs.DurationVar(&f.workerTimeout, "worker-timeout", 0, "the worker function's timeout (default "+local.DefaultFunctionSettings()[contract.RoleWorker].Timeout.String()+"); a short one (e.g. 2s) shows a checkpointing job going on in new invocations")
	fs.BoolVar(&f.direct, "direct-dispatch", true, "the router starts a worker at once after queuing a request; false leaves every request to the stream")
	fs.StringVar(&f.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.watch, "watch", false, "rebuild and restart when a source file of this program changes, keeping the port and the dev signing key (run from the program's module, e.g. with go run)")
	fs.StringVar(&f.template, "template", "", "run the stack this synthesized CloudFormation template describes (its tables, functions from cdk.out, API, stream mapping and IAM policies) instead of this program's actions; needs --dynamodb-endpoint")
	fs.DurationVar(&f.retryDelay, "async-retry-delay", local.DefaultWorkerRetryDelay, "with --template: the wait before Lambda's first retry of a failed asynchronous invocation (doubled for the second)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var lvl slog.Level
	if fs.NArg() > 0 || lvl.UnmarshalText([]byte(f.level)) != nil || f.workerTimeout < 0 {
		fs.Usage()
		return ExitUsage
	}
	lim := f.limits
	if f.noLimits {
		lim = store.NoLimits()
	}
	if _, err := lim.WithDefaults(); err != nil {
		fmt.Fprintf(opts.Stderr, "%s local: %v\n", opts.Name, err)
		return ExitUsage
	}
	if !f.expose && !local.IsLoopbackAddr(f.addr) {
		fmt.Fprintf(opts.Stderr, "%s local: --addr %s is not a loopback address: anyone who can reach it could mint tokens for any user and run every action. Use 127.0.0.1, or add --insecure-expose-to-network if that is what you want.\n", opts.Name, f.addr)
		return ExitUsage
	}
	app.Configure(lambdas.WithLimits(lim), lambdas.WithRedriveAfter(f.redriveAfter))
	logger := slog.New(slog.NewTextHandler(opts.Stderr, &slog.HandlerOptions{Level: lvl}))
	cfg := local.Config{Addr: f.addr, InsecureExposeToNetwork: f.expose, DynamoDBEndpoint: f.endpoint, TablePrefix: f.prefix, FreshTables: f.fresh,
		Shards: f.shards, App: app, Logger: logger, StreamOnly: !f.direct}
	if f.workerTimeout > 0 {
		cfg.Functions = map[string]local.FunctionSettings{contract.RoleWorker: {Timeout: f.workerTimeout}}
	}
	if f.template != "" {
		switch {
		case f.endpoint == "":
			fmt.Fprintf(opts.Stderr, "%s local: --template needs --dynamodb-endpoint (the template's tables are created there): start one with scripts/dynamodb-local.sh start\n", opts.Name)
			return ExitUsage
		case f.workerTimeout > 0 || !f.direct:
			fmt.Fprintf(opts.Stderr, "%s local: --template takes the worker's timeout and direct dispatch from the template; set them on StreamerApi (WorkerTimeout, DirectDispatch) and synthesize again\n", opts.Name)
			return ExitUsage
		case f.watch:
			fmt.Fprintf(opts.Stderr, "%s local: --template runs the functions built into cdk.out; rebuild with cdk synth instead of --watch\n", opts.Name)
			return ExitUsage
		}
		cfg.App, cfg.Template, cfg.FunctionOutput, cfg.WorkerRetryDelay = nil, f.template, opts.Stderr, f.retryDelay
	}

	if h, ok, err := takeHandoff(); ok || err != nil {
		if err != nil {
			fmt.Fprintf(opts.Stderr, "%s local: %v\n", opts.Name, err)
			return ExitError
		}
		return serveHandedOff(ctx, cfg, h, opts)
	}
	if f.watch {
		return watch(ctx, f, opts)
	}

	st, err := local.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(opts.Stderr, "%s local: %v\n", opts.Name, err)
		return ExitError
	}
	tok, err := st.Token(local.DefaultDevUser, local.DefaultDevTenant, bannerTokenTTL)
	if err != nil {
		fmt.Fprintf(opts.Stderr, "%s local: %v\n", opts.Name, err)
	}
	banner(opts.Stdout, bannerInfo{cli: opts.CLI, base: st.URL(), endpoint: f.endpoint, template: f.template, token: tok, actions: st.Actions()})
	<-ctx.Done()
	return stop(ctx, st, opts)
}

// stop shuts st down after ctx ended and returns the exit code.
func stop(ctx context.Context, st *local.Stack, opts Options) int {
	fmt.Fprintf(opts.Stderr, "%s local: shutting down\n", opts.Name)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := st.Shutdown(sctx); err != nil {
		fmt.Fprintf(opts.Stderr, "%s local: shutdown: %v\n", opts.Name, err)
		return ExitError
	}
	return ExitOK
}

// bannerInfo is what the banner shows.
type bannerInfo struct {
	cli      string // the Streamer CLI to suggest
	base     string // the stack's HTTP URL, e.g. http://127.0.0.1:8080
	endpoint string // the DynamoDB endpoint, "" for the in-memory store
	template string // the template run in template mode, "" otherwise
	token    string // a dev token, "" when none could be minted
	actions  []local.ActionInfo
	watching bool
}

// banner tells the user where everything is and how to try the app's actions.
func banner(w io.Writer, in bannerInfo) {
	store := "in memory"
	if in.endpoint != "" {
		store = "DynamoDB at " + in.endpoint
		if in.template == "" {
			store += ", kept across restarts"
		}
	}
	ws := "ws://" + strings.TrimPrefix(in.base, "http://") + "/"
	var b strings.Builder
	if in.template != "" {
		fmt.Fprintf(&b, "\nStreamer local stack is running the template %s (store: %s).\n\n", in.template, store)
	} else {
		fmt.Fprintf(&b, "\nStreamer local stack is running (store: %s).\n\n", store)
	}
	fmt.Fprintf(&b, "  Page          %s/\n", in.base)
	fmt.Fprintf(&b, "  WebSocket     %s\n", ws)
	fmt.Fprintf(&b, "  @connections  %s/@connections/{id}\n", in.base)
	if in.template == "" { // the template's own authorizer verifies tokens
		fmt.Fprintf(&b, "  JWKS          %s%s\n", in.base, auth.JWKSPath)
	}
	fmt.Fprintf(&b, "  Actions       %s/dev/actions\n", in.base)
	fmt.Fprintf(&b, "  Metrics       %s/metrics\n\n", in.base)
	if in.template != "" {
		fmt.Fprintf(&b, "The functions are the template's own, from cdk.out: send any of their actions.\n\n")
	} else if len(in.actions) == 0 {
		fmt.Fprintf(&b, "No actions are registered: only the system actions (streamer.ping, ...) answer.\n\n")
	} else {
		names := make([]string, len(in.actions))
		for i, a := range in.actions {
			names[i] = a.Name + " (" + a.Mode + ")"
		}
		fmt.Fprintf(&b, "Actions: %s\n\n", strings.Join(names, ", "))
	}
	if in.token != "" {
		fmt.Fprintf(&b, "A token for user %s in tenant %s, valid %s (`%s call` reads $STREAMER_TOKEN):\n\n", local.DefaultDevUser, local.DefaultDevTenant, bannerTokenTTL, in.cli)
		fmt.Fprintf(&b, "  export STREAMER_TOKEN=%s\n\n", in.token)
	}
	fmt.Fprintf(&b, "Try it:\n\n")
	fmt.Fprintf(&b, "  open %s/ in a browser\n", in.base)
	var first *local.ActionInfo
	for i, a := range in.actions {
		if a.Example == nil {
			continue
		}
		if first == nil {
			first = &in.actions[i]
		}
		fmt.Fprintf(&b, "  %s call --url %s %s %s\n", in.cli, ws, a.Name, shellQuote(compactJSON(a.Example)))
	}
	if first != nil {
		fmt.Fprintf(&b, "  %s call --url %s --token \"$(%s token --url %s --user alice --tenant acme)\" %s %s\n",
			in.cli, ws, in.cli, in.base, first.Name, shellQuote(compactJSON(first.Example)))
	}
	b.WriteString("\n")
	if in.watching {
		b.WriteString("Watching the program's source: a change rebuilds and restarts the stack on the same port,\nwith the same signing key (open pages reconnect, tokens stay valid).\n")
	}
	b.WriteString("Press Ctrl-C to stop.\n\n")
	_, _ = io.WriteString(w, b.String())
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// compactJSON returns raw without insignificant space, or as it is when it is not JSON.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
