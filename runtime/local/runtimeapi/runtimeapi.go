// Package runtimeapi runs Lambda functions as AWS Lambda does, one process per execution
// environment: each environment runs the function's bootstrap with its own Lambda Runtime
// API server (AWS_LAMBDA_RUNTIME_API), hands it one invocation at a time through
// GET /2018-06-01/runtime/invocation/next with the request id, deadline and function ARN
// headers, and takes its answer from .../invocation/{id}/response or .../error, or an
// initialization failure from /runtime/init/error. An invocation past the function's
// timeout ends its environment (the process is killed, as Lambda does), so does a
// runtime that exits or one whose resident memory exceeds the function's memory size. Environments are reused while warm and started on demand, up to the
// function's concurrency.
package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Errors of an invocation. A function error (the handler returned one) is not a Go
// error: it is Response.FunctionError.
var (
	// ErrThrottled: the function runs as many environments as it may (TooManyRequests).
	ErrThrottled = errors.New("runtimeapi: rate exceeded: the function is at its concurrency limit")
	// ErrClosed: the pool was closed.
	ErrClosed = errors.New("runtimeapi: the function's environments are shut down")
)

// Defaults of a Function.
const (
	// DefaultMaxConcurrency is how many environments a function without reserved
	// concurrency may run at once here.
	DefaultMaxConcurrency = 100
	// InitTimeout bounds a new environment's initialization (Lambda's init phase limit).
	InitTimeout = 10 * time.Second
	// MaxResponseBytes is the largest response a synchronous invocation may return.
	MaxResponseBytes = 6 * 1024 * 1024
)

// Error types Lambda reports for invocations that did not end with the handler's answer.
const (
	ErrorTypeTimeout      = "Sandbox.Timedout"
	ErrorTypeExit         = "Runtime.ExitError"
	ErrorTypeOutOfMemory  = "Runtime.OutOfMemory"
	ErrorTypeInit         = "Runtime.InitError"
	ErrorTypeResponseSize = "Function.ResponseSizeTooLarge"
)

// Function is what the environments of one function run.
type Function struct {
	// Name and ARN identify the function (the invoked-function ARN header, messages).
	Name, ARN string
	// Bootstrap is the executable the environment runs (the asset's bootstrap).
	Bootstrap string
	// Env holds KEY=VALUE entries: the function's environment variables and those Lambda
	// sets. AWS_LAMBDA_RUNTIME_API is added per environment.
	Env []string
	// Timeout is each invocation's limit.
	Timeout time.Duration
	// MemoryMB is the memory size: a process whose resident memory exceeds it is killed.
	// 0: no limit.
	MemoryMB int
	// MaxConcurrency is how many environments may run at once (reserved concurrency).
	// Default DefaultMaxConcurrency.
	MaxConcurrency int
	// MaxStarting bounds how many of the function's environments start at once; an
	// invocation that finds no idle environment and may not start one waits for the
	// first to free. Lambda scales up at a bounded rate too, but its bound is far
	// higher; here every start is a process on this machine, so a burst of short
	// invocations is served faster by the few environments that start first. Default 0:
	// no bound, an environment per concurrent invocation at once.
	MaxStarting int
	// Output receives everything the processes write, a line at a time (the function's
	// log, as CloudWatch Logs would get it). Default: discarded.
	Output io.Writer
	// Logger receives the platform's messages (environment started, timed out, exited).
	// Default slog.Default().
	Logger *slog.Logger
}

// Response is the outcome of an invocation that reached the function.
type Response struct {
	// Payload is the handler's response, or the error document of a failed invocation
	// ({"errorMessage", "errorType"}, as Lambda returns it).
	Payload []byte
	// FunctionError is set when the invocation failed: "Unhandled" for a handler error
	// or a crash, as in Lambda's X-Amz-Function-Error header.
	FunctionError string
	// ErrorType is the failure's type ("errorString", Sandbox.Timedout, ...).
	ErrorType string
	// ErrorMessage is the failure's message.
	ErrorMessage string
	// InitDuration is set when the invocation started a new environment.
	InitDuration time.Duration
}

// Failed reports whether the invocation failed.
func (r *Response) Failed() bool { return r.FunctionError != "" }

// Pool runs one function's environments.
type Pool struct {
	fn Function

	mu      sync.Mutex
	idle    []*environment
	all     map[*environment]bool
	starts  int // environments being started
	freed   chan struct{}
	closed  bool
	running sync.WaitGroup
}

// NewPool returns the pool of fn's environments; none runs until the first Invoke or
// Warm.
func NewPool(fn Function) *Pool {
	if fn.MaxConcurrency <= 0 {
		fn.MaxConcurrency = DefaultMaxConcurrency
	}
	if fn.Output == nil {
		fn.Output = io.Discard
	}
	if fn.Logger == nil {
		fn.Logger = slog.Default()
	}
	fn.Logger = fn.Logger.With("function", fn.Name)
	return &Pool{fn: fn, all: make(map[*environment]bool), freed: make(chan struct{})}
}

