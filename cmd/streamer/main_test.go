package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// runCLI runs the CLI with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), env{prog: "streamer", stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "help")
	require.Equal(t, exitOK, code)
	for _, c := range []string{"local", "token", "call"} {
		require.Contains(t, out, "  "+c+" ")
	}
	code, _, errOut := runCLI(t)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "Usage: streamer <command>")
	code, _, errOut = runCLI(t, "frobnicate")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `unknown command "frobnicate"`)
	code, _, _ = runCLI(t, "local", "--no-such-flag")
	require.Equal(t, exitUsage, code)
	code, _, errOut = runCLI(t, "local", "--addr", "0.0.0.0:0")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--addr 0.0.0.0:0 is not a loopback address")
	require.Contains(t, errOut, "--insecure-expose-to-network")
	code, _, errOut = runCLI(t, "local", "--tenant-max-in-flight", "5000")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "TenantMaxInFlight 5000 is over 1000")
	code, _, errOut = runCLI(t, "help", "call")
	require.Equal(t, exitOK, code)
	require.Contains(t, errOut, "ACTION [PAYLOAD-JSON]")
	code, _, errOut = runCLI(t, "local", "--template", "cdk.out/StreamerDemo.template.json")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--template needs --dynamodb-endpoint")
	code, _, errOut = runCLI(t, "local", "--template", "no/such.template.json", "--dynamodb-endpoint", "http://127.0.0.1:1")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "no/such.template.json")
}

func TestTokenAndCall(t *testing.T) {
	t.Parallel()
	st := startDemoStack(t)
	ws := st.WebSocketURL()

	code, tok, errOut := runCLI(t, "token", "--url", st.URL(), "--user", "alice", "--tenant", "acme")
	require.Equal(t, exitOK, code, errOut)
	tok = strings.TrimSpace(tok)
	require.Len(t, strings.Split(tok, "."), 3, "a JWT")

	t.Run("result", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "call", "--url", ws, "--token", tok, "echo", `{"hello":"cli"}`)
		require.Equal(t, exitOK, code, errOut)
		var res protocol.ResultMessage
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		require.True(t, res.Success)
		require.JSONEq(t, `{"hello":"cli"}`, string(res.Data))
	})
	t.Run("progress", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "call", "--url", ws, "--token", tok, "--id", "cli-1", "process_data", `{"items":5,"item_ms":100}`)
		require.Equal(t, exitOK, code, errOut)
		require.Contains(t, out, `"items_processed": 5`)
		require.Contains(t, errOut, "100.0%", "the progress bar ends full")
		require.Contains(t, errOut, "running ", "progress was shown while it ran")
	})
	t.Run("health", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "call", "--url", ws, "--token", tok, "health")
		require.Equal(t, exitOK, code, errOut)
		var res protocol.ResultMessage
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		var data map[string]string
		require.NoError(t, json.Unmarshal(res.Data, &data))
		require.Equal(t, "ok", data["status"])
		require.NotEmpty(t, data["version"])
	})
	t.Run("generate_report", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "call", "--url", ws, "--token", tok, "generate_report", `{"start_date":"2026-01-01","end_date":"2026-02-15"}`)
		require.Equal(t, exitOK, code, errOut)
		var res protocol.ResultMessage
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		var data struct {
			Rows        []map[string]any `json:"rows"`
			Pages       int              `json:"pages"`
			SizeBytes   int              `json:"size_bytes"`
			GeneratedAt time.Time        `json:"generated_at"`
		}
		require.NoError(t, json.Unmarshal(res.Data, &data))
		require.Len(t, data.Rows, 46, "one row per day")
		require.Equal(t, 2, data.Pages)
		require.Positive(t, data.SizeBytes)
		require.WithinDuration(t, time.Now(), data.GeneratedAt, time.Minute)
		for _, pct := range []string{" 10.0%", " 30.0%", " 60.0%", " 90.0%", "100.0%"} {
			require.Contains(t, errOut, pct, "the bar shows each step")
		}
	})
	t.Run("error result", func(t *testing.T) {
		t.Parallel()
		code, out, errOut := runCLI(t, "call", "--url", ws, "--token", tok, "echo")
		require.Equal(t, exitError, code)
		var em protocol.ErrorMessage
		require.NoError(t, json.Unmarshal([]byte(out), &em))
		require.Equal(t, streamer.ErrCodeValidation, em.Error.Code)
		require.Contains(t, errOut, "VALIDATION_ERROR")
	})
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"call", "--url", ws, "--token", tok},                        // no action
			{"call", "--url", ws, "--token", tok, "echo", "{not json"},   // bad payload
			{"call", "--url", ws, "--token", tok, "echo", "{}", "extra"}, // too many
			{"call", "--url", ws, "--token", "", "echo"},                 // no token
			{"token", "--url", st.URL(), "--user", ""},                   // no user
		} {
			code, _, _ := runCLI(t, args...)
			require.Equal(t, exitUsage, code, "%v", args)
		}
	})
	t.Run("stack goes away", func(t *testing.T) {
		t.Parallel()
		doomed := startDemoStack(t)
		tok, err := doomed.Token("alice", "acme", time.Hour)
		require.NoError(t, err)
		var errOut syncBuffer
		exited := make(chan int, 1)
		// The job (5 s) outlasts the time the stack takes to go away once it runs; the
		// call then gives up at its --timeout, which leaves a loaded machine room to
		// dial, start the job and shut the stack down first.
		go func() {
			exited <- run(t.Context(), env{prog: "streamer", stdout: io.Discard, stderr: &errOut},
				[]string{"call", "--url", doomed.WebSocketURL(), "--token", tok, "--timeout", "10s", "process_data", `{"items":50,"item_ms":100}`})
		}()
		require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "running ") }, 30*time.Second, 10*time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, doomed.Shutdown(ctx))
		select {
		case code := <-exited:
			require.Equal(t, exitError, code)
		case <-time.After(30 * time.Second):
			t.Fatal("streamer call still waiting")
		}
		require.Contains(t, errOut.String(), "reconnecting", "the user sees why nothing moves")
	})
	t.Run("expired token", func(t *testing.T) {
		t.Parallel()
		code, expired, errOut := runCLI(t, "token", "--url", st.URL(), "--ttl", (-time.Hour).String())
		require.Equal(t, exitOK, code, errOut)
		code, _, errOut = runCLI(t, "call", "--url", ws, "--token", strings.TrimSpace(expired), "echo", `"x"`)
		require.Equal(t, exitError, code)
		require.Contains(t, errOut, "refused")
	})
}

