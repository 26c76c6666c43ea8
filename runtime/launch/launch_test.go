package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type greeting struct {
	Name string `json:"name"`
}

func (g greeting) Validate() error {
	if g.Name == "" {
		return streamer.InvalidField("name", "name is required")
	}
	return nil
}

func testApp(t *testing.T) *lambdas.App {
	t.Helper()
	app := lambdas.New()
	require.NoError(t, app.Handle("greet", streamer.Sync(func(_ context.Context, job *streamer.Job[greeting]) (map[string]string, error) {
		return map[string]string{"greeting": "Hello, " + job.Payload.Name}, nil
	}).WithExample(greeting{Name: "O'Brien"})))
	require.NoError(t, app.Handle("tick", streamer.Async(func(_ context.Context, job *streamer.Job[struct{}]) (bool, error) {
		return true, job.Report(50, "half")
	})))
	return app
}

// bannerPattern finds the page URL and the token in the banner.
var bannerPattern = regexp.MustCompile(`Page +(http://127\.0\.0\.1:\d+)/\n(?s:.*)export STREAMER_TOKEN=(\S+)\n(?s:.*)Ctrl-C`)

func TestRunUsage(t *testing.T) {
	t.Parallel()
	app := testApp(t)
	var out, errOut bytes.Buffer
	opts := Options{Name: "app", Stdout: &out, Stderr: &errOut}
	require.Equal(t, ExitUsage, Run(t.Context(), app, nil, opts))
	require.Contains(t, errOut.String(), "Usage: app local [flags]")
	require.Equal(t, ExitOK, Run(t.Context(), app, []string{"help"}, opts))
	require.Contains(t, out.String(), "STREAMER_FUNCTION")
	require.Equal(t, ExitUsage, Run(t.Context(), app, []string{"deploy"}, opts))
	require.Contains(t, errOut.String(), `unknown command "deploy"`)
	errOut.Reset()
	require.Equal(t, ExitOK, Run(t.Context(), app, []string{"help", "local"}, opts))
	for _, flag := range []string{"-addr", "-dynamodb-endpoint", "-shards", "-log-level", "-watch"} {
		require.Contains(t, errOut.String(), flag)
	}
	require.Equal(t, ExitUsage, Run(t.Context(), app, []string{"local", "--log-level", "loud"}, opts))
	require.Equal(t, ExitUsage, Run(t.Context(), app, []string{"local", "extra"}, opts))
}

// TestLocalServesTheAppsActions runs `app local` as an application's main does and
// follows its banner: the app's actions answer with the printed token, the banner
// offers a call per action with an example, and an interrupt stops it cleanly.
func TestLocalServesTheAppsActions(t *testing.T) {
	t.Parallel()
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var out, errOut syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- Run(ctx, testApp(t), []string{"local", "--addr", "127.0.0.1:0", "--log-level", "warn"}, Options{Name: "app", Stdout: &out, Stderr: &errOut})
	}()
	var m []string
	require.Eventually(t, func() bool { m = bannerPattern.FindStringSubmatch(out.String()); return m != nil }, 30*time.Second, 20*time.Millisecond, "banner: %s %s", out.String(), errOut.String())
	base, tok := m[1], m[2]
	ws := "ws://" + strings.TrimPrefix(base, "http://") + "/"
	require.Contains(t, out.String(), "Actions: greet (sync), tick (async)")
	require.Contains(t, out.String(), "streamer call --url "+ws+` greet '{"name":"O'\''Brien"}'`, "a call line per example, quoted for the shell")
	require.NotContains(t, out.String(), " tick '", "no line for an action without an example")

	resp, err := http.Get(base + "/dev/actions")
	require.NoError(t, err)
	var actions local.ActionsResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&actions))
	require.NoError(t, resp.Body.Close())
	require.Len(t, actions.Actions, 2)

	c, err := client.Dial(ctx, ws, tok, client.Options{})
	require.NoError(t, err)
	defer c.Close()
	call, err := c.Call(ctx, "greet", greeting{Name: "Ada"})
	require.NoError(t, err)
	res, err := call.Wait(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"greeting":"Hello, Ada"}`, string(res.Data))
	require.NoError(t, c.Close())

	interrupt()
	select {
	case code := <-exited:
		require.Equal(t, ExitOK, code, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("local did not stop")
	}
	require.Contains(t, errOut.String(), "shutting down")
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "the server is down")
}
