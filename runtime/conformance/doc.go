// Package conformance checks a running Streamer stack against the guarantees of
// docs/PROTOCOL.md, from an app's own tests: against the app's local stack in the test's
// process (StartLocal), a local stack run as a process (Local), or a deployed stack (a
// Config with its WebSocket URL and a TokenSource of your identity provider).
//
// The suite needs only a few of the app's actions, described in the Config: a
// synchronous one (Sync), an asynchronous one that completes within seconds (Async), one
// that runs a minute or more unless cancelled (Long, may be Async's action with a larger
// payload) and one whose result is larger than one message (Large). Run runs each
// guarantee as a parallel subtest with a stable name; one that needs an action (or a
// hook) the Config leaves out is skipped, saying which:
//
//	Ping                      streamer.ping answers {"type":"pong"}
//	BadTokens                 no token, garbage, a bad signature: HTTP 401, no reason sent; so is a token only in the Authorization header
//	ExpiredToken              an expired token: HTTP 401                        (ExpiredTokens)
//	BadFrames                 bad frames get an error with the right code; the connection stays open
//	OversizedFrame            a message over 128 KB: PAYLOAD_TOO_LARGE; the connection stays open
//	UnknownRequest            status and cancel of an id nobody used: NOT_FOUND
//	SyncResult                a result, no ack, no progress                     (Sync)
//	SyncGeneratedID           a request without an id gets one                  (Sync)
//	AsyncLifecycle            ack, ordered and coalesced progress, one terminal (Async)
//	AsyncGeneratedID          the generated id in the ack and every reply       (Async)
//	DuplicateID               an id sent again runs nothing twice               (Async)
//	ResultAfterDisconnect     the outcome is stored for a client that went away (Async)
//	ResumeAfterReconnect      streamer.status resumes a request on a new socket (Long)
//	CancelRunning             streamer.cancel stops a running request           (Long)
//	CancelPending             streamer.cancel before a worker: it never runs    (Long; skipped when a worker always wins)
//	TenantIsolation           nobody else sees or cancels a request             (Async)
//	LargeResult               a result over 128 KB arrives in ordered parts     (Large)
//	ClientSurvivesServerDrop  the Go client reconnects and resumes              (Long, Drop)
//
// Conn and the Check functions are the suite's raw-socket tools, for an app's own checks
// on the wire.
package conformance
