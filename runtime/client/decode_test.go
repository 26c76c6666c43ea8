package client

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// decodeInTwoSteps is what decodeMessage must match: the head, then the whole message as
// the type the head names.
func decodeInTwoSteps(data []byte) (serverMessage, error) {
	var head struct {
		Type      string `json:"type"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return serverMessage{}, err
	}
	m := serverMessage{typ: head.Type, requestID: head.RequestID}
	var err error
	switch head.Type {
	case protocol.TypeAck:
		m.ack = new(protocol.AckMessage)
		err = json.Unmarshal(data, m.ack)
	case protocol.TypeProgress:
		m.progress = new(protocol.ProgressMessage)
		err = json.Unmarshal(data, m.progress)
	case protocol.TypeResult:
		m.result = new(protocol.ResultMessage)
		err = json.Unmarshal(data, m.result)
	case protocol.TypeError:
		m.failure = new(protocol.ErrorMessage)
		err = json.Unmarshal(data, m.failure)
	case protocol.TypeStatus:
		m.status = new(protocol.StatusMessage)
		err = json.Unmarshal(data, m.status)
	}
	return m, err
}

// serverMessageSeeds are messages as servers write them, and in other shapes.
var serverMessageSeeds = []string{
	`{"type":"ack","request_id":"r-1","action":"report","status":"PENDING"}`,
	`{"type":"progress","request_id":"r-1","percentage":40,"message":"working","metadata":{"k":1},"timestamp":"2026-01-02T03:04:05Z"}`,
	`{"type":"result","request_id":"r-1","action":"echo","success":true,"data":{"type":"ack"},"duration_ms":3}`,
	`{"type":"result","request_id":"r-1","success":true,"duration_ms":0,"part":{"index":0,"count":2},"data_part":"{\"a\":"}`,
	`{"type":"error","request_id":"r-1","error":{"code":"VALIDATION_ERROR","message":"bad","details":{"field":"x"}}}`,
	`{"type":"status","request_id":"r-1","status":"COMPLETED","percentage":100,"message":"","result":[1],"error":null}`,
	`{"type":"pong"}`,
	`{"type":"surprise","request_id":"r-1"}`,
	`{ "request_id" : "r-1", "type" : "ack" }`,
	`{"data":{"type":"ack"},"type":"result","request_id":"r-1"}`,
	`{"type":"ack","request_id":"r-1","type":"progress","percentage":5}`,
	`{"type":"res\u0075lt","request_id":"r-\u0031","success":true}`,
	`{"type":"progress","request_id":"r-1","percentage":"half"}`,
	`{"type":"result","request_id":"r-1","part":{"index":"0"}}`,
	`{"type":"error","request_id":"r-1","error":"not an object"}`,
	`{"type":"pong","request_id":7}`,
	`{"type":"ack"`,
	`[1,2]`,
	`not JSON`,
	``,
}

func TestDecodeMessageMatchesTwoStepDecoding(t *testing.T) {
	t.Parallel()
	for _, s := range serverMessageSeeds {
		requireSameDecoding(t, []byte(s))
	}
	m, err := decodeMessage([]byte(serverMessageSeeds[2]))
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"ack"}`, string(m.result.Data))
	_, err = decodeMessage([]byte(`{"type":"progress","request_id":"r-1","percentage":"half"}`))
	require.ErrorContains(t, err, "bad progress message")
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range serverMessageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		requireSameDecoding(t, data)
	})
}

// requireSameDecoding checks that decodeMessage decodes data as decodeInTwoSteps does:
// the same outcome, and when a message was read, the same type, id and message.
func requireSameDecoding(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := decodeMessage(data)
	want, wantErr := decodeInTwoSteps(data)
	require.Equal(t, wantErr == nil, gotErr == nil, "%s: error %v, want %v", data, gotErr, wantErr)
	require.Equal(t, want.typ, got.typ, "%s", data)
	require.Equal(t, want.requestID, got.requestID, "%s", data)
	if wantErr == nil {
		require.Equal(t, want, got, "%s", data)
	}
}
