package conformance

import (
	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// testSyncResult: a synchronous action is answered with its result, with the client's
// id and action, no ack and no progress, and nothing follows; the Go client gets the
// result and sees no ack.
func testSyncResult(e *env) {
	a := e.cfg.Sync
	s := e.dial()
	id := e.id("sync")
	s.Call(a.Name, id, a.Payload)
	msgs := s.Collect(id)
	for _, m := range msgs {
		must(e.t, m.Type == protocol.TypeResult, "a sync action is answered with its result, no ack, no progress: %s", m.Raw)
		must(e.t, m.Action == a.Name, "the result names the action %q: %s", a.Name, m.Raw)
	}
	CheckTerminal(e.t, msgs)
	resultData(e.t, msgs)
	s.Quiet(id)

	call, err := e.client(client.Options{}).Call(e.ctx, a.Name, a.Payload)
	must(e.t, err == nil, "client.Call: %v", err)
	res, err := call.Wait(e.ctx)
	must(e.t, err == nil, "client: the call failed: %v", err)
	must(e.t, res.Success, "client: the result says it did not succeed")
	must(e.t, call.Ack() == nil, "client: a sync action has no ack")
}

// testSyncGeneratedID: a synchronous request without an id gets a generated one, a new
// one every time.
func testSyncGeneratedID(e *env) {
	a := e.cfg.Sync
	s := e.dial()
	var ids []string
	for range 2 {
		s.Call(a.Name, "", a.Payload)
		m := s.Next()
		must(e.t, m.Type == protocol.TypeResult, "a sync action is answered with its result: %s", m.Raw)
		must(e.t, protocol.ValidID(m.RequestID), "a generated id comes back: %s", m.Raw)
		if m.Part != nil {
			s.Collect(m.RequestID)
		}
		ids = append(ids, m.RequestID)
	}
	must(e.t, ids[0] != ids[1], "every request gets its own id, twice %s", ids[0])
}
