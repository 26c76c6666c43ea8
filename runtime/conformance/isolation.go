package conformance

import (
	"github.com/streamer-go/streamer/runtime/protocol"
)

// intruder is an identity other than the owner's that tries to reach the owner's request.
type intruder struct {
	name  string
	token string
}

// intruders mints the identities TenantIsolation sends against the owner's request: a
// user of the other tenant, another user of the owner's tenant, and the owner's user
// name in the other tenant. Those the token source cannot mint, or mints as the owner,
// are left out, saying so.
func intruders(e *env) []intruder {
	e.t.Helper()
	var out []intruder
	for _, c := range []struct{ name, user, tenant string }{
		{"other tenant", freshUser("intruder"), e.cfg.OtherTenant},
		{"same tenant, other user", freshUser("intruder"), e.tenant},
		{"same user name, other tenant", e.user, e.cfg.OtherTenant},
	} {
		tok, ok := e.mint(e.cfg.Tokens, c.user, c.tenant)
		if !ok {
			e.t.Logf("%s: the token source cannot mint %s in %s; left out", c.name, c.user, c.tenant)
			continue
		}
		user, tenant := e.identity(tok)
		if user == e.user && tenant == e.tenant {
			e.t.Logf("%s: the token source gave the owner's identity for %s in %s; left out", c.name, c.user, c.tenant)
			continue
		}
		out = append(out, intruder{name: c.name, token: tok})
	}
	return out
}

// testTenantIsolation: another tenant (and another user of the same tenant, and the same
// user name in another tenant) gets NOT_FOUND for streamer.status and streamer.cancel on
// the owner's request, also when the message claims the owner's identity; it can use the
// same id for a request of its own; the owner's request completes normally.
func testTenantIsolation(e *env) {
	a := e.cfg.Async
	others := intruders(e)
	if len(others) == 0 {
		e.t.Skipf("Config.Tokens mints no identity but the owner's (%s in %s): tenant isolation needs another", e.user, e.tenant)
	}

	owner := e.dial()
	id := e.id("mine")
	owner.Call(a.Name, id, a.Payload)
	ack := owner.Next()
	must(e.t, ack.Type == protocol.TypeAck, "an async request is acknowledged first: %s", ack.Raw)

	for _, in := range others {
		s := e.dialAs(in.token)
		for _, action := range []string{protocol.ActionStatus, protocol.ActionCancel} {
			s.System(action, id)
			m := s.Next()
			must(e.t, m.Type == protocol.TypeError && m.Error != nil && m.RequestID == id, "%s, %s: want an error about %s: %s", in.name, action, id, m.Raw)
			must(e.t, m.Error.Code == protocol.CodeNotFound, "%s, %s: the request's existence is revealed: %s", in.name, action, m.Raw)

			// Claiming the owner's identity in the message changes nothing: it comes from
			// the token alone.
			s.Send(map[string]any{
				"action": action, "user_id": e.user, "tenant_id": e.tenant,
				"payload": map[string]string{"id": id, "user_id": e.user, "tenant_id": e.tenant},
			})
			m = s.Next()
			must(e.t, m.Type == protocol.TypeError && m.Error != nil && m.Error.Code == protocol.CodeNotFound,
				"%s, %s with the owner's identity claimed: %s", in.name, action, m.Raw)
		}
		// The id is theirs to use too: it names a request of their own.
		s.Call(a.Name, id, a.Payload)
		CheckAsync(e.t, id, s.Collect(id)).Data(e.t)
		s.Quiet(id)
	}

	// The owner's request was neither seen nor cancelled by anyone else.
	run := CheckAsync(e.t, id, append([]Frame{ack}, owner.Collect(id)...))
	owner.Quiet(id)
	run.Data(e.t)
}
