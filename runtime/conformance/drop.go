package conformance

import (
	"errors"
	"time"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// reconnectPoll is how often testClientSurvivesServerDrop looks whether the client has
// reconnected (the client offers no signal).
const reconnectPoll = 10 * time.Millisecond

// testClientSurvivesServerDrop: the stack drops the client's socket in the middle of a
// call, as API Gateway does after 2 hours: the client reconnects once, resumes the
// request with streamer.status (its progress goes on, never going back), and the call's
// end reaches it; the new socket serves new calls.
func testClientSurvivesServerDrop(e *env) {
	if !e.fresh {
		e.t.Skipf("the token source gives the fixed identity %s, not a fresh user: dropping its connections would cut the guarantees running beside this one", e.user)
	}
	a := e.cfg.Long
	c := e.client(client.Options{ReconnectBaseDelay: 50 * time.Millisecond})
	call, err := c.Call(e.ctx, a.Name, a.Payload, client.WithID(e.id("dropped")))
	must(e.t, err == nil, "client.Call: %v", err)
	before := waitProgress(e, call)
	if err := e.cfg.Drop(e.ctx, e.user, e.tenant); err != nil {
		e.t.Fatalf("conformance: Config.Drop: %v", err)
	}

	tick := time.NewTicker(reconnectPoll)
	defer tick.Stop()
	for c.Reconnects() == 0 {
		select {
		case <-tick.C:
		case <-e.ctx.Done():
			e.t.Fatalf("conformance: the client did not reconnect after the drop: %v", e.ctx.Err())
		}
	}
	// What the old socket delivered is in the channel already; anything further along
	// came through the new one.
	seen := before.Percentage
	for drained := false; !drained; {
		select {
		case p, ok := <-call.Progress():
			must(e.t, ok, "the call ended while the long request runs")
			must(e.t, p.Percentage >= seen, "progress went down from %v to %v", seen, p.Percentage)
			seen = p.Percentage
		default:
			drained = true
		}
	}
	for resumed := false; !resumed; {
		select {
		case p, ok := <-call.Progress():
			must(e.t, ok, "the call ended while the long request runs")
			must(e.t, p.Percentage >= seen, "progress went down from %v to %v across the reconnect", seen, p.Percentage)
			resumed = p.Percentage > seen
			seen = p.Percentage
		case <-e.ctx.Done():
			e.t.Fatalf("conformance: no progress reached the resumed call after the reconnect: %v", e.ctx.Err())
		}
	}

	must(e.t, call.Cancel(e.ctx) == nil, "client: Cancel")
	_, err = call.Wait(e.ctx)
	var pe *protocol.Error
	must(e.t, errors.As(err, &pe) && pe.Code == protocol.CodeCancelled, "the resumed call's end: %v, want CANCELLED", err)
	must(e.t, c.Reconnects() == 1, "the client reconnected %d times, want once", c.Reconnects())
	must(e.t, c.Ping(e.ctx) == nil, "the new socket serves new calls")
	e.t.Logf("server-side drop at %.0f%%: the resumed call reached %.0f%% after 1 reconnect", before.Percentage, seen)
}
