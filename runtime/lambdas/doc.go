// Package lambdas wires the runtime into the Lambda functions of a Streamer deployment:
// the $connect authorizer, connect, disconnect, router, processor (the Requests table's
// stream dispatcher) and worker. One binary serves every role; the construct sets
// STREAMER_FUNCTION on each function and Start picks the handler from it.
//
// A user's main is three lines:
//
//	app := lambdas.New()
//	demo.Register(app) // app.Handle("my_action", handler), app.Use(middleware), ...
//	lambdas.Start(app)
//
// Functions returns the same handlers as plain functions over explicit dependencies, for
// tests and for the local stack, which runs them unchanged.
package lambdas
