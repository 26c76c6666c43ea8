package protocol_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// FuzzParseFrame holds the frame parser to json.Unmarshal: the same error or
// none, and the same action, id and payload. Seeds are in testdata/fuzz/FuzzParseFrame.
func FuzzParseFrame(f *testing.F) {
	for _, seed := range []string{
		`{"action":"echo","id":"r-1","payload":{"a":[1,{"b":"}"}],"c":"\""}}`,
		` { "payload" : 12.5e3 , "action" : "x" , "other" : [true,false,null] } `,
		`{"action":"a","action":"b","payload":1,"payload":"2"}`,
		`{"Action":"a","ID":"b","PAYLOAD":3}`,
		`{"action":"\u00e9","id":"caf\u00e9"}`,
		`{"action":"é","id":null,"payload":null}`,
		`{"action":1}`, `{"id":{}}`, `[]`, `null`, `"x"`, `{}`, `{"a":1`, `{"payload":"\\"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want protocol.ClientMessage
		gotErr := protocol.ParseFrame(s, &got)
		wantErr := json.Unmarshal([]byte(s), &want)
		require.Equal(t, wantErr == nil, gotErr == nil, "error %v, json.Unmarshal %v", gotErr, wantErr)
		if wantErr != nil {
			return
		}
		require.Equal(t, want.Action, got.Action)
		require.Equal(t, want.ID, got.ID)
		require.Equal(t, string(want.Payload), string(got.Payload))
	})
}

// TestEncodeResult holds the hand-written result encoder to json.Marshal.
func TestEncodeResult(t *testing.T) {
	t.Parallel()
	for _, msg := range []*protocol.ResultMessage{
		{Type: protocol.TypeResult, RequestID: "r-1", Action: "echo", Success: true, Data: json.RawMessage(`{"a": [1, 2]}`), DurationMS: 12},
		{Type: protocol.TypeResult, RequestID: "r-1", Action: "a\"<b>\u2028", Success: true, Metadata: map[string]any{"k": "v"}},
		{Type: protocol.TypeResult, RequestID: "bad id", Action: "echo", Success: true, Data: json.RawMessage(`1`)},
		{Type: protocol.TypeResult, RequestID: "r-1", Success: true, Data: json.RawMessage(`"x"`), DurationMS: -1},
	} {
		got, err := protocol.EncodeResult(msg)
		require.NoError(t, err)
		want, err := json.Marshal(msg)
		require.NoError(t, err)
		require.JSONEq(t, string(want), got)
	}

	_, err := protocol.EncodeResult(&protocol.ResultMessage{Type: protocol.TypeResult, RequestID: "r-1", Data: json.RawMessage(`{`)})
	require.Error(t, err, "invalid data is refused, as json.Marshal does")
	_, err = protocol.EncodeResult(&protocol.ResultMessage{Type: protocol.TypeResult, RequestID: "r-1", Metadata: map[string]any{"c": make(chan int)}})
	require.Error(t, err)
}
