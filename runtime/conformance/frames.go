package conformance

import (
	"errors"
	"strings"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// noSuchAction is an action name no app registers.
const noSuchAction = "conformance_no_such_action"

// probeAction is the action of frames whose action does not matter (a bad id, an
// oversized message): the app's sync action when described, else one that exists on
// every stack.
func probeAction(cfg *Config) string {
	if cfg.Sync != nil {
		return cfg.Sync.Name
	}
	return protocol.ActionPing
}

// testBadFrames: a frame that is not JSON, has no action, names an unknown action or has
// a bad id gets an error with the right code, request_id the client's id only when it
// could be read, and the connection stays open.
func testBadFrames(e *env) {
	s := e.dial()
	id := e.id("bad")
	probe := probeAction(e.cfg)
	for _, tc := range []struct {
		name, frame, code, requestID, field string
	}{
		{"not JSON", "this is not json", protocol.CodeValidation, "", "message"},
		{"not an object", `[1,2,3]`, protocol.CodeValidation, "", "message"},
		{"no action", `{"id":"` + id + `","payload":{}}`, protocol.CodeValidation, id, "action"},
		{"unknown action", `{"action":"` + noSuchAction + `","id":"` + id + `"}`, protocol.CodeInvalidAction, id, ""},
		{"unknown system action", `{"action":"streamer.nope","id":"` + id + `"}`, protocol.CodeInvalidAction, id, ""},
		{"bad id", `{"action":"` + probe + `","id":"bad id!","payload":1}`, protocol.CodeValidation, "", "id"},
		{"id too long", `{"action":"` + probe + `","id":"` + strings.Repeat("a", protocol.MaxIDLength+1) + `","payload":1}`, protocol.CodeValidation, "", "id"},
		{"id not a string", `{"action":"` + probe + `","id":42,"payload":1}`, protocol.CodeValidation, "", "message"},
		{"status without an id", `{"action":"` + protocol.ActionStatus + `"}`, protocol.CodeValidation, "", "payload.id"},
	} {
		s.Send(tc.frame)
		m := s.Next()
		must(e.t, m.Type == protocol.TypeError && m.Error != nil, "%s: want an error: %s", tc.name, m.Raw)
		must(e.t, m.RequestID == tc.requestID, "%s: request_id %q, want %q (the client's id when it could be read): %s", tc.name, m.RequestID, tc.requestID, m.Raw)
		must(e.t, m.Error.Code == tc.code, "%s: code %s, want %s: %s", tc.name, m.Error.Code, tc.code, m.Raw)
		must(e.t, !m.Error.Retryable(), "%s: retryable: %s", tc.name, m.Raw)
		if tc.field != "" {
			must(e.t, m.Error.Details["field"] == tc.field, "%s: details.field, want %q: %s", tc.name, tc.field, m.Raw)
		}
		s.Ping() // the connection stays open
	}
}

// oversizedBytes is the size of the payload of testOversizedFrame: well over the limit.
const oversizedBytes = 200 * 1024

// testOversizedFrame: a message over 128 KB gets PAYLOAD_TOO_LARGE with the client's
// id, and the connection stays open and serves requests; the Go client refuses to send
// one.
func testOversizedFrame(e *env) {
	s := e.dial()
	id := e.id("big")
	big := strings.Repeat("x", oversizedBytes)
	s.Send(`{"id":"` + id + `","action":"` + probeAction(e.cfg) + `","payload":"` + big + `"}`)
	m := s.Next()
	must(e.t, m.Type == protocol.TypeError && m.Error != nil, "want an error: %.300s", m.Raw)
	must(e.t, m.RequestID == id, "request_id %q, want the client's %q", m.RequestID, id)
	must(e.t, m.Error.Code == protocol.CodePayloadTooLarge, "code %s, want %s", m.Error.Code, protocol.CodePayloadTooLarge)
	must(e.t, !m.Error.Retryable(), "retryable: %s", m.Raw)
	s.Ping()
	if e.cfg.Sync != nil {
		after := e.id("after-big")
		s.Call(e.cfg.Sync.Name, after, e.cfg.Sync.Payload)
		msgs := s.Collect(after)
		must(e.t, msgs[0].Type == protocol.TypeResult, "the connection still serves requests: %s", msgs[0].Raw)
	}

	_, err := e.client(client.Options{}).Call(e.ctx, noSuchAction, map[string]string{"big": big})
	var pe *protocol.Error
	must(e.t, errors.As(err, &pe) && pe.Code == protocol.CodePayloadTooLarge, "the Go client sends an oversized message: %v", err)
}

// testUnknownRequest: streamer.status and streamer.cancel about an id nobody used are
// answered NOT_FOUND with that id.
func testUnknownRequest(e *env) {
	s := e.dial()
	id := e.id("never-sent")
	for _, action := range []string{protocol.ActionStatus, protocol.ActionCancel} {
		s.System(action, id)
		m := s.Next()
		must(e.t, m.Type == protocol.TypeError && m.Error != nil, "%s: want an error: %s", action, m.Raw)
		must(e.t, m.RequestID == id, "%s: request_id %q, want %q", action, m.RequestID, id)
		must(e.t, m.Error.Code == protocol.CodeNotFound, "%s: code %s, want %s", action, m.Error.Code, protocol.CodeNotFound)
		must(e.t, !m.Error.Retryable(), "%s: retryable: %s", action, m.Raw)
	}
}
