// Package protocol is Streamer's wire protocol (docs/PROTOCOL.md): the client's frame,
// the server's messages, the error codes and the Error value they carry, the system
// actions, and the rules for results larger than one WebSocket message (SplitResult
// and Reassembler).
//
// It imports nothing else of Streamer, so that clients (the Go client, tests, tools)
// depend on the protocol alone, and servers carry its messages as bytes.
package protocol
