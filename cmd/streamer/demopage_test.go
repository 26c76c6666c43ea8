package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// chromiumPath is the browser the page test drives: $CHROMIUM when set, otherwise
// Debian's Chromium, which scripts/install-chromium.sh installs.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// startDemoStack runs the local stack with the demo actions until the test ends.
func startDemoStack(t *testing.T) *local.Stack {
	t.Helper()
	return startLoggedDemoStack(t, slog.New(slog.DiscardHandler))
}

// startLoggedDemoStack is startDemoStack with the stack's logs going to logger.
func startLoggedDemoStack(t *testing.T, logger *slog.Logger) *local.Stack {
	t.Helper()
	app := lambdas.New()
	require.NoError(t, demo.Register(app))
	st, err := local.Start(t.Context(), local.Config{Addr: "127.0.0.1:0", App: app, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, st.Shutdown(ctx))
	})
	return st
}

// stackLogs collects the stack's JSON log lines.
type stackLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *stackLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lastConnection returns the id of the latest connection the "connected" log lines
// show: a client is never told its own id, the logs are where an operator finds it.
func (l *stackLogs) lastConnection() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := ""
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var line struct {
			Msg          string `json:"msg"`
			ConnectionID string `json:"connection_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "connected" {
			id = line.ConnectionID
		}
	}
	return id
}

// dropConnection disconnects a client from the server side, as API Gateway's
// DeleteConnection does.
func dropConnection(t *testing.T, st *local.Stack, id string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, st.CallbackURL()+"/@connections/"+url.PathEscape(id), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

// TestDemoPageHasNoProtocolCode checks that the page leaves the protocol to the
// package's browser build, which the stack serves next to it.
func TestDemoPageHasNoProtocolCode(t *testing.T) {
	t.Parallel()
	st := startDemoStack(t)
	get := func(path string) (string, string) {
		resp, err := http.Get(st.URL() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body), resp.Header.Get("Content-Type")
	}
	page, _ := get("/")
	require.Contains(t, page, `from "./streamer-client.js"`)
	for _, protocol := range []string{"WebSocket(", ".send(", "streamer.status", "streamer.cancel", "streamer.ping", "request_id", "data_part", `"pong"`} {
		require.False(t, strings.Contains(page, protocol), "the page speaks the protocol itself: %q", protocol)
	}
	lib, typ := get("/streamer-client.js")
	require.Contains(t, typ, "javascript")
	require.Contains(t, lib, "@streamer-go/client")
	require.Contains(t, lib, "data_part", "the browser build reassembles split results")
}

// browser starts a headless Chromium with a throwaway profile and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath()
	if _, err := os.Stat(exe); err != nil {
		reason := "no Chromium at " + exe + " (run scripts/install-chromium.sh, or set CHROMIUM)"
		if os.Getenv("CI") == "true" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	profile, err := os.MkdirTemp("", "streamer-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		// Chromium's helpers may still write there for a moment after it exits.
		require.Eventually(t, func() bool { return os.RemoveAll(profile) == nil }, 10*time.Second, 100*time.Millisecond)
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	return ctx
}

// TestDemoPageRunsAReport opens the demo page in headless Chromium, runs
// generate_report and watches its bar reach 100 % and its result appear, runs the other
// actions, then drops the page's connection from the server side in the middle of a
// process_data that completes all the same. The screenshot goes to the test's temp dir,
// and to docs/images/demo.png with STREAMER_UPDATE_SCREENSHOTS=1.
func TestDemoPageRunsAReport(t *testing.T) {
	t.Parallel()
	logs := &stackLogs{}
	st := startLoggedDemoStack(t, slog.New(slog.NewJSONHandler(logs, nil)))
	ctx := browser(t)
	wait := chromedp.WithPollingTimeout(30 * time.Second)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(st.URL()+"/")))
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("conn").classList.contains("open")`, wait))
	require.NoError(t, err, "the page connects with a dev token")
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#actions h2")].map((h) => h.textContent)`))
	require.NoError(t, err)
	require.Equal(t, []string{"echosync", "generate_reportasync", "healthsync", "long_jobasync", "process_dataasync", "any action"}, cards,
		"a form per registered action, with its mode, and one for any action")
	prefilled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(JSON.parse(document.getElementById("payload-generate_report").value))`))
	require.NoError(t, err)
	require.JSONEq(t, `{"start_date":"2026-01-01","end_date":"2026-01-31"}`, prefilled, "the form holds the handler's example")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-echo"))))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('.request[data-action="echo"] pre.result')`, wait))
	require.NoError(t, err, "echo answers")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-generate_report"))))
	// Below 100 % first: the bar moves while the report is built.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const r = document.querySelector('.request[data-action="generate_report"]');
		const pct = r && parseFloat(r.querySelector('.pct').textContent);
		return pct > 0 && pct < 100;
	})()`, wait, chromedp.WithPollingInterval(20*time.Millisecond)))
	require.NoError(t, err, "live progress shows")
	pct, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const r = document.querySelector('.request[data-action="generate_report"]');
		return r && r.querySelector('pre.result') && r.querySelector('.bar').style.width === "100%" && r.querySelector('.pct').textContent;
	})()`, wait))
	require.NoError(t, err, "the result appears")
	require.Equal(t, "100%", pct)
	result, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.request[data-action="generate_report"] pre.result`)))
	require.NoError(t, err)
	require.Contains(t, result, `"pages"`)
	require.Contains(t, result, `"size_bytes"`)

	// The other two actions, and an error: each request shows its outcome.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-health"))))
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		document.getElementById("payload-process_data").value = '{"items": 5, "item_ms": 100}';
		document.getElementById("payload-echo").value = "";
		return true;
	})()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-process_data"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-echo"))))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const done = (a, cls) => !!document.querySelector('.request[data-action="' + a + '"] pre.' + cls);
		const pd = document.querySelector('.request[data-action="process_data"]');
		return done("health", "result") && done("process_data", "result") && done("echo", "error") &&
			pd.querySelector('.pct').textContent === "100%";
	})()`, wait))
	require.NoError(t, err, "health and process_data show results, an empty echo its error")
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.request[data-action="echo"] pre.error`)))
	require.NoError(t, err)
	require.Contains(t, shown, "VALIDATION_ERROR")
	shown, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.request[data-action="process_data"] pre.result`)))
	require.NoError(t, err)
	require.Contains(t, shown, `"items_processed": 5`)

	// A server-side drop (DeleteConnection, as after API Gateway's 2 hours) in the middle
	// of a request: the page's client reconnects and resumes it, the card completes.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		document.getElementById("payload-process_data").value = '{"items": 20, "item_ms": 150}';
		return true;
	})()`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-process_data"))))
	running := `document.querySelector('.request[data-action="process_data"]')`
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const pct = parseFloat(`+running+`.querySelector('.pct').textContent);
		return pct > 0 && pct < 100;
	})()`, wait, chromedp.WithPollingInterval(20*time.Millisecond)))
	require.NoError(t, err, "the second process_data runs")
	id := logs.lastConnection()
	require.NotEmpty(t, id, "the stack logged the page's connection")
	dropConnection(t, st, id)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
		const r = `+running+`;
		return !!r.querySelector('pre.result') && document.getElementById("conn").textContent.includes("1 reconnect");
	})()`, wait))
	require.NoError(t, err, "the request completes after the reconnect")
	shown, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.request[data-action="process_data"] pre.result`)))
	require.NoError(t, err)
	require.Contains(t, shown, `"items_processed": 20`)
	results, err := chromedp.Run(ctx, chromedp.Evaluate[int](running+`.querySelectorAll('pre').length`))
	require.NoError(t, err)
	require.Equal(t, 1, results, "one outcome on the card")

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(png), "\x89PNG"))
	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "demo.png"), png, 0o644))
	if os.Getenv("STREAMER_UPDATE_SCREENSHOTS") == "1" {
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "images", "demo.png"), png, 0o644))
	}
}

