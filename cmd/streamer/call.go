package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// runCall implements `streamer call`: one action, its progress on stderr, its outcome
// on stdout. Exit 0 for a result, 1 for an error (from the server or on the way), 2 for
// a bad command line.
func runCall(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "call", "call [--url ws://127.0.0.1:8080/] --token T [--id ID] [--timeout 20m] [--quiet] ACTION [PAYLOAD-JSON]")
	url := fs.String("url", "ws://"+local.DefaultAddr+"/", "the WebSocket API's URL (ws:// or wss://)")
	token := fs.String("token", os.Getenv("STREAMER_TOKEN"), "the JWT to connect with (default $STREAMER_TOKEN)")
	id := fs.String("id", "", "the request id (default: random); the same id again never runs the work twice")
	timeout := fs.Duration("timeout", 20*time.Minute, "give up waiting after this long")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 || *token == "" {
		fs.Usage()
		return exitUsage
	}
	action := fs.Arg(0)
	var payload any // none unless given: a nil json.RawMessage would not be "none"
	if fs.NArg() == 2 {
		raw := json.RawMessage(fs.Arg(1))
		if !json.Valid(raw) {
			fmt.Fprintln(e.stderr, "streamer call: PAYLOAD-JSON is not valid JSON")
			return exitUsage
		}
		payload = raw
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// The client's reconnects (a dropped socket, a stack restarting) show on stderr.
	logLevel := slog.LevelInfo
	if *quiet {
		logLevel = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: logLevel}))
	c, err := client.Dial(ctx, *url, *token, client.Options{Logger: logger})
	if err != nil {
		if errors.Is(err, client.ErrUnauthorized) {
			err = fmt.Errorf("the token was refused (expired, or minted by another stack?): %w", err)
		}
		fmt.Fprintln(e.stderr, "streamer call:", err)
		return exitError
	}
	defer c.Close()

	bar := newProgressBar(e.stderr)
	opts := []client.CallOption{}
	if *id != "" {
		opts = append(opts, client.WithID(*id))
	}
	if !*quiet {
		opts = append(opts, client.OnProgress(func(p protocol.ProgressMessage) { bar.Update("running", p.Percentage, p.Message) }))
	}
	call, err := c.Call(ctx, action, payload, opts...)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer call:", err)
		return exitError
	}
	if !*quiet {
		bar.Update("sent", 0, action+" "+call.ID)
	}
	res, err := call.Wait(ctx)
	var se *streamer.Error
	switch {
	case err == nil:
		if !*quiet {
			bar.Update("done", 100, fmt.Sprintf("%s in %d ms", action, res.DurationMS))
			bar.Done()
		}
		printJSON(e, res)
		return exitOK
	case errors.As(err, &se):
		bar.Done()
		printJSON(e, protocol.NewErrorMessage(call.ID, se))
		fmt.Fprintf(e.stderr, "streamer call: %s\n", se.Error())
		return exitError
	default:
		bar.Done()
		fmt.Fprintln(e.stderr, "streamer call:", err)
		return exitError
	}
}

func printJSON(e env, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer call: encode the outcome:", err)
		return
	}
	fmt.Fprintln(e.stdout, string(b))
}
