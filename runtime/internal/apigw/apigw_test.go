package apigw_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/internal/apigw"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// TestWriteErrorSpeaksTheSDKsErrors serves every error the @connections API gives with
// WriteError and checks what the real SDK client and the Manager make of it:
// the SDK's typed exception, and the Manager's sentinel.
func TestWriteErrorSpeaksTheSDKsErrors(t *testing.T) {
	t.Parallel()
	// The connection id names the answer: "<status>:<error type>".
	mux := http.NewServeMux()
	mux.HandleFunc("POST /@connections/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		status, _ := strconv.Atoi(id[:3])
		apigw.WriteError(w, status, id[4:], "refused by the test")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	api := connection.NewAPIClient(aws.Config{}, srv.URL)
	mgr := connection.NewManager(nil, api, connection.Options{MaxRetries: -1})
	for _, tc := range []struct {
		id     string
		sdk    any // a pointer to the SDK exception type, nil for none
		manage error
	}{
		{"410:GoneException", new(*types.GoneException), connection.ErrGone},
		{"413:PayloadTooLargeException", new(*types.PayloadTooLargeException), connection.ErrPayloadTooLarge},
		{"403:ForbiddenException", new(*types.ForbiddenException), connection.ErrForbidden},
		{"429:LimitExceededException", new(*types.LimitExceededException), connection.ErrThrottled},
		{"502:", nil, connection.ErrUnavailable},
	} {
		_, err := api.PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(tc.id), Data: []byte(`{}`)})
		require.Error(t, err, tc.id)
		if tc.sdk != nil {
			require.ErrorAs(t, err, tc.sdk, tc.id)
		}
		require.ErrorIs(t, mgr.Send(t.Context(), tc.id, []byte(`{}`)), tc.manage, tc.id)
	}

	// The wire shape: header and body name the type; an untyped error names none.
	rec := httptest.NewRecorder()
	apigw.WriteError(rec, http.StatusGone, "GoneException", "")
	require.Equal(t, http.StatusGone, rec.Code)
	require.Equal(t, "GoneException", rec.Header().Get("X-Amzn-ErrorType"))
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.JSONEq(t, `{"__type":"GoneException","message":""}`, rec.Body.String())
	rec = httptest.NewRecorder()
	apigw.WriteError(rec, http.StatusBadGateway, "", "upstream")
	require.Empty(t, rec.Header().Values("X-Amzn-ErrorType"))
	var body map[string]string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, map[string]string{"message": "upstream"}, body)
}

func TestEncodeIsWhatSendPosts(t *testing.T) {
	t.Parallel()
	gw := streamertest.NewAPIGateway(t)
	gw.AddConnection("c1", nil)
	mgr := connection.NewManager(nil, gw.Client(), connection.Options{})
	for _, msg := range []any{
		map[string]any{"type": "pong"},
		[]byte(`{"type":"ack", "request_id":"r-1"}`),
		json.RawMessage(` {"type":"status"}`),
		json.RawMessage("{\"type\":\"result\",\"data\":\"caf\xe9\"}"), // Latin-1 from a handler
	} {
		want, err := apigw.Encode(msg)
		require.NoError(t, err)
		require.NoError(t, mgr.Send(t.Context(), "c1", msg))
		got := gw.GetMessages("c1")
		require.Equal(t, string(want), string(got[len(got)-1].JSON), "byte for byte")
	}
	// Nothing posted is invalid UTF-8: a browser would close the connection (1007).
	got, err := apigw.Encode(json.RawMessage("{\"data\":\"caf\xe9 \xff\"}"))
	require.NoError(t, err)
	require.True(t, utf8.Valid(got))
	require.JSONEq(t, `{"data":"caf\ufffd \ufffd"}`, string(got), "still the same JSON, the bad bytes replaced")
	valid := []byte(`{"data":"café ✓"}`)
	got, err = apigw.Encode(valid)
	require.NoError(t, err)
	require.Same(t, &valid[0], &got[0], "valid text is posted as it is, without a copy")

	_, err = apigw.Encode(nil)
	require.Error(t, err)
	_, err = apigw.Encode(func() {})
	require.ErrorContains(t, err, "connection: encode message")
}
