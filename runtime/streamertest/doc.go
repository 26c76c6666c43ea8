// Package streamertest holds test helpers for code built on Streamer: fakes of the
// connection manager for handler and reporter tests, a fake of the API Gateway
// Management API (@connections) served over real HTTP, so that code using the real AWS
// SDK client and connection.Manager can be tested without AWS, a builder of the events
// API Gateway hands the router (MessageEvent), and an assertion of the protocol's
// guarantees on the messages a client received (RequireProtocol).
//
// Every helper is safe for concurrent use and records what it was sent as Message
// values, decoded for convenient assertions. Helpers that need cleanup take a testing.TB
// and register it. See docs/guides/testing.md for a walkthrough.
package streamertest
