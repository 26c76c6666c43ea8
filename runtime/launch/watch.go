package launch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/local"
)

// Settings of the watcher.
const (
	// pollInterval is how often the watcher looks at the source files' times and sizes.
	pollInterval = 500 * time.Millisecond
	// readyTimeout bounds the wait for a started stack's /healthz (DynamoDB tables
	// included).
	readyTimeout = time.Minute
	// stopGrace is how long a stack gets to stop cleanly before it is killed.
	stopGrace = 10 * time.Second
)

// watcher supervises the program: it holds the socket and the dev key, runs the
// current build handed both, and replaces it when the sources change.
type watcher struct {
	opts    Options
	flags   localFlags
	goBin   string
	mainPkg string // import path of the program's main package
	base    string // the stack's HTTP URL
	socket  *os.File
	issuer  *auth.DevIssuer
	keyEnv  string
	binDir  string // the builds
	builds  int
	sources []string // files and directories whose change means a rebuild
}

// watch runs the watcher until ctx ends.
func watch(ctx context.Context, f localFlags, opts Options) int {
	fail := func(err error) int {
		fmt.Fprintf(opts.Stderr, "%s local --watch: %v\n", opts.Name, err)
		return ExitError
	}
	w := &watcher{opts: opts, flags: f}
	exe, err := w.setup(ctx)
	if w.binDir != "" {
		defer os.RemoveAll(w.binDir)
	}
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	defer ln.Close()
	if w.socket, err = ln.(*net.TCPListener).File(); err != nil {
		return fail(err)
	}
	defer w.socket.Close()
	w.base = "http://" + ln.Addr().String()

	// What the first build was made from: a change from now on is a change to it.
	seen := w.fingerprint()
	current, err := fileHash(exe)
	if err != nil {
		return fail(err)
	}
	running, err := w.start(ctx, exe)
	if err != nil {
		return fail(err)
	}
	tok, err := w.issuer.Mint(local.DefaultDevUser, local.DefaultDevTenant, bannerTokenTTL)
	if err != nil {
		fmt.Fprintf(opts.Stderr, "%s local: %v\n", opts.Name, err)
	}
	banner(opts.Stdout, bannerInfo{cli: opts.CLI, base: w.base, endpoint: f.endpoint, token: tok, actions: w.actions(ctx), watching: true})
	return w.loop(ctx, running, exe, current, seen)
}

// setup finds the go command and the program's main package and source files, and makes
// the dev key. It returns the running binary, the first build.
func (w *watcher) setup(ctx context.Context) (string, error) {
	var err error
	if w.goBin, err = exec.LookPath("go"); err != nil {
		return "", errors.New("watch mode rebuilds the program with the go command, which is not on PATH")
	}
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Path == "" || strings.HasSuffix(info.Path, ".test") {
		return "", errors.New("watch mode needs a program built from source with module support")
	}
	w.mainPkg = info.Path
	if err := w.listSources(ctx); err != nil {
		return "", err
	}
	if w.issuer, err = auth.NewDevIssuer(); err != nil {
		return "", err
	}
	if w.keyEnv, err = encodeKey(w.issuer); err != nil {
		return "", err
	}
	if w.binDir, err = os.MkdirTemp("", "streamer-watch-"); err != nil {
		return "", err
	}
	return os.Executable()
}

// loop rebuilds on every change of the sources and replaces the running stack with the
// new build, until ctx ends. running is nil while no build runs; exe is its binary,
// current that binary's hash and seen the sources' fingerprint it was built from.
func (w *watcher) loop(ctx context.Context, running *process, exe, current, seen string) int {
	say := func(format string, args ...any) {
		fmt.Fprintf(w.opts.Stderr, "%s local --watch: %s\n", w.opts.Name, fmt.Sprintf(format, args...))
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var exited <-chan struct{}
		if running != nil {
			exited = running.exited
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w.opts.Stderr, "%s local: shutting down\n", w.opts.Name)
			running.stop(shutdownTimeout + stopGrace)
			return ExitOK
		case <-exited:
			say("the stack exited (%v); it starts again with the next change", running.err)
			running.stop(0)
			running = nil
		case <-tick.C:
			now := w.fingerprint()
			if now == seen {
				continue
			}
			seen = now
			began := time.Now()
			say("source changed, rebuilding")
			bin, err := w.build(ctx)
			if err != nil {
				say("%v\nThe running stack stays up; save a fix to try again.", err)
				continue
			}
			hash, err := fileHash(bin)
			if err == nil && hash == current && running != nil {
				say("the program did not change")
				_ = os.Remove(bin)
				continue
			}
			if err := w.listSources(ctx); err != nil {
				say("%v", err)
			}
			seen = w.fingerprint()
			running.stop(stopGrace)
			if strings.HasPrefix(exe, w.binDir) {
				_ = os.Remove(exe)
			}
			exe, current = bin, hash
			if running, err = w.start(ctx, exe); err != nil {
				say("%v; it starts again with the next change", err)
				continue
			}
			say("restarted in %s on %s (actions: %s)", time.Since(began).Round(100*time.Millisecond), w.base, actionNames(w.actions(ctx)))
		}
	}
}

