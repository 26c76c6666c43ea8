package local

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

type greeting struct {
	Name string `json:"name"`
}

func greet(_ context.Context, job *streamer.Job[greeting]) (string, error) {
	return "Hello, " + job.Payload.Name, nil
}

func TestActionsEndpointDescribesTheAppsActions(t *testing.T) {
	t.Parallel()
	app := lambdas.New(lambdas.WithAsyncThreshold(10 * time.Second))
	require.NoError(t, app.Handle("greet", streamer.Sync(greet).WithExample(greeting{Name: "Ada"})))
	require.NoError(t, app.Handle("count", streamer.Async(greet)))
	require.NoError(t, app.Handle("quick", streamer.Estimated(5*time.Second, greet)))
	require.NoError(t, app.Handle("slow", streamer.Estimated(15*time.Second, greet)))
	require.NoError(t, app.Handle("echo", echoHandler))
	st := startStack(t, Config{App: app})

	resp, err := http.Get(st.URL() + "/dev/actions")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got ActionsResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	for i, a := range got.Actions {
		if a.Example != nil {
			var b bytes.Buffer
			require.NoError(t, json.Compact(&b, a.Example))
			got.Actions[i].Example = b.Bytes()
		}
	}
	require.Equal(t, []ActionInfo{
		{Name: "count", Mode: ModeAsync},
		{Name: "echo", Mode: ModeSync},
		{Name: "greet", Mode: ModeSync, Example: json.RawMessage(`{"name":"Ada"}`)},
		{Name: "quick", Mode: ModeSync},
		{Name: "slow", Mode: ModeAsync},
	}, got.Actions, "sorted by name; the mode follows the App's threshold (10 s)")
}

// TestARestartedStackKeepsThePortAndTheTokens hands two stacks, one after the other, the
// same socket and the same dev key, as a supervisor restarting the stack does: clients
// reconnect to the same URL with the token they hold.
func TestARestartedStackKeepsThePortAndTheTokens(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	held, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	t.Cleanup(func() { _ = held.Close() })
	issuer, err := auth.NewDevIssuer()
	require.NoError(t, err)

	run := func() *Stack {
		l, err := net.FileListener(held) // a duplicate of the held socket, as a child process gets it
		require.NoError(t, err)
		key, err := auth.NewDevIssuerFromKey(issuer.PrivateKey())
		require.NoError(t, err)
		st, err := Start(t.Context(), Config{Listener: l, Issuer: key, App: testApp(t), Logger: testLogger(), PollInterval: 50 * time.Millisecond})
		require.NoError(t, err)
		return st
	}
	shutdown := func(st *Stack) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, st.Shutdown(ctx))
	}

	first := run()
	require.Equal(t, "http://"+ln.Addr().String(), first.URL())
	tok, err := first.Token("alice", "acme", time.Hour)
	require.NoError(t, err)
	c := dial(t, first, tok)
	c.call("echo", "m-1", "hi")
	require.Equal(t, protocol.TypeResult, c.next().Type)
	shutdown(first)

	second := run()
	t.Cleanup(func() { shutdown(second) })
	require.Equal(t, first.URL(), second.URL(), "the same port")
	c = dial(t, second, tok)
	c.call("echo", "m-2", "again")
	require.Equal(t, protocol.TypeResult, c.next().Type, "the first stack's token is accepted")
}
