package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
)

// Settings of `streamer local`.
const (
	// bannerTokenTTL is the lifetime of the token printed at start.
	bannerTokenTTL = 12 * time.Hour
	// shutdownTimeout bounds the clean shutdown after SIGINT/SIGTERM; running jobs are
	// cancelled when it runs out.
	shutdownTimeout = 30 * time.Second
)

// runLocal implements `streamer local`: the whole system with the demo actions.
func runLocal(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "local", "local [--addr 127.0.0.1:8080] [--dynamodb-endpoint URL] [--shards 1] [--worker-timeout 15m] [--direct-dispatch=true] [--log-level info]")
	addr := fs.String("addr", local.DefaultAddr, "listen address (loopback: nothing but the WebSocket API is authenticated)")
	endpoint := fs.String("dynamodb-endpoint", "", "use DynamoDB at this URL (e.g. DynamoDB Local) in fresh tables, and its Streams API; default: the in-memory store")
	shards := fs.Int("shards", 1, "ordered lanes per stream shard, like the event source mapping's ParallelizationFactor (1-10); the in-memory feed is one shard")
	workerTimeout := fs.Duration("worker-timeout", local.DefaultFunctionSettings()[contract.RoleWorker].Timeout,
		"the worker function's timeout; a short one (e.g. 2s) shows long_job going on in new invocations")
	direct := fs.Bool("direct-dispatch", true, "the router starts a worker at once after queuing a request; false leaves every request to the stream")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var lvl slog.Level
	if fs.NArg() > 0 || lvl.UnmarshalText([]byte(*level)) != nil || *workerTimeout <= 0 {
		fs.Usage()
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))

	app := lambdas.New(lambdas.WithDirectDispatch(*direct))
	if err := demo.Register(app); err != nil {
		fmt.Fprintln(e.stderr, "streamer local: register the demo actions:", err)
		return exitError
	}
	st, err := local.Start(ctx, local.Config{
		Addr:             *addr,
		DynamoDBEndpoint: *endpoint,
		Shards:           *shards,
		App:              app,
		Logger:           logger,
		Functions:        map[string]local.FunctionSettings{contract.RoleWorker: {Timeout: *workerTimeout}},
	})
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer local:", err)
		return exitError
	}
	tok, err := st.Token(local.DefaultDevUser, local.DefaultDevTenant, bannerTokenTTL)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer local:", err)
	}
	banner(e.stdout, e.prog, st, *endpoint, tok)

	<-ctx.Done()
	fmt.Fprintln(e.stderr, "streamer local: shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := st.Shutdown(sctx); err != nil {
		fmt.Fprintln(e.stderr, "streamer local: shutdown:", err)
		return exitError
	}
	return exitOK
}

// banner tells the user where everything is and how to try it.
func banner(w io.Writer, prog string, st *local.Stack, endpoint, token string) {
	store := "in memory"
	if endpoint != "" {
		store = "DynamoDB at " + endpoint
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nStreamer local stack is running (store: %s).\n\n", store)
	fmt.Fprintf(&b, "  Demo page     %s/\n", st.URL())
	fmt.Fprintf(&b, "  WebSocket     %s\n", st.WebSocketURL())
	fmt.Fprintf(&b, "  @connections  %s/@connections/{id}\n", st.CallbackURL())
	fmt.Fprintf(&b, "  JWKS          %s\n", st.JWKSURL())
	fmt.Fprintf(&b, "  Metrics       %s/metrics\n\n", st.URL())
	if token != "" {
		fmt.Fprintf(&b, "A token for user %s in tenant %s, valid %s (`%s call` reads $STREAMER_TOKEN):\n\n", local.DefaultDevUser, local.DefaultDevTenant, bannerTokenTTL, prog)
		fmt.Fprintf(&b, "  export STREAMER_TOKEN=%s\n\n", token)
	}
	fmt.Fprintf(&b, "Try it:\n\n")
	fmt.Fprintf(&b, "  open %s/ in a browser\n", st.URL())
	fmt.Fprintf(&b, "  %s call --url %s generate_report '{\"start_date\":\"2026-01-01\",\"end_date\":\"2026-01-31\"}'\n", prog, st.WebSocketURL())
	fmt.Fprintf(&b, "  %s call --url %s --token \"$(%s token --url %s --user alice --tenant acme)\" process_data '{\"items\":20,\"item_ms\":100}'\n", prog, st.WebSocketURL(), prog, st.URL())
	fmt.Fprintf(&b, "  %s call --url %s long_job '{\"steps\":30,\"step_ms\":200}'   (start with --worker-timeout 2s to see it go on in new invocations)\n\n", prog, st.WebSocketURL())
	fmt.Fprintf(&b, "Press Ctrl-C to stop.\n\n")
	_, _ = io.WriteString(w, b.String())
}
