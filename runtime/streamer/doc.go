// Package streamer is what a Streamer application is written against: the actions it
// offers, the requests they get, the results and errors they return, and the Registry
// that holds them.
//
// A typed action is a plain function of a context and a *Job, whose Payload is the
// client's payload decoded into a Go type (unknown fields and type errors are refused
// with VALIDATION_ERROR naming the field, and an optional Validate method on the payload
// type runs before anything else). It returns its result or an error; that is the only
// way to finish. Sync registers it to run at once on the socket, Async to be queued and
// run by a worker, with progress:
//
//	reg := streamer.NewRegistry()
//	err := reg.Handle("greet", streamer.Sync(greet))
//	err = reg.Handle("resize", streamer.Async(resize))
//
// The interfaces Handler and HandlerWithProgress, with their Reporter, remain the
// low-level contract that the typed layer is built on; a Registry takes either.
//
// The wire messages are in package protocol, the router in package router, the worker in
// package executor; package lambdas runs a Registry as the Lambda functions and package
// local as the local stack.
package streamer
