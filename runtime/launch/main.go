package launch

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

	"github.com/streamer-go/streamer/runtime/lambdas"
)

// EnvLambdaRuntimeAPI is set by Lambda in every function's environment; Main starts the
// function's role when it is set.
const EnvLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"

// Exit codes of Run and Local.
const (
	ExitOK    = 0 // success, or stopped by a signal
	ExitError = 1 // the stack could not start or stop cleanly
	ExitUsage = 2 // bad command line
)

// Options are what the command line prints with and where.
type Options struct {
	// Name is how the user runs the program, shown in usage lines. Default: the base
	// name of os.Args[0].
	Name string
	// CLI is the Streamer CLI command the banner suggests for `call` and `token`.
	// Default: "streamer".
	CLI string
	// Stdout receives the banner. Default: os.Stdout.
	Stdout io.Writer
	// Stderr receives logs and errors. Default: os.Stderr.
	Stderr io.Writer
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = filepath.Base(os.Args[0])
	}
	if o.CLI == "" {
		o.CLI = "streamer"
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o
}

// Main runs app: on Lambda the role STREAMER_FUNCTION names (lambdas.Start, which never
// returns), elsewhere the command line in os.Args until SIGINT or SIGTERM. It exits the
// process with Run's code.
func Main(app *lambdas.App) {
	if os.Getenv(EnvLambdaRuntimeAPI) != "" {
		lambdas.Start(app)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, app, os.Args[1:], Options{})
	stop()
	os.Exit(code)
}

// Run runs the command line args (without the program name) for app and returns the
// exit code. Its one command is `local` (see Local); `help` prints the usage.
func Run(ctx context.Context, app *lambdas.App, args []string, opts Options) int {
	opts = opts.withDefaults()
	if len(args) == 0 {
		usage(opts.Stderr, opts.Name)
		return ExitUsage
	}
	switch args[0] {
	case "local":
		return Local(ctx, app, args[1:], opts)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "local" {
			return Local(ctx, app, []string{"-h"}, opts)
		}
		usage(opts.Stdout, opts.Name)
		return ExitOK
	default:
		fmt.Fprintf(opts.Stderr, "%s: unknown command %q\n\n", opts.Name, args[0])
		usage(opts.Stderr, opts.Name)
		return ExitUsage
	}
}

func usage(w io.Writer, name string) {
	fmt.Fprintf(w, "Usage: %s local [flags]\n\n", name)
	fmt.Fprintln(w, "On AWS Lambda this program serves the function role in STREAMER_FUNCTION.")
	fmt.Fprintln(w, "Elsewhere, `local` runs the whole system on this machine with its actions:")
	fmt.Fprintln(w, "the WebSocket API, the functions, a store, and a page at / to try each action.")
	fmt.Fprintf(w, "`%s help local` lists its flags.\n", name)
}

// parseFlags parses fs and returns the exit code to stop with when parsing ends the
// command: ExitOK after -h, ExitUsage after a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return ExitOK, true
}
