package release

import (
	"bytes"
	"context"
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

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// modulePrefix is the path of every module of this repository.
const modulePrefix = "github.com/streamer-go/streamer/"

// published are the modules of this repository that are published (cdk and test are not).
var published = []string{"runtime", "constructs", "cmd"}

// goProxy is a file-based module proxy holding this tree's published modules at Version,
// backed by the local download cache for every other module, with a fresh module cache
// and the network closed.
type goProxy struct {
	repo string   // the repository's root
	env  []string // the go command's environment for using the proxy offline
	sums []string // go.sum lines of the published modules
	net  *requestLog
}

// newProxy publishes this tree's modules and returns the environment that uses them.
// The module cache is a fresh temporary one (zips of our modules left in the shared
// cache would look published to every later build); it is emptied when the test ends.
func newProxy(t *testing.T) *goProxy {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	downloads := strings.TrimSpace(goOutput(t, repo, nil, "env", "GOMODCACHE"))
	dir := t.TempDir()
	p := &goProxy{repo: repo, net: &requestLog{}}
	for _, m := range published {
		p.sums = append(p.sums, publishModule(t, dir, modulePrefix+m, filepath.Join(repo, m))...)
	}
	sentinel := httptest.NewServer(p.net)
	t.Cleanup(sentinel.Close)
	modcache := t.TempDir()
	p.env = []string{
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw=false -buildvcs=false -trimpath",
		"GOTOOLCHAIN=local",
		"GOMODCACHE=" + modcache,
		"GOPROXY=file://" + filepath.ToSlash(dir) + ",file://" + filepath.ToSlash(filepath.Join(downloads, "cache", "download")),
		"GOSUMDB=off", // the downloads come from the local cache, verified when first fetched
		"HTTP_PROXY=" + sentinel.URL, "HTTPS_PROXY=" + sentinel.URL, "NO_PROXY=",
		"http_proxy=" + sentinel.URL, "https_proxy=" + sentinel.URL, "no_proxy=",
	}
	// Registered after the temporary directories, so it runs first and empties the
	// read-only module cache before they are removed.
	t.Cleanup(func() {
		cmd := exec.CommandContext(context.Background(), "go", "clean", "-modcache")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), p.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go clean -modcache: %v\n%s", err, out)
		}
		require.Empty(t, p.net.requests(), "everything must come from the proxy, offline")
	})
	return p
}

// goSum returns the go.sum lines of the published modules and of the given modules'
// own go.sum files, sorted and deduplicated: what an app outside the repository that
// requires them has in its go.sum.
func (p *goProxy) goSum(t *testing.T, modules ...string) string {
	t.Helper()
	sums := slices.Clone(p.sums)
	for _, m := range modules {
		raw, err := os.ReadFile(filepath.Join(p.repo, m, "go.sum"))
		require.NoError(t, err)
		sums = append(sums, strings.Split(strings.TrimSpace(string(raw)), "\n")...)
	}
	slices.Sort(sums)
	return strings.Join(slices.Compact(sums), "\n") + "\n"
}

// publishModule writes the module in dir to the file-based GOPROXY at proxy as Version
// (list, .info, .mod, .zip) and returns its go.sum lines.
func publishModule(t *testing.T, proxy, path, dir string) []string {
	t.Helper()
	escaped, err := module.EscapePath(path)
	require.NoError(t, err)
	base := filepath.Join(proxy, filepath.FromSlash(escaped), "@v")
	require.NoError(t, os.MkdirAll(base, 0o755))
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	for name, content := range map[string]string{
		"list":            Version + "\n",
		Version + ".info": `{"Version":"` + Version + `","Time":"2026-01-01T00:00:00Z"}`,
		Version + ".mod":  string(gomod),
	} {
		require.NoError(t, os.WriteFile(filepath.Join(base, name), []byte(content), 0o644))
	}
	zipPath := filepath.Join(base, Version+".zip")
	f, err := os.Create(zipPath)
	require.NoError(t, err)
	require.NoError(t, modzip.CreateFromDir(f, module.Version{Path: path, Version: Version}, dir))
	require.NoError(t, f.Close())
	zipHash, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	require.NoError(t, err)
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gomod)), nil
	})
	require.NoError(t, err)
	return []string{
		path + " " + Version + " " + zipHash,
		path + " " + Version + "/go.mod " + modHash,
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
