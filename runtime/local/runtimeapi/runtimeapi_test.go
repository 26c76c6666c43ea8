package runtimeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bootstrap is the test function, built once by TestMain.
var bootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtimeapi-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "./testdata/fn")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test function: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is an io.Writer safe for the processes' concurrent output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newPool(t *testing.T, mutate func(*Function)) (*Pool, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	fn := Function{
		Name: "fn", ARN: "arn:aws:lambda:us-east-1:000000000000:function:fn", Bootstrap: bootstrap,
		Env: []string{"PATH=/usr/bin:/bin", "GREETING=hello"}, Timeout: 5 * time.Second, MemoryMB: 128, Output: out,
	}
	if mutate != nil {
		mutate(&fn)
	}
	p := NewPool(fn)
	t.Cleanup(func() { _ = p.Close(t.Context()) })
	return p, out
}

func invoke(t *testing.T, p *Pool, ev map[string]any) *Response {
	t.Helper()
	payload, err := json.Marshal(ev)
	require.NoError(t, err)
	r, err := p.Invoke(t.Context(), fmt.Sprint("req-", time.Now().UnixNano()), payload, false)
	require.NoError(t, err)
	return r
}

func TestInvokeThroughTheRuntimeAPI(t *testing.T) {
	t.Parallel()
	p, out := newPool(t, nil)
	r := invoke(t, p, map[string]any{"do": "echo", "value": "hi"})
	require.False(t, r.Failed(), string(r.Payload))
	require.Positive(t, r.InitDuration, "the first invocation starts an environment")
	var got struct {
		Echo       string `json:"echo"`
		RequestID  string `json:"request_id"`
		ARN        string `json:"arn"`
		DeadlineMS int64  `json:"deadline_ms"`
		PID        int    `json:"pid"`
	}
	require.NoError(t, json.Unmarshal(r.Payload, &got))
	require.Equal(t, "hi", got.Echo)
	require.NotEmpty(t, got.RequestID)
	require.Equal(t, "arn:aws:lambda:us-east-1:000000000000:function:fn", got.ARN)
	require.InDelta(t, 5000, got.DeadlineMS, 1000, "the deadline header is the function's timeout")
	// The output travels through a pipe: it may arrive just after the response.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "handled echo "+got.RequestID) },
		5*time.Second, 10*time.Millisecond, "the function's output is its log")

	// A warm environment is reused.
	r2 := invoke(t, p, map[string]any{"do": "echo"})
	require.Zero(t, r2.InitDuration)
	var again struct{ PID int }
	require.NoError(t, json.Unmarshal(r2.Payload, &again))
	require.Equal(t, got.PID, again.PID)

	env := invoke(t, p, map[string]any{"do": "env", "value": "GREETING"})
	require.JSONEq(t, `{"value":"hello"}`, string(env.Payload))
}

func TestFunctionError(t *testing.T) {
	t.Parallel()
	p, out := newPool(t, nil)
	r := invoke(t, p, map[string]any{"do": "fail", "value": "boom"})
	require.True(t, r.Failed())
	require.Equal(t, "Unhandled", r.FunctionError)
	require.Equal(t, "errorString", r.ErrorType)
	require.Equal(t, "failed: boom", r.ErrorMessage)
	require.JSONEq(t, `{"errorType":"errorString","errorMessage":"failed: boom"}`, string(r.Payload))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "failed: boom") },
		5*time.Second, 10*time.Millisecond, "aws-lambda-go logs the error it reports")
	// The environment survives a handler error.
	require.False(t, invoke(t, p, map[string]any{"do": "echo"}).Failed())
}