// Function returns what the pool runs.
func (p *Pool) Function() Function { return p.fn }

// Warm starts one environment and waits for its initialization, so a function that
// cannot start (a missing variable, a crash) says so now, with its output.
func (p *Pool) Warm(ctx context.Context) error {
	env, _, err := p.acquire(ctx, false)
	if err != nil {
		return err
	}
	p.release(env)
	return nil
}

// Invoke runs one invocation with payload. wait says what to do at the concurrency
// limit: wait for an environment (an asynchronous invocation's queue) or fail with
// ErrThrottled (a synchronous one). ctx bounds the wait for an environment; the
// invocation itself is bounded by the function's timeout only, as in Lambda.
func (p *Pool) Invoke(ctx context.Context, requestID string, payload []byte, wait bool) (*Response, error) {
	env, initDur, err := p.acquire(ctx, wait)
	var initErr *initError
	if errors.As(err, &initErr) {
		return &Response{
			Payload:       errorDocument(ErrorTypeInit, initErr.msg),
			FunctionError: "Unhandled",
			ErrorType:     ErrorTypeInit,
			ErrorMessage:  initErr.msg,
		}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := env.invoke(requestID, payload)
	resp.InitDuration = initDur
	p.release(env)
	return resp, nil
}

// Close stops every environment: it waits for running invocations until ctx ends, then
// kills the processes.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	close(p.freed)
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.running.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("runtimeapi: %s: invocations still running: %w", p.fn.Name, ctx.Err())
	}
	p.mu.Lock()
	envs := make([]*environment, 0, len(p.all))
	for e := range p.all {
		envs = append(envs, e)
	}
	p.mu.Unlock()
	for _, e := range envs {
		e.stop()
	}
	return err
}

// acquire returns an idle environment, or starts one when the function may run another;
// at the limit it waits (wait) or fails with ErrThrottled.
func (p *Pool) acquire(ctx context.Context, wait bool) (*environment, time.Duration, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, 0, ErrClosed
		}
		if n := len(p.idle); n > 0 {
			env := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.running.Add(1)
			p.mu.Unlock()
			return env, 0, nil
		}
		if len(p.all)+p.starts < p.fn.MaxConcurrency && (p.fn.MaxStarting <= 0 || p.starts < p.fn.MaxStarting) {
			p.starts++
			p.running.Add(1)
			p.mu.Unlock()
			begun := time.Now()
			env, err := p.start(ctx)
			p.mu.Lock()
			p.starts--
			if err != nil {
				p.running.Done()
				p.signal()
				p.mu.Unlock()
				return nil, 0, err
			}
			p.all[env] = true
			p.mu.Unlock()
			return env, time.Since(begun), nil
		}
		freed := p.freed
		atLimit := len(p.all)+p.starts >= p.fn.MaxConcurrency
		p.mu.Unlock()
		if atLimit && !wait {
			return nil, 0, ErrThrottled
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// release puts an environment back after an invocation: idle when it is alive, forgotten
// when it ended.
func (p *Pool) release(env *environment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.running.Done()
	if env.alive() && !p.closed {
		p.idle = append(p.idle, env)
	} else {
		delete(p.all, env)
		if p.closed {
			go env.stop()
		}
	}
	p.signal()
}

// signal wakes the invocations waiting for an environment. The caller holds mu.
func (p *Pool) signal() {
	if p.closed {
		return
	}
	close(p.freed)
	p.freed = make(chan struct{})
}

// initError is a failed initialization; msg says why, with the process's last output.
type initError struct{ msg string }

func (e *initError) Error() string { return "runtimeapi: init failed: " + e.msg }

// IsInitError reports whether err is a failed environment initialization (from Warm).
func IsInitError(err error) bool {
	var ie *initError
	return errors.As(err, &ie)
}

// errorDocument is the JSON error Lambda returns for a failed invocation.
func errorDocument(errorType, message string) []byte {
	b, _ := json.Marshal(map[string]string{"errorType": errorType, "errorMessage": message}) // strings always marshal
	return b
}

// lineWriter writes whole lines to w, adding nothing; what a process writes without a
// final newline is flushed at Close.
type lineWriter struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	tail *tailBuffer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := l.buf[:i+1]
		l.tail.add(string(line[:i]))
		_, _ = l.w.Write(line)
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.tail.add(string(l.buf))
		_, _ = l.w.Write(append(l.buf, '\n'))
		l.buf = nil
	}
	return nil
}

// tailBuffer keeps the last lines a process wrote, for the message of a failed init.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 20

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = slices.Delete(t.lines, 0, len(t.lines)-tailLines)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := ""
	for _, l := range t.lines {
		out += "\n  " + l
	}
	return out
}

// deadlineHeader is the Lambda-Runtime-Deadline-Ms value of a deadline.
func deadlineHeader(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
