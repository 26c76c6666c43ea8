package streamertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// fakeTB records the failure a helper reports instead of failing the real test.
type fakeTB struct {
	testing.TB
	failure string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failureOf runs check with a fakeTB and returns the failure it reported ("" if none).
func failureOf(check func(tb testing.TB)) string {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(tb)
	}()
	<-done
	return tb.failure
}

// messages records msgs as a client on conn-1 would receive them.
func messages(t *testing.T, msgs ...any) []streamertest.Message {
	t.Helper()
	mock := streamertest.NewSender()
	for _, m := range msgs {
		require.NoError(t, mock.Send(t.Context(), "conn-1", m))
	}
	return mock.GetMessages("conn-1")
}

func TestRequireProtocol(t *testing.T) {
	t.Parallel()
	ack := &protocol.AckMessage{Type: protocol.TypeAck, RequestID: "r", Action: "a", Status: "PENDING"}
	prog := func(p float64) *protocol.ProgressMessage {
		return &protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: "r", Percentage: p}
	}
	res := &protocol.ResultMessage{Type: protocol.TypeResult, RequestID: "r", Success: true, Data: json.RawMessage(`{"ok":true}`)}
	fail := protocol.NewErrorMessage("r", streamer.NewError(streamer.ErrCodeTimeout, "slow"))
	other := &protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: "other", Percentage: 1}
	status := &protocol.StatusMessage{Type: protocol.TypeStatus, RequestID: "r", Status: "COMPLETED"}

	var got streamertest.Message
	require.Empty(t, failureOf(func(tb testing.TB) {
		got = streamertest.RequireProtocol(tb, messages(t, ack, prog(10), other, prog(10), prog(50), res, status), "r")
	}))
	require.Equal(t, protocol.TypeResult, got.Type)
	require.Equal(t, map[string]any{"ok": true}, got.Fields["data"])

	require.Empty(t, failureOf(func(tb testing.TB) {
		got = streamertest.RequireProtocol(tb, messages(t, fail), "r")
	}))
	require.Equal(t, protocol.TypeError, got.Type)

	for name, tc := range map[string]struct {
		msgs []any
		want string
	}{
		"progress down":     {[]any{ack, prog(50), prog(40), res}, "went down"},
		"ack late":          {[]any{prog(5), ack, res}, "not the request's first"},
		"two acks":          {[]any{ack, ack, res}, "not the request's first"},
		"after terminal":    {[]any{ack, res, prog(100)}, "after the terminal"},
		"two terminals":     {[]any{res, fail}, "after the terminal"},
		"no terminal":       {[]any{ack, prog(10)}, "no terminal"},
		"only other's":      {[]any{other}, "no terminal"},
		"progress as error": {[]any{json.RawMessage(`{"type":"progress","request_id":"r","percentage":"x"}`)}, "decode"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, failureOf(func(tb testing.TB) { streamertest.RequireProtocol(tb, messages(t, tc.msgs...), "r") }), tc.want)
		})
	}
}

func TestRequireProtocolReassemblesSplitResults(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(map[string]string{"blob": strings.Repeat("0123456789\"é", 30000)})
	require.NoError(t, err)
	parts, err := protocol.SplitResult(&protocol.ResultMessage{RequestID: "r", Success: true, Data: data}, protocol.MaxMessageBytes)
	require.NoError(t, err)
	require.Greater(t, len(parts), 2)
	var msgs []any
	for _, p := range parts {
		msgs = append(msgs, json.RawMessage(p))
	}
	got := streamertest.RequireProtocol(t, messages(t, msgs...), "r")
	var whole protocol.ResultMessage
	require.NoError(t, got.Decode(&whole))
	require.Equal(t, string(data), string(whole.Data))
}

func TestMessageEventDrivesTheRouter(t *testing.T) {
	t.Parallel()
	reg := streamer.NewRegistry()
	r := router.New(reg, memstore.New(memstore.Options{}).Requests(), streamertest.NewSender(), router.Options{})
	require.NoError(t, reg.Handle("echo", streamer.HandlerFunc(func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Success: true, Data: map[string]string{"user": req.UserID, "tenant": req.TenantID}}, nil
	})))

	e := streamertest.MessageEvent(t, "conn-1", "user-7", "acme", protocol.ClientMessage{Action: "echo", ID: "r-1"})
	resp, err := r.Route(t.Context(), e)
	require.NoError(t, err)
	var res protocol.ResultMessage
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &res))
	require.Equal(t, "r-1", res.RequestID)
	require.JSONEq(t, `{"user":"user-7","tenant":"acme"}`, string(res.Data))

	// Raw text goes as it is: a bad frame gets a protocol error.
	resp, err = r.Route(t.Context(), streamertest.MessageEvent(t, "conn-1", "user-7", "acme", "not json"))
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"type":"error"`)
}
