package streamerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// consumerVersion is the version the test publishes the repository's modules at.
const consumerVersion = "v0.1.0"

// consumerApp is the CDK app of a project outside the repository: it uses the construct
// with its own Lambda main package as Entry (or, given the argument "no-entry", without
// Entry), and prints the source file the construct's code was compiled from.
const consumerApp = `package main

import (
	"fmt"
	"os"
	"reflect"
	"runtime"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/constructs/streamerapi"
)

func main() {
	defer jsii.Close()
	file, _ := runtime.FuncForPC(reflect.ValueOf(streamerapi.NewStreamerApi).Pointer()).FileLine(0)
	fmt.Println("construct source:", file)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String("cdk.out")})
	stack := awscdk.NewStack(app, jsii.String("Consumer"), nil)
	props := &streamerapi.StreamerApiProps{
		Entry:   jsii.String("./lambda"),
		JwksUrl: jsii.String("https://idp.example.com/jwks.json"),
	}
	if len(os.Args) > 1 && os.Args[1] == "no-entry" {
		props.Entry = nil
	}
	streamerapi.NewStreamerApi(stack, jsii.String("Streamer"), props)
	app.Synth(nil)
}
`

// TestConsumerOutsideRepo synthesises a stack from a temporary module outside the
// repository that gets the construct the way a user's project does: from a module proxy
// into a module cache (read-only files under .../constructs@v0.1.0). The proxy is a
// directory holding the constructs and runtime modules zipped from this checkout at
// v0.1.0, followed by the local download cache for every other module; the module cache
// is a fresh temporary one, so no copy of our modules outlives the test. Any network
// access fails the test.
func TestConsumerOutsideRepo(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and runs a CDK app from a fresh module cache (over a minute with a cold build cache)")
	}
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	downloads := strings.TrimSpace(goOutput(t, repo, nil, "env", "GOMODCACHE"))
	proxy := t.TempDir()
	var sums []string
	for _, dir := range []string{"constructs", "runtime"} {
		sums = append(sums, publishModule(t, proxy, "github.com/streamer-go/streamer/"+dir, filepath.Join(repo, dir))...)
	}
	for _, dir := range []string{"constructs", "runtime"} {
		raw, err := os.ReadFile(filepath.Join(repo, dir, "go.sum"))
		require.NoError(t, err)
		sums = append(sums, strings.Split(strings.TrimSpace(string(raw)), "\n")...)
	}
	slices.Sort(sums)

	dir := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
	write("go.mod", `module example.com/consumer

go 1.26

require (
	github.com/aws/aws-cdk-go/awscdk/v2 v2.276.0
	github.com/aws/jsii-runtime-go v1.142.0
	github.com/streamer-go/streamer/constructs `+consumerVersion+`
)
`)
	write("go.sum", strings.Join(slices.Compact(sums), "\n")+"\n")
	write("main.go", consumerApp)
	write("lambda/main.go", "// Command lambda is the consumer's bootstrap.\npackage main\n\nfunc main() {}\n")

	modcache := t.TempDir()
	network := &requestLog{}
	sentinel := httptest.NewServer(network)
	t.Cleanup(sentinel.Close)
	env := []string{
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw=false -buildvcs=false",
		"GOTOOLCHAIN=local",
		"GOMODCACHE=" + modcache,
		"GOPROXY=file://" + filepath.ToSlash(proxy) + ",file://" + filepath.ToSlash(filepath.Join(downloads, "cache", "download")),
		"HTTP_PROXY=" + sentinel.URL, "HTTPS_PROXY=" + sentinel.URL, "NO_PROXY=",
		"http_proxy=" + sentinel.URL, "https_proxy=" + sentinel.URL, "no_proxy=",
	}
	// Runs after the temporary directories are registered, so it empties the read-only
	// module cache before they are removed.
	t.Cleanup(func() {
		cmd := exec.CommandContext(context.Background(), "go", "clean", "-modcache")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go clean -modcache: %v\n%s", err, out)
		}
	})

	app := filepath.Join(t.TempDir(), "consumer")
	start := time.Now()
	goOutput(t, dir, env, "build", "-trimpath", "-o", app, ".")
	t.Logf("consumer app built in %s", time.Since(start).Round(time.Second))

	out, err := command(t, dir, env, app).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "construct source: github.com/streamer-go/streamer/constructs@"+consumerVersion+"/streamerapi/streamerapi.go")
	constructDir := strings.TrimSpace(goOutput(t, dir, env, "list", "-m", "-f", "{{.Dir}}", "github.com/streamer-go/streamer/constructs"))
	require.Equal(t, filepath.Join(modcache, "github.com", "streamer-go", "streamer", "constructs@"+consumerVersion), constructDir)
	fi, err := os.Stat(filepath.Join(constructDir, "streamerapi", "asset.go"))
	require.NoError(t, err)
	require.Zero(t, fi.Mode().Perm()&0o222, "module cache files are read-only")

	raw, err := os.ReadFile(filepath.Join(dir, "cdk.out", "Consumer.template.json"))
	require.NoError(t, err)
	var template struct {
		Resources map[string]struct{ Type string } `json:"Resources"`
	}
	require.NoError(t, json.Unmarshal(raw, &template))
	functions := 0
	for _, r := range template.Resources {
		if r.Type == "AWS::Lambda::Function" {
			functions++
		}
	}
	require.Equal(t, 6, functions)
	assets, err := filepath.Glob(filepath.Join(dir, "cdk.out", "asset.*", "bootstrap"))
	require.NoError(t, err)
	require.Len(t, assets, 1, "one asset, built from the consumer's ./lambda")
	require.False(t, strings.HasPrefix(assets[0], repo))

	msg, err := command(t, dir, env, app, "no-entry").CombinedOutput()
	require.Error(t, err, "%s", msg)
	require.Contains(t, string(msg), `resolving entry "`+DefaultEntry+`"`)
	require.Contains(t, string(msg), "set Entry to your main package or Code to a prebuilt bundle")

	require.Empty(t, network.requests(), "the consumer must build offline")
}

