package bench

import (
	"context"
	"time"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// clientOptions are the options of every bench connection. No keep-alive pings: the
// cost scenario would count them in its usage, and no scenario leaves a connection idle.
// No reconnects: a dropped connection is a failure to report, not one to hide in a
// latency. A progress buffer of one: the bench reads messages through OnMessage.
func clientOptions() client.Options {
	return client.Options{PingInterval: -1, MaxReconnectAttempts: -1, ProgressBuffer: 1}
}

// dial opens a connection to rawURL with token.
func dial(ctx context.Context, rawURL, token string) (*client.Client, error) {
	return client.Dial(ctx, rawURL, token, clientOptions())
}

// jobTimes are the latencies of one request from the moment it was sent.
type jobTimes struct {
	ack, done                   time.Duration
	firstProgress, lastProgress time.Duration
	prevProgress                time.Duration // the progress message before the last
	progress                    int           // progress messages received
	messages                    int           // messages received about the request
	resultBytes                 int           // size of the terminal message (all its parts)
}

// arrivals records when the messages of one request were read off the socket. Its
// observe runs on the client's reading goroutine; the call's end orders it before Wait
// returns.
type arrivals struct {
	start time.Time
	t     jobTimes
}

func (a *arrivals) observe(m client.Message) {
	d := m.Received.Sub(a.start)
	a.t.messages++
	switch m.Type {
	case protocol.TypeAck:
		a.t.ack = d
	case protocol.TypeProgress:
		if a.t.progress == 0 {
			a.t.firstProgress = d
		}
		a.t.progress++
		a.t.prevProgress, a.t.lastProgress = a.t.lastProgress, d
	case protocol.TypeResult, protocol.TypeError:
		// A split result arrives as several result messages; the last one ends the call.
		a.t.done = d
		a.t.resultBytes += len(m.Data)
	}
}

// request sends action with payload (as client.Call takes it) under id on c and waits
// for its outcome, recording when its ack, progress and terminal messages arrived, from
// the moment before Call. A failure reported by the server is a *protocol.Error; a lost
// connection is client.ErrClosed.
func request(ctx context.Context, c *client.Client, id, action string, payload any) (jobTimes, error) {
	a := &arrivals{start: time.Now()}
	call, err := c.Call(ctx, action, payload, client.WithID(id), client.OnMessage(a.observe))
	if err != nil {
		return jobTimes{}, err
	}
	if _, err := call.Wait(ctx); err != nil {
		return jobTimes{}, err // a.t may still be written when ctx ended first
	}
	return a.t, nil
}
