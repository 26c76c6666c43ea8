// Command streamer is the Streamer CLI: it creates an app (`streamer init`), runs the
// whole system on this machine with the demo actions (`streamer local`), mints tokens
// (`streamer token`), sends one action and shows its progress (`streamer call`),
// measures a stack (`streamer bench`), and replays a deployed stack's dead-letter queue
// (`streamer redrive`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0 // success
	exitError = 1 // the action answered an error, or the call failed
	exitUsage = 2 // bad command line
)

// env is what a command runs with: its name for messages, its output streams.
type env struct {
	prog   string // how the user invoked the CLI, for the lines it suggests
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

func commands() []command {
	return []command{
		{"init", "create a new app: handlers, their tests, a local stack, a CDK app", runInit},
		{"local", "run the whole system here: WebSocket API, functions, store, demo page", runLocal},
		{"token", "print a token: a local stack's dev token, or one signed with a deployed stack's HMAC secret", runToken},
		{"call", "send one action, show its progress, print the result", runCall},
		{"bench", "measure latency, throughput and cost per request (local or deployed)", runBench},
		{"redrive", "replay a deployed stack's dead-letter queue: dispatch its requests again", runRedrive},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, env{prog: progName(os.Args[0]), stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// progName is the name to suggest in example lines: "streamer" when run from PATH or
// `go run`, the relative path when run as ./bin/streamer.
func progName(arg0 string) string {
	if filepath.IsAbs(arg0) || arg0 == "" {
		return "streamer"
	}
	return arg0
}

// run dispatches to a subcommand and returns the exit code.
func run(ctx context.Context, e env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					return c.run(ctx, e, []string{"-h"})
				}
			}
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "streamer: unknown command %q\n\n", name)
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Streamer: long-running work behind an API Gateway WebSocket API, with live progress.")
	fmt.Fprintln(w, "\nUsage: streamer <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help    show this text, or `streamer help <command>` for a command's flags")
}

// parseFlags parses a subcommand's flags. It returns the exit code to stop with when
// parsing ends the command: 0 after -h, 2 after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// newFlagSet returns a flag set that reports errors on e.stderr with the command's
// synopsis.
func newFlagSet(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: streamer %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}