// publishModule writes the module in dir to the file-based GOPROXY at proxy as
// consumerVersion (list, .info, .mod, .zip) and returns its go.sum lines.
func publishModule(t *testing.T, proxy, path, dir string) []string {
	t.Helper()
	escaped, err := module.EscapePath(path)
	require.NoError(t, err)
	base := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	require.NoError(t, os.MkdirAll(base, 0o755))
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	info := `{"Version":"` + consumerVersion + `","Time":"2026-01-01T00:00:00Z"}`
	for name, content := range map[string]string{
		"list":                    consumerVersion + "\n",
		consumerVersion + ".info": info,
		consumerVersion + ".mod":  string(gomod),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(base, name), []byte(content), 0o644))
	}
	zipPath := filepath.Join(base, consumerVersion+".zip")
	f, err := os.Create(zipPath)
	require.NoError(t, err)
	require.NoError(t, modzip.CreateFromDir(f, module.Version{Path: path, Version: consumerVersion}, dir))
	require.NoError(t, f.Close())
	zipHash, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	require.NoError(t, err)
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gomod)), nil
	})
	require.NoError(t, err)
	return []string{
		path + " " + consumerVersion + " " + zipHash,
		path + " " + consumerVersion + "/go.mod " + modHash,
	}
}

// goOutput runs the go command in dir with env added and returns its standard output.
func goOutput(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := command(t, dir, env, "go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}

// command prepares name with args to run in dir with env added to the test's environment.
func command(t *testing.T, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// requestLog is an HTTP proxy that refuses and records every request sent through it.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

// ServeHTTP records the request and refuses it.
func (l *requestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.seen = append(l.seen, r.Method+" "+r.Host)
	l.mu.Unlock()
	http.Error(w, "offline test", http.StatusForbidden)
}

// requests returns the requests recorded so far.
func (l *requestLog) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}
