package streamer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

func TestRequestPayloadAndMetadata(t *testing.T) {
	t.Parallel()
	req := &streamer.Request{ID: "r-1", Action: "report", Payload: json.RawMessage(`{"start_date":"2026-01-01"}`)}
	var p struct {
		StartDate string `json:"start_date"`
	}
	require.NoError(t, req.UnmarshalPayload(&p))
	require.Equal(t, "2026-01-01", p.StartDate)

	for name, payload := range map[string]json.RawMessage{"empty": nil, "invalid": json.RawMessage(`{"start_date":`)} {
		err := (&streamer.Request{Payload: payload}).UnmarshalPayload(&p)
		var se *streamer.Error
		require.ErrorAs(t, err, &se, name)
		require.Equal(t, streamer.ErrCodeValidation, se.Code, name)
		require.Equal(t, "payload", se.Details["field"], name)
	}

	_, ok := req.GetMetadata("trace")
	require.False(t, ok, "no metadata before the first SetMetadata")
	req.SetMetadata("trace", "abc")
	v, ok := req.GetMetadata("trace")
	require.True(t, ok)
	require.Equal(t, "abc", v)

	// Identity, connection, metadata and time never travel in JSON: they come from the
	// authorizer context and the router, not from the client.
	req.UserID, req.TenantID, req.ConnectionID, req.Timestamp = "u", "t", "c", time.Now()
	raw, err := json.Marshal(req)
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"r-1","action":"report","payload":{"start_date":"2026-01-01"}}`, string(raw))
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	raw, err := json.Marshal(&streamer.Result{RequestID: "r-1", Success: true, Data: map[string]int{"rows": 3}, Duration: time.Second})
	require.NoError(t, err)
	require.JSONEq(t, `{"request_id":"r-1","success":true,"data":{"rows":3}}`, string(raw))
}

func TestErrorWorksWithErrorsAs(t *testing.T) {
	t.Parallel()
	base := streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "start_date required", map[string]any{"field": "payload"})
	wrapped := fmt.Errorf("handler: %w", base)
	var se *streamer.Error
	require.ErrorAs(t, wrapped, &se)
	require.Same(t, base, se)
	require.Equal(t, "VALIDATION_ERROR: start_date required", se.Error())
	require.Same(t, base, streamer.AsError(wrapped))

	require.Equal(t, streamer.ErrCodeTimeout, streamer.AsError(fmt.Errorf("x: %w", context.DeadlineExceeded)).Code)
	require.Equal(t, streamer.ErrCodeCancelled, streamer.AsError(context.Canceled).Code)
	internal := streamer.AsError(errors.New("db password wrong"))
	require.Equal(t, streamer.ErrCodeInternalError, internal.Code)
	require.NotContains(t, internal.Message, "password", "causes are for logs, not clients")
	require.Nil(t, streamer.AsError(nil))
}

func TestErrorRetryInfo(t *testing.T) {
	t.Parallel()
	before := time.Now()
	e := streamer.NewRetryableError(streamer.ErrCodeRateLimited, "slow down", time.Minute)
	require.True(t, e.Retryable())
	require.WithinRange(t, e.Retry.After, before.Add(time.Minute), time.Now().Add(time.Minute))
	require.Equal(t, int64(60_000), e.Retry.AfterMS)

	// The wait goes on the wire as retry_after_ms next to after, which older clients read.
	wire := protocol.RetryAfter(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), 1500*time.Microsecond)
	raw, err := json.Marshal(wire)
	require.NoError(t, err)
	require.JSONEq(t, `{"retryable":true,"after":"2026-11-28T10:00:00.0015Z","retry_after_ms":2}`, string(raw), "rounded up: waiting less is too early")
	var old struct {
		Retryable bool      `json:"retryable"`
		After     time.Time `json:"after"`
	}
	require.NoError(t, json.Unmarshal(raw, &old), "a client that knows only after still reads it")
	require.Equal(t, wire.After, old.After)

	// Every standard code's retryability is PROTOCOL.md's, and goes on the wire.
	want := map[string]bool{
		streamer.ErrCodeValidation: false, streamer.ErrCodeInvalidAction: false, streamer.ErrCodeNotFound: false,
		streamer.ErrCodeUnauthorized: false, streamer.ErrCodeForbidden: false, streamer.ErrCodePayloadTooLarge: false,
		streamer.ErrCodeRateLimited: true, streamer.ErrCodeTimeout: true, streamer.ErrCodeInternalError: true,
		streamer.ErrCodeServiceUnavail: true, streamer.ErrCodeCancelled: false,
	}
	for code, retryable := range want {
		e := streamer.NewErrorf(code, "failed %d", 1)
		require.Equal(t, retryable, e.Retryable(), code)
		raw, err := json.Marshal(protocol.NewErrorMessage("r-1", e))
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"type":"error","request_id":"r-1","error":{"code":%q,"message":"failed 1","retry":{"retryable":%t}}}`, code, retryable), string(raw))
		require.Nil(t, e.Retry, "WireError does not change the error it is called on")
	}
}
