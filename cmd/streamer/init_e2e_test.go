//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/local"
)

// TestInitAppEndToEnd is what a new user does, outside any checkout, with only Go, Node
// and the Streamer CLI: `streamer init myapp && cd myapp && make test`, then `make
// synth` (the functions carry the app's binary) and `make dev` (the page shows both
// actions; `streamer call` gets the greeting, and the countdown's progress and result).
// Go modules come from the Go proxy into a module cache of the test's own.
func TestInitAppEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the app's modules and builds the CDK bindings")
	}
	for _, tool := range []string{"make", "node", "npm", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			reason := tool + " is not installed: the scaffold's make targets need it (Node.js for the CDK CLI, Java for DynamoDB Local)"
			if os.Getenv("CI") == "true" {
				t.Fatal(reason)
			}
			t.Skip(reason)
		}
	}
	t.Parallel()
	work := t.TempDir()
	cli := filepath.Join(work, "streamer")
	build := exec.Command("go", "build", "-o", cli, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	env := append(os.Environ(),
		"GOWORK=off",
		"GOMODCACHE="+filepath.Join(work, "gomodcache"),
		// -modcacherw: the test can delete its module cache. -trimpath: build cache keys do
		// not hold the module cache's path, so a later run reuses the compiled packages.
		"GOFLAGS=-modcacherw -trimpath",
	)
	sh := func(dir string, name string, args ...string) (string, string) {
		t.Helper()
		began := time.Now()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "%s %v\nstdout:\n%s\nstderr:\n%s", name, args, stdout.String(), stderr.String())
		t.Logf("%s %s: %s", name, strings.Join(args, " "), time.Since(began).Round(time.Second))
		return stdout.String(), stderr.String()
	}

	sh(work, cli, "init", "myapp")
	app := filepath.Join(work, "myapp")
	sh(app, "make", "test")

	sh(app, "make", "synth")
	template, err := os.ReadFile(filepath.Join(app, "cdk.out", "Myapp.template.json"))
	require.NoError(t, err)
	var doc struct {
		Resources map[string]struct {
			Type       string
			Properties struct{ Code struct{ S3Key any } }
		}
		Outputs map[string]any
	}
	require.NoError(t, json.Unmarshal(template, &doc))
	assets := map[string]bool{}
	for _, r := range doc.Resources {
		if r.Type == "AWS::Lambda::Function" {
			key, ok := r.Properties.Code.S3Key.(string)
			require.True(t, ok, "a Lambda function's code is an asset")
			assets[strings.TrimSuffix(key, ".zip")] = true
		}
	}
	require.Len(t, assets, 1, "the seven functions share one binary")
	for hash := range assets {
		version, _ := sh(app, "go", "version", "-m", filepath.Join("cdk.out", "asset."+hash, "bootstrap"))
		require.Regexp(t, `(?m)^\s+path\s+myapp/cmd/app$`, version, "the app's main is the functions' binary")
	}
	for _, name := range []string{"WebSocketUrl", "HmacSecretArn"} {
		require.Contains(t, doc.Outputs, name)
	}

	// make dev, in its own process group so that one interrupt reaches make, go run and
	// the stack, as Ctrl-C in a terminal does.
	var stdout, stderr syncBuffer
	dev := exec.Command("make", "dev", "DEV_FLAGS=--addr 127.0.0.1:0")
	dev.Dir, dev.Env = app, env
	dev.Stdout, dev.Stderr = &stdout, &stderr
	dev.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, dev.Start())
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-dev.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("make dev stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})
	banner := regexp.MustCompile(`Page +(http://127\.0\.0\.1:\d+)/\n(?s:.*)export STREAMER_TOKEN=(\S+)\n(?s:.*)Ctrl-C`)
	var m []string
	require.Eventually(t, func() bool { m = banner.FindStringSubmatch(stdout.String()); return m != nil }, 5*time.Minute, 100*time.Millisecond)
	base, tok := m[1], m[2]
	ws := "ws://" + strings.TrimPrefix(base, "http://") + "/"
	require.Contains(t, stdout.String(), "Actions: countdown (async), greet (sync)")

	resp, err := http.Get(base + "/dev/actions")
	require.NoError(t, err)
	var actions local.ActionsResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&actions))
	require.NoError(t, resp.Body.Close())
	require.Len(t, actions.Actions, 2)

	greeting, _ := sh(app, cli, "call", "--url", ws, "--token", tok, "greet", `{"name":"Ada"}`)
	require.Contains(t, greeting, `"greeting": "Hello, Ada"`)
	result, progress := sh(app, cli, "call", "--url", ws, "--token", tok, "countdown", `{"from":3,"step_ms":300}`)
	require.Contains(t, result, `"done": true`)
	require.Contains(t, progress, "100.0%", "the progress bar ends full")
	require.Contains(t, progress, "left", "the countdown's progress messages show")

	ctx := browser(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("conn").classList.contains("open") && !!document.getElementById("run-greet") && !!document.getElementById("run-countdown")`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the page shows a form for each of the app's actions")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("run-greet"))))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const r = document.querySelector('.request[data-action="greet"] pre.result'); return !!r && r.textContent.includes("Hello, Ada"); })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "greet answers from its prefilled example")

	require.NoError(t, syscall.Kill(-dev.Process.Pid, syscall.SIGINT))
	select {
	case <-exited:
		stopped = true
	case <-time.After(time.Minute):
		t.Fatal("make dev did not stop on an interrupt")
	}
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "the stack is down")
}