// TestPageReconnectsWhenTheStackRestarts stops the stack under an open page and starts
// another on the same socket with the same dev key, as watch mode does: the page
// reconnects by itself, reloads the actions (the new build has one more), and runs one.
func TestPageReconnectsWhenTheStackRestarts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	held, err := ln.(*net.TCPListener).File()
	require.NoError(t, err)
	t.Cleanup(func() { _ = held.Close() })
	issuer, err := auth.NewDevIssuer()
	require.NoError(t, err)
	start := func(register func(*lambdas.App) error) *local.Stack {
		l, err := net.FileListener(held)
		require.NoError(t, err)
		app := lambdas.New()
		require.NoError(t, register(app))
		st, err := local.Start(t.Context(), local.Config{Listener: l, Issuer: issuer, App: app, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return st
	}
	shutdown := func(st *local.Stack) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, st.Shutdown(ctx))
	}
	first := start(func(app *lambdas.App) error {
		return app.Handle(demo.ActionEcho, streamer.Sync(demo.Echo))
	})
	ctx := browser(t)
	wait := chromedp.WithPollingTimeout(60 * time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(first.URL()+"/")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("conn").classList.contains("open") && !!document.getElementById("run-echo")`, wait))
	require.NoError(t, err, "the page connects and shows echo")

	shutdown(first)
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("conn").classList.contains("open")`, wait))
	require.NoError(t, err, "the page sees the stack go")
	second := start(func(app *lambdas.App) error { return demo.Register(app) })
	t.Cleanup(func() { shutdown(second) })

	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("conn").classList.contains("open") && !!document.getElementById("run-health")`, wait))
	require.NoError(t, err, "the page reconnects by itself and shows the new build's actions")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-health"))))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('.request[data-action="health"] pre.result')`, wait))
	require.NoError(t, err, "health answers on the new connection")
}
