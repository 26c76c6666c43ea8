package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/streamer-go/streamer/cmd/bench"
)

// runBench implements `streamer bench`.
func runBench(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "bench", "bench [--url ws://127.0.0.1:8080] [--token T] [--scenario echo,async,...] [--n N] [--connections C] [--jobs M] [--duration-limit 2m] [--aws-model] [--direct-dispatch=true] [--soak-connections 1000] [--soak-duration 1m] [--json]")
	url := fs.String("url", "", "the stack's WebSocket URL; empty starts a local stack in this process")
	token := fs.String("token", "", "the token; empty with a loopback URL asks the local stack for a dev token")
	scenarios := fs.String("scenario", strings.Join(bench.DefaultScenarios(), ","), "comma-separated scenarios to run, of "+strings.Join(bench.Scenarios(), ",")+" (soak only when named)")
	n := fs.Int("n", 0, "requests: echo in total (default 20000), async (100), floor per target (30000), cost per action (100)")
	connections := fs.Int("connections", bench.DefaultConnections, "C: connections of echo and floor; fanout's N")
	jobs := fs.Int("jobs", bench.DefaultJobs, "M: one-second jobs of concurrency and dispatch")
	limit := fs.Duration("duration-limit", bench.DefaultDurationLimit, "time limit of each scenario (coldstart gets at least 10m to build)")
	soakConns := fs.Int("soak-connections", bench.DefaultSoakConnections, "soak: connections, one user each (plus one user over its limit)")
	soakFor := fs.Duration("soak-duration", bench.DefaultSoakDuration, "soak: how long new requests are sent; the outcomes are then waited for")
	runs := fs.Int("runs", 7, "coldstart: starts of the bootstrap (the median is reported)")
	allowRemote := fs.Bool("allow-remote", false, "allow a URL that is not loopback (a deployed stack)")
	awsModel := fs.Bool("aws-model", false, "the local stacks the bench starts wait what AWS adds (API Gateway, Lambda invokes, stream propagation, DynamoDB; see docs/PERFORMANCE.md)")
	direct := fs.Bool("direct-dispatch", true, "the local stacks the bench starts dispatch requests to workers from the router; false: through the stream only (async measures both anyway)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of tables")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	rep, err := bench.Run(ctx, bench.Options{
		URL:             *url,
		Token:           *token,
		AllowRemote:     *allowRemote,
		Scenarios:       strings.Split(*scenarios, ","),
		N:               *n,
		Connections:     *connections,
		Jobs:            *jobs,
		DurationLimit:   *limit,
		ColdStartRuns:   *runs,
		AWSModel:        *awsModel,
		StreamOnly:      !*direct,
		SoakConnections: *soakConns,
		SoakDuration:    *soakFor,
		Progress:        bench.Progress{W: e.stderr, Terminal: isTerminal(e.stderr)},
	})
	if err != nil && rep == nil {
		fmt.Fprintln(e.stderr, "streamer bench:", err)
		return exitUsage
	}
	write := rep.WriteTable
	if *asJSON {
		write = rep.WriteJSON
	}
	if werr := write(e.stdout); werr != nil {
		fmt.Fprintln(e.stderr, "streamer bench:", werr)
		return exitError
	}
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer bench:", err)
		return exitError
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			return exitError
		}
	}
	return exitOK
}
