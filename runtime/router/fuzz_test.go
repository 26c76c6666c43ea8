package router_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// errorCodes are the codes of PROTOCOL.md.
var errorCodes = []string{
	streamer.ErrCodeValidation, streamer.ErrCodeInvalidAction, streamer.ErrCodeNotFound,
	streamer.ErrCodeUnauthorized, streamer.ErrCodeForbidden, streamer.ErrCodePayloadTooLarge,
	streamer.ErrCodeRateLimited, streamer.ErrCodeTimeout, streamer.ErrCodeInternalError,
	streamer.ErrCodeServiceUnavail, streamer.ErrCodeCancelled,
}

// FuzzRoute feeds arbitrary frames to the router: it never panics, and every reply is
// one JSON message of PROTOCOL.md. Seeds are in testdata/fuzz/FuzzRoute.
func FuzzRoute(f *testing.F) {
	for _, seed := range []string{
		`{"action":"echo","id":"r-1","payload":{"hello":"world"}}`,
		`{"action":"report","payload":[1,2,3]}`,
		`{"action":"streamer.status","payload":{"id":"r-1"}}`,
		`{"action":"streamer.cancel","payload":{"id":"r-1"}}`,
		`{"action":"streamer.ping"}`,
		`{"ACTION":"echo","Id":"x"}`,
		`{"action":"echo","id":"r\u002d1","payload":"\ud83d\ude00"}`,
		`[]`, `null`, `"echo"`, `{`, ``,
	} {
		f.Add(seed)
	}
	b := setup(f)
	f.Fuzz(func(t *testing.T, body string) {
		resp, err := b.router.Route(t.Context(), withBody(t, body))
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		if resp.Body == "" {
			return // a result too large for one message, sent in parts
		}
		var reply map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &reply), "reply %q", resp.Body)
		var typ string
		require.NoError(t, json.Unmarshal(reply["type"], &typ))
		if typ == protocol.TypePong {
			require.Len(t, reply, 1)
			return
		}
		var requestID string
		require.NoError(t, json.Unmarshal(reply["request_id"], &requestID), "every reply about a request has request_id: %s", resp.Body)
		require.True(t, requestID == "" || protocol.ValidID(requestID), "request_id %q", requestID)

		switch typ {
		case protocol.TypeResult:
			var m protocol.ResultMessage
			require.NoError(t, json.Unmarshal([]byte(resp.Body), &m))
			require.True(t, m.Success)
			var msg protocol.ClientMessage
			require.NoError(t, json.Unmarshal([]byte(body), &msg), "a result answers a valid frame")
			if len(msg.Payload) == 0 || string(msg.Payload) == "null" {
				require.Empty(t, m.Data)
			} else {
				require.JSONEq(t, string(msg.Payload), string(m.Data), "echo returns the payload")
			}
		case protocol.TypeAck, protocol.TypeStatus:
			require.NotEmpty(t, requestID)
		case protocol.TypeError:
			var m protocol.ErrorMessage
			require.NoError(t, json.Unmarshal([]byte(resp.Body), &m))
			require.Contains(t, errorCodes, m.Error.Code)
			require.NotNil(t, m.Error.Retry)
			require.Equal(t, protocol.IsRetryableCode(m.Error.Code), m.Error.Retry.Retryable)
		default:
			t.Fatalf("unknown reply type %q in %s", typ, resp.Body)
		}
		require.True(t, slices.Contains([]string{protocol.TypeResult, protocol.TypeAck, protocol.TypeStatus, protocol.TypeError}, typ))
	})
}
