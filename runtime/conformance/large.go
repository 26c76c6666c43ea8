package conformance

import (
	"encoding/json"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// testLargeResult: a result larger than one message arrives in ordered parts, each
// within 128 KB, whose data_parts concatenate to the data; asked for again (async), the
// stored result comes in the same parts, then a status within the limit; the Go client
// reassembles it.
func testLargeResult(e *env) {
	a := e.cfg.Large
	minParts := a.MinResultBytes/protocol.MaxMessageBytes + 1
	s := e.dial()
	id := e.id("large")
	s.Call(a.Name, id, a.Payload)
	msgs := s.Collect(id)
	async := msgs[0].Type == protocol.TypeAck
	var parts []Frame
	if async {
		parts = CheckAsync(e.t, id, msgs).Terminal
	} else {
		parts = msgs
	}
	s.Quiet(id)
	CheckParts(e.t, id, a.Name, parts, minParts)
	data := resultData(e.t, parts)
	must(e.t, len(data) >= a.MinResultBytes, "%d bytes of data, want at least %d (Config.Large.MinResultBytes)", len(data), a.MinResultBytes)
	must(e.t, json.Valid(data), "the concatenated parts are not JSON")
	e.t.Logf("large result: %d bytes of data in %d parts", len(data), len(parts))

	c := e.client(client.Options{})
	if !async {
		// A sync result is not stored: the client makes a request of its own.
		call, err := c.Call(e.ctx, a.Name, a.Payload)
		must(e.t, err == nil, "client.Call: %v", err)
		res, err := call.Wait(e.ctx)
		must(e.t, err == nil, "client: the call failed: %v", err)
		must(e.t, len(res.Data) >= a.MinResultBytes && json.Valid(res.Data), "client: %d bytes of data reassembled", len(res.Data))
		return
	}

	// Asked for after it finished, the stored result comes again in parts, then the status.
	other := e.dial()
	other.System(protocol.ActionStatus, id)
	again := other.Collect(id)
	CheckParts(e.t, id, a.Name, again, minParts)
	SameBytes(e.t, data, resultData(e.t, again), "the stored result")
	st := other.Next()
	must(e.t, st.Type == protocol.TypeStatus && st.RequestID == id && st.Status == protocol.StatusCompleted, "the status after the parts: %.300s", st.Raw)
	must(e.t, len(st.Raw) <= protocol.MaxMessageBytes, "the status is %d bytes, over the message limit", len(st.Raw))
	other.Quiet(id)

	// The Go client, sending the id again, gets the stored result and reassembles it.
	call, err := c.Call(e.ctx, a.Name, a.Payload, client.WithID(id))
	must(e.t, err == nil, "client.Call: %v", err)
	res, err := call.Wait(e.ctx)
	must(e.t, err == nil, "client: the call failed: %v", err)
	SameBytes(e.t, data, res.Data, "the client's reassembled result")
}
