package main

import (
	"context"
	"fmt"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/launch"
)

// runLocal implements `streamer local`: the local command every app's main has
// (launch.Local), with the demo actions.
func runLocal(ctx context.Context, e env, args []string) int {
	app := lambdas.New()
	if err := demo.Register(app); err != nil {
		fmt.Fprintln(e.stderr, "streamer local: register the demo actions:", err)
		return exitError
	}
	return launch.Local(ctx, app, args, launch.Options{Name: "streamer", CLI: e.prog, Stdout: e.stdout, Stderr: e.stderr})
}
