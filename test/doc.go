// Package e2e is Streamer's end-to-end suite. Its tests drive a running stack only
// through its public surfaces (the Go client, raw WebSocket connections and the HTTP
// endpoints of `streamer local`) and check every guarantee of docs/PROTOCOL.md.
package e2e