func TestTokenWithoutAStack(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCLI(t, "token", "--url", "http://127.0.0.1:1")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "is `streamer local` running?")
}

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
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

// TestLocalRunsUntilInterrupted runs `streamer local` as `make dev` does, follows its
// banner, and stops it the way SIGINT does (main cancels the context on SIGINT and
// SIGTERM): the stack shuts down cleanly and the command exits 0.
func TestLocalRunsUntilInterrupted(t *testing.T) {
	t.Parallel()
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var out, errOut syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, env{prog: "./bin/streamer", stdout: &out, stderr: &errOut}, []string{"local", "--addr", "127.0.0.1:0"})
	}()
	banner := regexp.MustCompile(`Page +(http://127\.0\.0\.1:\d+)/\n(?s:.*)export STREAMER_TOKEN=(\S+)\n`)
	var m []string
	require.Eventually(t, func() bool { m = banner.FindStringSubmatch(out.String()); return m != nil }, 30*time.Second, 20*time.Millisecond, "banner: %s %s", out.String(), errOut.String())
	base, tok := m[1], m[2]
	require.Contains(t, out.String(), "./bin/streamer call --url ws://"+strings.TrimPrefix(base, "http://")+"/ generate_report", "how to try it")
	require.Contains(t, out.String(), "Ctrl-C")

	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body), path)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	code, res, errText := runCLI(t, "call", "--url", strings.Replace(base, "http", "ws", 1)+"/", "--token", tok, "echo", `"banner token"`)
	require.Equal(t, exitOK, code, errText)
	require.Contains(t, res, `"banner token"`)

	interrupt()
	select {
	case code := <-exited:
		require.Equal(t, exitOK, code, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("streamer local did not stop")
	}
	require.Contains(t, errOut.String(), "shutting down")
	_, err := http.Get(base + "/healthz")
	require.Error(t, err, "the server is down")
}
