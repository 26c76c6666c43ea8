package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Limits of running `streamer local`.
const (
	// startTimeout bounds the wait for /healthz (table creation on DynamoDB Local included).
	startTimeout = 90 * time.Second
	// templateStartTimeout bounds it for `streamer local --template`, whose first start
	// of a new asset also rebuilds the functions for this machine (minutes on a cold
	// build cache); later starts reuse that build.
	templateStartTimeout = 6 * time.Minute
	// stopTimeout bounds the clean shutdown after SIGTERM (the CLI allows itself 30 s).
	stopTimeout = 45 * time.Second
	// dumpWait bounds the wait for the goroutine dump of a stack that did not stop, and
	// dumpLines is how much of its output the failure shows.
	dumpWait  = 10 * time.Second
	dumpLines = 600
)

// localStack is a `streamer local` process started by the suite, reached only through
// what it offers any user: its WebSocket API, its HTTP endpoints (/healthz, /metrics, the
// dev token endpoint behind `streamer token`, the @connections management API) and its
// log output.
type localStack struct {
	httpURL string
	wsURL   string
	logs    *logBuffer
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // the process's exit status; read after exited is closed
	killed  bool          // set by kill: the test ended the process on purpose
}

// startLocal starts `streamer local` on a loopback port the kernel picks, waits until
// /healthz answers 200, and stops it with SIGTERM when the test ends, failing the test
// unless it exits cleanly.
func startLocal(t *testing.T, flags ...string) *localStack {
	t.Helper()
	s, err := launchLocal(flags)
	if err != nil {
		t.Fatalf("streamer local did not start: %v", err)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func launchLocal(flags []string) (*localStack, error) {
	logs := &logBuffer{changed: make(chan struct{})}
	// Port 0: the kernel picks a free port, which no other process can take between
	// the pick and the listen; the banner says which. Not exec.CommandContext: the stop
	// must be a SIGTERM, not the context's kill.
	cmd := exec.Command(streamerBin, append([]string{"local", "--addr", "127.0.0.1:0"}, flags...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", streamerBin, err)
	}
	s := &localStack{
		logs:   logs,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	timeout := startTimeout
	if slices.Contains(flags, "--template") {
		timeout = templateStartTimeout
	}
	if err := s.waitReady(timeout); err != nil {
		_ = cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("%w\n--- its output:\n%s", err, logs.tail(30))
	}
	return s, nil
}

// bannerURL matches the line of `streamer local`'s banner that gives its base URL.
var bannerURL = regexp.MustCompile(`(?m)^ +Page +http://(127\.0\.0\.1:\d+)/$`)

// waitReady reads the stack's address from its banner, then polls /healthz (the
// process offers no other readiness signal) until it answers 200; it gives up when the
// process exits or timeout passes.
func (s *localStack) waitReady(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for s.httpURL == "" {
		text, changed := s.logs.snapshot()
		if m := bannerURL.FindStringSubmatch(text); m != nil {
			s.httpURL, s.wsURL = "http://"+m[1], "ws://"+m[1]+"/"
			break
		}
		select {
		case <-s.exited:
			return fmt.Errorf("streamer local exited before it printed its address: %v", s.waitErr)
		case <-deadline.C:
			return fmt.Errorf("streamer local: no address in its output within %s", timeout)
		case <-changed:
		}
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := hc.Get(s.httpURL + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("streamer local exited before it was healthy: %v", s.waitErr)
		case <-deadline.C:
			return fmt.Errorf("streamer local: /healthz not 200 within %s", timeout)
		case <-tick.C:
		}
	}
}

// kill ends the process with SIGKILL, as a crash would (no shutdown, nothing flushed),
// and waits until it has exited.
func (s *localStack) kill(t *testing.T) {
	t.Helper()
	s.killed = true
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
	<-s.exited
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM of
// /proc/PID/status), or skips the test where /proc has no such field (not Linux).
func (s *localStack) peakRSS(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no peak RSS of the process: %v", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err, "VmHWM: %q", v)
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc/PID/status")
	return 0
}

// stop sends SIGTERM and requires a clean exit (status 0) within stopTimeout; a process
// the test killed is left alone.
func (s *localStack) stop(t *testing.T) {
	if s.killed {
		return
	}
	select {
	case <-s.exited:
		t.Errorf("streamer local exited before the tests ended: %v\n%s", s.waitErr, s.logs.tail(40))
		return
	default:
	}
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		// SIGQUIT makes the Go runtime print every goroutine's stack and exit: what the
		// shutdown waits on is then in the output.
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(dumpWait):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		t.Errorf("streamer local did not exit within %s of SIGTERM; its goroutines at SIGQUIT follow its output\n%s", stopTimeout, s.logs.tail(dumpLines))
		return
	}
	if s.waitErr != nil {
		t.Errorf("streamer local did not exit cleanly after SIGTERM: %v\n%s", s.waitErr, s.logs.tail(40))
	} else if t.Failed() {
		t.Logf("streamer local's last output:\n%s", s.logs.tail(60))
	}
}

// token mints a token for user in tenant with `streamer token` (the stack's dev token
// endpoint); a negative ttl gives an expired one.
func (s *localStack) token(t *testing.T, user, tenant string, ttl time.Duration) string {
	t.Helper()
	cmd := exec.Command(streamerBin, "token", "--url", s.httpURL, "--user", user, "--tenant", tenant, "--ttl", ttl.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "streamer token: %s", stderr.String())
	tok := strings.TrimSpace(string(out))
	require.NotEmpty(t, tok, "streamer token printed nothing")
	return tok
}

// stackMetrics is the part of GET /metrics the suite reads.
type stackMetrics struct {
	Lambda map[string]struct {
		Invocations int64 `json:"invocations"`
	} `json:"lambda"`
	// Queues are the SQS queues of a stack run from a template.
	Queues map[string]struct {
		Sent int64 `json:"sent"`
	} `json:"sqs"`
}

// metrics reads GET /metrics.
func (s *localStack) metrics(ctx context.Context) (stackMetrics, error) {
	var m stackMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.httpURL+"/metrics", nil)
	if err != nil {
		return m, fmt.Errorf("GET /metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return m, fmt.Errorf("GET /metrics: %w", err)
	}
	return m, nil
}

// logBuffer collects a process's output and wakes up readers waiting for more.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// Write appends p; the process's output goroutines call it.
func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// snapshot returns the output so far and a channel closed by the next write.
func (l *logBuffer) snapshot() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String(), l.changed
}

// tail returns the last n lines of output.
func (l *logBuffer) tail(n int) string {
	text, _ := l.snapshot()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logField matches one key=value pair of a log/slog text line; the value may be quoted.
var logField = regexp.MustCompile(`([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)`)

// logFields parses a log line: slog's text format (key=value) or its JSON format.
func logFields(line string) map[string]string {
	fields := make(map[string]string)
	if strings.HasPrefix(line, "{") {
		var obj map[string]any
		if json.Unmarshal([]byte(line), &obj) == nil {
			for k, v := range obj {
				if s, ok := v.(string); ok {
					fields[k] = s
				}
			}
		}
		return fields
	}
	for _, m := range logField.FindAllStringSubmatch(line, -1) {
		v := m[2]
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fields[m[1]] = v
	}
	return fields
}
