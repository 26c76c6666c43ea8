package launch

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
)

// watchedMain is an application's main whose one action answers its version.
const watchedMain = `package main

import (
	"context"

	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/launch"
	"github.com/streamer-go/streamer/runtime/streamer"
)

func main() {
	app := lambdas.New()
	if err := app.Handle("version", streamer.Sync(func(context.Context, *streamer.Job[struct{}]) (string, error) {
		return "VERSION", nil
	})); err != nil {
		panic(err)
	}
	launch.Main(app)
}
`

// watchedModule writes an application module outside the workspace that uses this
// checkout's runtime, and returns its directory and the environment to build it in
// offline (the runtime's own dependencies are in the module cache: its tests built).
func watchedModule(t *testing.T) (string, []string) {
	t.Helper()
	runtimeDir, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	gomod := "module example.com/watched\n\ngo 1.26\n\nrequire github.com/streamer-go/streamer/runtime v0.0.0\n\nreplace github.com/streamer-go/streamer/runtime => " + runtimeDir + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	sum, err := os.ReadFile(filepath.Join(runtimeDir, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(strings.Replace(watchedMain, "VERSION", "v1", 1)), 0o644))
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir, tidy.Env = dir, env
	out, err := tidy.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return dir, env
}

// callVersion asks the stack at ws for its version with tok.
func callVersion(t *testing.T, ws, tok string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, ws, tok, client.Options{})
	require.NoError(t, err)
	defer c.Close()
	call, err := c.Call(ctx, "version", nil)
	require.NoError(t, err)
	res, err := call.Wait(ctx)
	require.NoError(t, err)
	var v string
	require.NoError(t, json.Unmarshal(res.Data, &v))
	return v
}

// TestWatchRebuildsOnAChangeKeepingThePortAndTheKey runs an application with
// `local --watch` as `make dev` does, changes its source, and checks that the new build
// serves on the same URL, accepting the token the banner printed; that a build failure
// leaves the running stack up; and that an interrupt stops everything.
func TestWatchRebuildsOnAChangeKeepingThePortAndTheKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an application three times")
	}
	t.Parallel()
	dir, env := watchedModule(t)
	bin := filepath.Join(t.TempDir(), "app")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Env = dir, env
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "local", "--watch", "--addr", "127.0.0.1:0", "--log-level", "warn")
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})

	var m []string
	require.Eventually(t, func() bool { m = bannerPattern.FindStringSubmatch(stdout.String()); return m != nil }, time.Minute, 50*time.Millisecond)
	base, tok := m[1], m[2]
	ws := "ws://" + strings.TrimPrefix(base, "http://") + "/"
	require.Contains(t, stdout.String(), "Watching the program's source")
	require.Equal(t, "v1", callVersion(t, ws, tok))

	write := func(name, src string) {
		// A later modification time than the last poll saw, even on a coarse clock.
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
		later := time.Now().Add(2 * time.Second)
		require.NoError(t, os.Chtimes(path, later, later))
	}
	write("main.go", strings.Replace(watchedMain, "VERSION", "v2", 1))
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "restarted in") }, 2*time.Minute, 100*time.Millisecond)
	require.Contains(t, stderr.String(), "on "+base+" (actions: version)")
	require.Equal(t, "v2", callVersion(t, ws, tok), "the new build, on the same port, accepts the first build's token")

	write("broken.go", "package main\n\nfunc broken() { undefined() }\n")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "The running stack stays up") }, 2*time.Minute, 100*time.Millisecond)
	require.Contains(t, stderr.String(), "undefined: undefined")
	require.Equal(t, "v2", callVersion(t, ws, tok), "a failed build leaves the stack running")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		require.NoError(t, err, "%s", stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("the watcher did not stop")
	}
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "the port is closed")
}