// build compiles the main package into a new file and returns its path, or the
// compiler's output as the error.
func (w *watcher) build(ctx context.Context) (string, error) {
	w.builds++
	out := filepath.Join(w.binDir, fmt.Sprintf("build-%d", w.builds))
	cmd := exec.CommandContext(ctx, w.goBin, "build", "-buildvcs=false", "-o", out, w.mainPkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s failed: %w\n%s", w.mainPkg, err, bytes.TrimSpace(msg))
	}
	return out, nil
}

// process is one running build.
type process struct {
	cmd      *exec.Cmd
	lifeline *os.File // the watcher's end of the lifeline pipe
	exited   chan struct{}
	err      error // how it exited, once exited is closed
}

// start runs exe as the stack, handed the socket and the key, and waits until it
// answers /healthz.
func (w *watcher) start(ctx context.Context, exe string) (*process, error) {
	lifelineR, lifelineW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, w.flags.args()...)
	cmd.Env = append(os.Environ(), envHandoff+"="+w.keyEnv)
	cmd.ExtraFiles = []*os.File{w.socket, lifelineR} // fds 3 and 4
	cmd.Stdout, cmd.Stderr = w.opts.Stdout, w.opts.Stderr
	err = cmd.Start()
	_ = lifelineR.Close()
	if err != nil {
		_ = lifelineW.Close()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	p := &process{cmd: cmd, lifeline: lifelineW, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := w.waitReady(ctx, p); err != nil {
		p.stop(stopGrace)
		return nil, err
	}
	return p, nil
}

// waitReady polls /healthz until it answers 200, p exits, or readyTimeout passes.
func (w *watcher) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("the stack exited before it was ready: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("the stack was not ready after %s", readyTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop asks p to stop (SIGTERM, and the lifeline closes, which is enough on systems
// without signals) and kills it after grace. A nil p is no process.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	_ = p.lifeline.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// actions asks the running stack for its actions.
func (w *watcher) actions(ctx context.Context) []local.ActionInfo {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/dev/actions", nil)
	if err != nil {
		return nil
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body local.ActionsResponse
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	return body.Actions
}

func actionNames(actions []local.ActionInfo) string {
	if len(actions) == 0 {
		return "none"
	}
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// goPackage is the part of `go list -json` the watcher reads.
type goPackage struct {
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	EmbedFiles []string
	Standard   bool
	Module     *struct {
		Version string
		GoMod   string
		Replace *struct{ Version string }
	}
}

// listSources finds the files the program is built from outside the module cache: its
// packages' Go and embedded files, their directories (a new file changes the
// directory), and their modules' go.mod and go.sum. A dependency replaced by a
// directory (a Streamer checkout) is watched too.
func (w *watcher) listSources(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, w.goBin, "list", "-deps", "-json=Dir,GoFiles,CgoFiles,EmbedFiles,Standard,Module", w.mainPkg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("watch mode rebuilds %s from its source: run the program from its module (for example go run ./cmd/app local --watch): %w: %s",
			w.mainPkg, err, strings.TrimSpace(stderr.String()))
	}
	seen := map[string]bool{}
	var files []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("go list: %w", err)
		}
		m := p.Module
		if p.Standard || m == nil || (m.Version != "" && (m.Replace == nil || m.Replace.Version != "")) {
			continue // the standard library and the read-only module cache do not change
		}
		add(p.Dir)
		for _, group := range [][]string{p.GoFiles, p.CgoFiles, p.EmbedFiles} {
			for _, f := range group {
				add(filepath.Join(p.Dir, f))
			}
		}
		if m.GoMod != "" {
			add(m.GoMod)
			add(strings.TrimSuffix(m.GoMod, ".mod") + ".sum")
		}
	}
	w.sources = files
	return nil
}

// fingerprint sums the modification times and sizes of the sources.
func (w *watcher) fingerprint() string {
	h := sha256.New()
	for _, f := range w.sources {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", f, fi.ModTime().UnixNano(), fi.Size())
		} else {
			fmt.Fprintf(h, "%s missing\n", f)
		}
	}
	return string(h.Sum(nil))
}

// fileHash returns the SHA-256 of a file.
func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return string(h.Sum(nil)), nil
}
