package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/store"
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
	fs := newFlagSet(e, "local", "local [--addr 127.0.0.1:8080] [--dynamodb-endpoint URL [--table-prefix P] [--fresh]] [--shards 1] [limits] [--log-level info]")
	addr := fs.String("addr", local.DefaultAddr, "listen address; loopback only unless --insecure-expose-to-network")
	expose := fs.Bool("insecure-expose-to-network", false, "allow an --addr that is not loopback: whoever reaches it can use the stack (its dev endpoints still answer loopback only)")
	endpoint := fs.String("dynamodb-endpoint", "", "use DynamoDB at this URL (e.g. DynamoDB Local) and its Streams API; the tables are kept, and what a stopped or killed run left unfinished is picked up at start; default: the in-memory store")
	prefix := fs.String("table-prefix", local.DefaultTablePrefix, "prefix of the table names on --dynamodb-endpoint (two stacks must not share tables)")
	fresh := fs.Bool("fresh", false, "drop the tables on --dynamodb-endpoint first: start empty")
	shards := fs.Int("shards", 1, "ordered lanes per stream shard, like the event source mapping's ParallelizationFactor (1-10); the in-memory feed is one shard")
	redriveAfter := fs.Duration("redrive-after", contract.DefaultRedriveAfter, "hand out again a request left PENDING, or PROCESSING after its lease ended, this long")
	var lim store.Limits
	fs.IntVar(&lim.UserMaxInFlight, "user-max-in-flight", contract.DefaultUserMaxInFlight, "async requests one user may have in flight (-1: no limit)")
	fs.Float64Var(&lim.UserRate, "user-rate", contract.DefaultUserRate, "new async requests per second one user may send, sustained (-1: no limit)")
	fs.IntVar(&lim.UserBurst, "user-burst", contract.DefaultUserBurst, "new async requests one user may send at once")
	fs.IntVar(&lim.TenantMaxInFlight, "tenant-max-in-flight", contract.DefaultTenantMaxInFlight, "async requests one tenant may have in flight (-1: no limit; at most 1000)")
	fs.Float64Var(&lim.TenantRate, "tenant-rate", contract.DefaultTenantRate, "new async requests per second one tenant may send, sustained (-1: no limit)")
	fs.IntVar(&lim.TenantBurst, "tenant-burst", contract.DefaultTenantBurst, "new async requests one tenant may send at once")
	noLimits := fs.Bool("no-limits", false, "turn every limit off")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var lvl slog.Level
	if fs.NArg() > 0 || lvl.UnmarshalText([]byte(*level)) != nil {
		fs.Usage()
		return exitUsage
	}
	if *noLimits {
		lim = store.NoLimits()
	}
	if _, err := lim.WithDefaults(); err != nil {
		fmt.Fprintln(e.stderr, "streamer local:", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))

	app := lambdas.New(lambdas.WithLimits(lim), lambdas.WithRedriveAfter(*redriveAfter))
	if err := demo.Register(app); err != nil {
		fmt.Fprintln(e.stderr, "streamer local: register the demo actions:", err)
		return exitError
	}
	st, err := local.Start(ctx, local.Config{
		Addr:                    *addr,
		InsecureExposeToNetwork: *expose,
		DynamoDBEndpoint:        *endpoint,
		TablePrefix:             *prefix,
		FreshTables:             *fresh,
		Shards:                  *shards,
		App:                     app,
		Logger:                  logger,
	})
	if errors.Is(err, local.ErrNotLoopback) {
		fmt.Fprintf(e.stderr, "streamer local: --addr %s is not a loopback address: anyone who can reach it could mint tokens for any user and run every action. Use 127.0.0.1, or add --insecure-expose-to-network if that is what you want.\n", *addr)
		return exitUsage
	}
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
	where := "in memory"
	if endpoint != "" {
		where = "DynamoDB at " + endpoint + ", kept across restarts"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nStreamer local stack is running (store: %s).\n\n", where)
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
	fmt.Fprintf(&b, "  %s call --url %s --token \"$(%s token --url %s --user alice --tenant acme)\" process_data '{\"items\":20,\"item_ms\":100}'\n\n", prog, st.WebSocketURL(), prog, st.URL())
	fmt.Fprintf(&b, "Press Ctrl-C to stop.\n\n")
	_, _ = io.WriteString(w, b.String())
}
