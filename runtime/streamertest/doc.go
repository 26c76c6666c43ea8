// Package streamertest holds test helpers for code built on Streamer: Run, which runs
// one handler as the deployed stack would and returns what the client received; fakes
// of what handlers and reporters send through (Sender, ConnectionManager); a fake of the
// API Gateway Management API (@connections) served over real HTTP (APIGateway), so that
// code using the real AWS SDK client and connection.Manager can be tested without AWS; a
// builder of the events API Gateway hands the router (MessageEvent); and an assertion of
// the protocol's guarantees on the messages a client received (RequireProtocol).
//
// Fakes are named after what they stand in for, without a Mock or Fake affix, as
// net/http/httptest names its Server: the package name already says they are test
// doubles. The names SendOnlyMock, ProgressReporterMock, MockConnectionManager and
// TestableAPIGatewayClient, and their New functions, are aliases kept for code written
// against them.
//
// Every helper is safe for concurrent use and records what it was sent as Message
// values, decoded for convenient assertions. Helpers that need cleanup take a testing.TB
// and register it. See docs/guides/testing.md for a walkthrough.
package streamertest
