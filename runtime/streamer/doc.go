// Package streamer is the core of the Streamer framework: the request, result and error
// types, the Handler interfaces users implement, the wire messages of the protocol, and
// the Router that turns API Gateway WebSocket events into handler runs.
//
// Short actions (estimated at or under the async threshold, 5 s by default) run inside
// the router and answer on the socket as the route response. Long actions are written to
// the request queue and answered with an ack; a worker runs them later and reports
// progress through a Reporter.
package streamer