func TestTimeoutEndsTheEnvironment(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, func(f *Function) { f.Timeout = 500 * time.Millisecond })
	first := invoke(t, p, map[string]any{"do": "echo"})
	r := invoke(t, p, map[string]any{"do": "sleep", "ms": 5000})
	require.True(t, r.Failed())
	require.Equal(t, ErrorTypeTimeout, r.ErrorType)
	require.Equal(t, "Task timed out after 0.50 seconds", r.ErrorMessage)
	next := invoke(t, p, map[string]any{"do": "echo"})
	require.False(t, next.Failed())
	require.Positive(t, next.InitDuration, "a timed-out environment is not reused")
	var a, b struct{ PID int }
	require.NoError(t, json.Unmarshal(first.Payload, &a))
	require.NoError(t, json.Unmarshal(next.Payload, &b))
	require.NotEqual(t, a.PID, b.PID)
}

func TestExitDuringInvocation(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, nil)
	r := invoke(t, p, map[string]any{"do": "exit"})
	require.True(t, r.Failed())
	require.Equal(t, ErrorTypeExit, r.ErrorType)
	require.Equal(t, "Runtime exited with error: exit status 3", r.ErrorMessage)
	require.False(t, invoke(t, p, map[string]any{"do": "echo"}).Failed(), "a new environment takes over")
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, func(f *Function) { f.MemoryMB = 128 })
	ok := invoke(t, p, map[string]any{"do": "alloc", "value": "32"})
	require.False(t, ok.Failed(), "within the limit: %s", ok.Payload)
	r := invoke(t, p, map[string]any{"do": "alloc", "value": "256"})
	require.True(t, r.Failed(), "over the function's memory size")
	require.Equal(t, ErrorTypeOutOfMemory, r.ErrorType)
	require.Equal(t, "Runtime exited with error: signal: killed", r.ErrorMessage)
}

func TestInitFailure(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, func(f *Function) { f.Env = append(f.Env, "FAIL_INIT=missing setting") })
	err := p.Warm(t.Context())
	require.True(t, IsInitError(err), "%v", err)
	require.ErrorContains(t, err, "Runtime exited during init: exit status 1")
	require.ErrorContains(t, err, "INIT FAILED: MISSING SETTING", "the message carries the process's output")

	r := invoke(t, p, map[string]any{"do": "echo"})
	require.True(t, r.Failed())
	require.Equal(t, ErrorTypeInit, r.ErrorType)
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, func(f *Function) { f.MaxConcurrency = 2 })
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for range 2 {
		wg.Go(func() {
			started <- struct{}{}
			invoke(t, p, map[string]any{"do": "sleep", "ms": 1500})
		})
	}
	<-started
	<-started
	require.Eventually(t, func() bool {
		_, err := p.Invoke(t.Context(), "third", []byte(`{"do":"echo"}`), false)
		return err == ErrThrottled
	}, 5*time.Second, 20*time.Millisecond, "a synchronous invocation over the limit is throttled")
	// An asynchronous one waits for an environment instead.
	r, err := p.Invoke(t.Context(), "queued", []byte(`{"do":"echo"}`), true)
	require.NoError(t, err)
	require.False(t, r.Failed())
	wg.Wait()
}

func TestMaxStartingServesABurstWithTheEnvironmentsThatStarted(t *testing.T) {
	t.Parallel()
	p, _ := newPool(t, func(f *Function) { f.MaxStarting = 2 })
	var wg sync.WaitGroup
	pids := make(chan int, 12)
	for range 12 {
		wg.Go(func() {
			r := invoke(t, p, map[string]any{"do": "echo"})
			var got struct{ PID int }
			_ = json.Unmarshal(r.Payload, &got)
			pids <- got.PID
		})
	}
	wg.Wait()
	close(pids)
	seen := map[int]bool{}
	for pid := range pids {
		seen[pid] = true
	}
	require.Less(t, len(seen), 12, "a burst of short invocations does not start an environment each")

	// Long invocations still get one environment each, a few starts at a time.
	started := time.Now()
	var long sync.WaitGroup
	for range 4 {
		long.Go(func() { invoke(t, p, map[string]any{"do": "sleep", "ms": 2000}) })
	}
	long.Wait()
	require.Less(t, time.Since(started), 6*time.Second, "four 2 s invocations ran side by side, not one after another (8 s)")
}
