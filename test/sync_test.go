package e2e

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

func testSyncEcho(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("echo")
	s.call(actionEcho, id, map[string]any{"hello": "world", "n": 1})
	m := s.next()
	require.Equal(t, protocol.TypeResult, m.Type, "a sync action is answered with its result, no ack: %s", m.raw)
	require.Equal(t, id, m.RequestID)
	require.Equal(t, actionEcho, m.Action)
	require.True(t, m.Success)
	require.JSONEq(t, `{"hello":"world","n":1}`, string(m.Data))
	s.quiet(id)

	c := b.client(client.Options{})
	call, err := c.Call(b.ctx, actionEcho, []byte(`{"via":"client"}`))
	require.NoError(t, err)
	res, err := call.Wait(b.ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"via":"client"}`, string(res.Data))
	require.Nil(t, call.Ack(), "a sync action has no ack")
}

func testSyncHealth(t *testing.T, b *bundle) {
	s := b.dial()
	id := b.id("health")
	s.call(actionHealth, id, nil)
	m := s.next()
	require.Equal(t, protocol.TypeResult, m.Type, m.raw)
	require.Equal(t, id, m.RequestID)
	var data struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(m.Data, &data), m.raw)
	require.Equal(t, "ok", data.Status)
	require.NotEmpty(t, data.Version)
}

func testPing(t *testing.T, b *bundle) {
	b.dial().ping()
	require.NoError(t, b.client(client.Options{}).Ping(b.ctx))
}

func testValidationErrors(t *testing.T, b *bundle) {
	s := b.dial()
	for _, tc := range []struct {
		name, action string
		payload      any
		field        string
	}{
		{"end before start", actionGenerateReport, map[string]string{"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date"},
		{"dates missing", actionGenerateReport, map[string]string{}, "payload"},
		{"not a date", actionGenerateReport, map[string]string{"start_date": "yesterday", "end_date": "2026-01-01"}, "start_date"},
		{"no items", actionProcessData, map[string]int{"items": 0}, "items"},
		{"result too big", actionProcessData, map[string]int{"items": 1, "result_kb": 301}, "result_kb"},
		{"echo without payload", actionEcho, nil, "payload"},
	} {
		id := b.id("invalid-" + tc.field)
		s.call(tc.action, id, tc.payload)
		m := s.next()
		require.Equal(t, protocol.TypeError, m.Type, "%s: refused before any ack: %s", tc.name, m.raw)
		require.Equal(t, id, m.RequestID, tc.name)
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code, "%s: %s", tc.name, m.raw)
		require.Equal(t, tc.field, m.Error.Details["field"], "%s: %s", tc.name, m.raw)
		require.NotNil(t, m.Error.Retry, "%s: %s", tc.name, m.raw)
		require.False(t, m.Error.Retry.Retryable, "%s: %s", tc.name, m.raw)
	}
	s.call(protocol.ActionPing, "", nil)
	require.Equal(t, protocol.TypePong, s.next().Type, "nothing but one error per invalid request")

	c := b.client(client.Options{})
	call, err := c.Call(b.ctx, actionGenerateReport, map[string]string{"start_date": "2026-02-01", "end_date": "2026-01-01"})
	require.NoError(t, err)
	_, err = call.Wait(b.ctx)
	var se *streamer.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodeValidation, se.Code)
	require.False(t, se.Retryable())
}
