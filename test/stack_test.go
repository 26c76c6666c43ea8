package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
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
	// stopTimeout bounds the clean shutdown after SIGTERM (the CLI allows itself 30 s).
	stopTimeout = 45 * time.Second
	// startAttempts is how often a start is tried on another port when the process exits
	// before it is healthy (another process took the port meanwhile).
	startAttempts = 3
)

// localStack is a `streamer local` process started by the suite, reached only through
// what it offers any user: its WebSocket API, its HTTP endpoints (/healthz, /metrics, the
// dev endpoints, the @connections management API) and its log output.
type localStack struct {
	httpURL string
	wsURL   string
	logs    *logBuffer
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // the process's exit status; read after exited is closed
}

// startLocal starts `streamer local` on a free loopback port with extra flags, waits
// until /healthz answers 200, and stops it with SIGTERM when the test ends, failing the
// test unless it exits cleanly.
func startLocal(t *testing.T, flags ...string) *localStack {
	t.Helper()
	var errs []error
	for range startAttempts {
		s, err := launchLocal(flags)
		if err == nil {
			t.Cleanup(func() { s.stop(t) })
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("streamer local did not start: %v", errors.Join(errs...))
	return nil
}

func launchLocal(flags []string) (*localStack, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logs := &logBuffer{changed: make(chan struct{})}
	// Not exec.CommandContext: the stop must be a SIGTERM, not the context's kill.
	cmd := exec.Command(streamerBin, append([]string{"local", "--addr", addr}, flags...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", streamerBin, err)
	}
	s := &localStack{
		httpURL: "http://" + addr,
		wsURL:   "ws://" + addr + "/",
		logs:    logs,
		cmd:     cmd,
		exited:  make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitHealthy(); err != nil {
		_ = cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("%w\n--- its output:\n%s", err, logs.tail(30))
	}
	return s, nil
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitHealthy polls /healthz (the process offers no other readiness signal) until it
// answers 200, the process exits, or startTimeout passes.
func (s *localStack) waitHealthy() error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
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
			return fmt.Errorf("streamer local: /healthz not 200 within %s", startTimeout)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within stopTimeout.
func (s *localStack) stop(t *testing.T) {
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
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("streamer local did not exit within %s of SIGTERM\n%s", stopTimeout, s.logs.tail(40))
		return
	}
	if s.waitErr != nil {
		t.Errorf("streamer local did not exit cleanly after SIGTERM: %v\n%s", s.waitErr, s.logs.tail(40))
	} else if t.Failed() {
		t.Logf("streamer local's last output:\n%s", s.logs.tail(60))
	}
}

// stackMetrics is the part of GET /metrics the suite reads.
type stackMetrics struct {
	Lambda map[string]struct {
		Invocations int64 `json:"invocations"`
	} `json:"lambda"`
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
