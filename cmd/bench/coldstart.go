package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Cold start settings.
const (
	// BootstrapSizeGoalMB is the goal for the stripped bootstrap's size
	// (docs/PERFORMANCE.md).
	BootstrapSizeGoalMB = 15
	// ReadyGoalMS is the goal for the time from process start to ready
	// (docs/PERFORMANCE.md).
	ReadyGoalMS = 50
	// coldStartMinLimit is the least time coldstart gets, whatever the duration limit:
	// building two bootstraps with a cold build cache takes minutes on 2 cores.
	coldStartMinLimit = 10 * time.Minute
	// readyTimeout bounds one start of the bootstrap.
	readyTimeout = 10 * time.Second
	// runtimeNextPath is the Lambda Runtime API call a bootstrap makes once it is ready.
	runtimeNextPath = "/2018-06-01/runtime/invocation/next"
)

// ErrNotReady: the bootstrap exited or timed out before it asked for an invocation.
var ErrNotReady = errors.New("bench: bootstrap not ready")

// buildFlags returns the flags of the deployed bootstrap, as StreamerApi builds it.
func buildFlags() []string {
	return []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w"}
}

// buildBootstrap builds pkg for linux/goarch into dir and returns the binary's path.
func buildBootstrap(ctx context.Context, goBin, pkg, goarch, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap-"+goarch)
	args := append(append([]string{"build"}, buildFlags()...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("bench: go build %s for %s: %w: %s", pkg, goarch, err, strings.TrimSpace(string(msg)))
	}
	return out, nil
}

// routerEnv is the environment of the router function for a start against the Runtime
// API at api: dummy credentials and region (nothing may be fetched at init), DynamoDB and
// @connections pointing at a closed local port, no shared AWS config files.
func routerEnv(api, home string) []string {
	return []string{
		"AWS_LAMBDA_RUNTIME_API=" + api,
		"AWS_LAMBDA_FUNCTION_NAME=streamer-router",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=bench",
		"AWS_SECRET_ACCESS_KEY=bench",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"HOME=" + home,
		"STREAMER_FUNCTION=router",
		"STREAMER_CONNECTIONS_TABLE=streamer-connections",
		"STREAMER_REQUESTS_TABLE=streamer-requests",
		"STREAMER_CALLBACK_URL=http://127.0.0.1:9",
		"STREAMER_DYNAMODB_ENDPOINT=http://127.0.0.1:9",
		"STREAMER_LOG_LEVEL=error",
	}
}

// timeToReady starts bin with env plus AWS_LAMBDA_RUNTIME_API pointing at a Runtime
// API served here, and returns the time from the start of the process to its first
// GET of the next invocation; then it kills the process.
func timeToReady(ctx context.Context, bin string, env func(api string) []string) (time.Duration, error) {
	ready := make(chan time.Time, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == runtimeNextPath {
			select {
			case ready <- time.Now():
			default:
			}
			<-r.Context().Done() // no invocation: the process is killed while it waits
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer api.Close()

	cmd := exec.Command(bin)
	cmd.Env = env(strings.TrimPrefix(api.URL, "http://"))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("bench: start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		api.CloseClientConnections()
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case at := <-ready:
		return at.Sub(start), nil
	case err := <-exited:
		exited <- err // for the deferred wait
		return 0, fmt.Errorf("%w: exited (%v): %.500s", ErrNotReady, err, stderr.String())
	case <-timer.C:
		return 0, fmt.Errorf("%w: no Runtime API call within %s", ErrNotReady, readyTimeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// coldStart builds the bootstrap for arm64 and amd64, reports their sizes, and times the
// start of the one this machine runs.
func (r *runner) coldStart(ctx context.Context) (Result, error) {
	dir, err := os.MkdirTemp("", "streamer-bench-")
	if err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	res := Result{Notes: []string{
		fmt.Sprintf("GOOS=linux CGO_ENABLED=0 %s build %s -o bootstrap %s", r.opts.GoBin, strings.Join(quoteFlags(buildFlags()), " "), r.opts.LambdaPackage),
	}}
	bar := newProgressBar(r.opts.Progress, ScenarioColdStart, 2+r.opts.ColdStartRuns)
	defer bar.Finish()
	bins := map[string]string{}
	for _, arch := range []string{"arm64", "amd64"} {
		bin, err := buildBootstrap(ctx, r.opts.GoBin, r.opts.LambdaPackage, arch, dir)
		if err != nil {
			return res, err
		}
		bar.Add(1)
		fi, err := os.Stat(bin)
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		bins[arch] = bin
		res.Figures = append(res.Figures, atMost("stripped bootstrap size, linux/"+arch, float64(fi.Size())/(1<<20), "MiB", BootstrapSizeGoalMB))
	}
	host, ok := bins[runtime.GOARCH]
	if runtime.GOOS != "linux" || !ok {
		res.Notes = append(res.Notes, "time to ready needs a linux/amd64 or linux/arm64 machine; skipped")
		return res, nil
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	env := func(api string) []string { return routerEnv(api, home) }
	var runs []time.Duration
	start := time.Now()
	for range r.opts.ColdStartRuns {
		d, err := timeToReady(ctx, host, env)
		if err != nil {
			return res, err
		}
		runs = append(runs, d)
		bar.Add(1)
	}
	s := Summarize(runs, 0, time.Since(start))
	res.Latencies = []Latency{{Name: "process start to first Runtime API call (router, linux/" + runtime.GOARCH + ")", Summary: s}}
	res.Figures = append(res.Figures, atMost("median time to ready", s.P50MS, "ms", ReadyGoalMS))
	res.Notes = append(res.Notes, fmt.Sprintf("time to ready: %d starts of the %s binary with STREAMER_FUNCTION=router against a local Runtime API (httptest), dummy credentials, DynamoDB at a closed local port", len(runs), runtime.GOARCH),
		"in AWS the init phase also includes creating the sandbox and loading the code, which this does not measure; this is the part the binary controls")
	return res, nil
}

// quoteFlags quotes the flags that hold a space, for a command line to copy.
func quoteFlags(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		if k, v, ok := strings.Cut(f, "="); ok && strings.Contains(v, " ") {
			f = k + `="` + v + `"`
		}
		out[i] = f
	}
	return out
}
