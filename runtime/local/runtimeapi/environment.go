package runtimeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runtime API paths (API version 2018-06-01).
const (
	pathNext       = "GET /2018-06-01/runtime/invocation/next"
	pathResponse   = "POST /2018-06-01/runtime/invocation/{id}/response"
	pathError      = "POST /2018-06-01/runtime/invocation/{id}/error"
	pathInitError  = "POST /2018-06-01/runtime/init/error"
	headerErrType  = "Lambda-Runtime-Function-Error-Type"
	stopGrace      = 2 * time.Second
	maxErrorBody   = 1 << 20
	maxPayloadBody = MaxResponseBytes + 1
)

// invocation is one event handed to an environment, and where its outcome goes.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan *Response // buffered: the first outcome wins
}

// finish delivers the invocation's outcome once.
func (inv *invocation) finish(r *Response) {
	select {
	case inv.done <- r:
	default:
	}
}

// environment is one execution environment: the bootstrap process and its Runtime API.
type environment struct {
	fn    *Function
	ln    net.Listener
	srv   *http.Server
	cmd   *exec.Cmd
	out   *lineWriter
	tail  *tailBuffer
	next  chan *invocation // the invocation the runtime's next /next call receives
	ready chan struct{}    // closed at the first /next: initialization is done
	exit  chan struct{}    // closed when the process has exited

	mu       sync.Mutex
	current  *invocation // handed out, not answered yet
	initErr  string      // from /runtime/init/error
	exitErr  error
	oom      bool // killed for using more than the function's memory
	readyOne sync.Once
	dead     bool
}

// start launches a new environment and waits until its runtime asks for the first
// invocation (its initialization is done), it fails, or InitTimeout passes.
func (p *Pool) start(ctx context.Context) (*environment, error) {
	begun := time.Now()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtimeapi: %s: listen: %w", p.fn.Name, err)
	}
	tail := &tailBuffer{}
	e := &environment{
		fn:    &p.fn,
		ln:    ln,
		tail:  tail,
		out:   &lineWriter{w: p.fn.Output, tail: tail},
		next:  make(chan *invocation),
		ready: make(chan struct{}),
		exit:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(pathNext, e.handleNext)
	mux.HandleFunc(pathResponse, e.handleResponse)
	mux.HandleFunc(pathError, e.handleError)
	mux.HandleFunc(pathInitError, e.handleInitError)
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()

	cmd := exec.Command(p.fn.Bootstrap)
	cmd.Env = append(append([]string{}, p.fn.Env...), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	cmd.Stdout, cmd.Stderr = e.out, e.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = e.srv.Close()
		return nil, &initError{msg: fmt.Sprintf("%s: start %s: %v", p.fn.Name, p.fn.Bootstrap, err)}
	}
	e.cmd = cmd
	go e.wait()
	if p.fn.MemoryMB > 0 {
		go e.watchMemory(int64(p.fn.MemoryMB) << 20)
	}

	timer := time.NewTimer(InitTimeout)
	defer timer.Stop()
	select {
	case <-e.ready:
		p.fn.Logger.Debug("environment started", "pid", cmd.Process.Pid, "init", time.Since(begun))
		return e, nil
	case <-e.exit:
		e.stop()
		return nil, &initError{msg: e.initFailure("Runtime exited during init: " + e.exitStatus())}
	case <-timer.C:
		e.stop()
		return nil, &initError{msg: e.initFailure(fmt.Sprintf("init did not finish within %s", InitTimeout))}
	case <-ctx.Done():
		e.stop()
		return nil, ctx.Err()
	}
}

// initFailure is the message of a failed init: the runtime's own report when it sent one,
// and the process's last output.
func (e *environment) initFailure(why string) string {
	e.mu.Lock()
	reported := e.initErr
	e.mu.Unlock()
	msg := e.fn.Name + ": " + why
	if reported != "" {
		msg += "; the runtime reported: " + reported
	}
	if t := e.tail.String(); t != "" {
		msg += "; its last output:" + t
	}
	return msg
}

// wait reaps the process and fails the invocation it was running.
func (e *environment) wait() {
	err := e.cmd.Wait()
	_ = e.out.Close()
	e.mu.Lock()
	e.exitErr = err
	e.dead = true
	inv := e.current
	e.current = nil
	e.mu.Unlock()
	close(e.exit)
	_ = e.srv.Close()
	if inv != nil {
		inv.finish(e.exited(inv.id))
	}
}

// exited is the outcome of an invocation whose process ended.
func (e *environment) exited(requestID string) *Response {
	msg := "Runtime exited with error: " + e.exitStatus()
	errType := ErrorTypeExit
	e.mu.Lock()
	if e.oom {
		errType = ErrorTypeOutOfMemory
	}
	e.mu.Unlock()
	e.fn.Logger.Warn("environment exited during an invocation", "request_id", requestID, "error_type", errType, "error", msg)
	return &Response{Payload: errorDocument(errType, msg), FunctionError: "Unhandled", ErrorType: errType, ErrorMessage: msg}
}

// memoryPoll is how often an environment's resident memory is checked.
const memoryPoll = 50 * time.Millisecond

// watchMemory kills the process when its resident memory exceeds limit bytes, as Lambda
// ends an environment that uses more than the function's memory size. It reads
// /proc/{pid}/statm, so it works on Linux only; elsewhere memory is not limited.
func (e *environment) watchMemory(limit int64) {
	statm := fmt.Sprintf("/proc/%d/statm", e.cmd.Process.Pid)
	page := int64(os.Getpagesize())
	tick := time.NewTicker(memoryPoll)
	defer tick.Stop()
	for {
		select {
		case <-e.exit:
			return
		case <-tick.C:
		}
		b, err := os.ReadFile(statm)
		if err != nil {
			return
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			return
		}
		resident, err := strconv.ParseInt(fields[1], 10, 64)
		if err == nil && resident*page > limit {
			e.fn.Logger.Warn("environment over its memory size; stopped", "resident_mb", resident*page>>20, "memory_mb", limit>>20)
			e.mu.Lock()
			e.oom = true
			e.dead = true
			e.mu.Unlock()
			e.kill()
			return
		}
	}
}

// exitStatus describes how the process ended ("exit status 1", "signal: killed").
func (e *environment) exitStatus() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.exitErr == nil {
		return "exit status 0"
	}
	return e.exitErr.Error()
}

func (e *environment) alive() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.dead
}

// stop ends the environment: SIGTERM to its process group, SIGKILL after stopGrace.
func (e *environment) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.exit:
		return
	default:
	}
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.exit:
	case <-time.After(stopGrace):
		e.kill()
		<-e.exit
	}
}

// kill ends the environment at once (a timeout: Lambda does not let the runtime finish).
func (e *environment) kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// invoke hands one invocation to the runtime and waits for its outcome: the runtime's
// response or error, the function's timeout (the environment is killed), or the
// process's exit.
func (e *environment) invoke(requestID string, payload []byte) *Response {
	inv := &invocation{
		id:       requestID,
		payload:  payload,
		deadline: time.Now().Add(e.fn.Timeout),
		done:     make(chan *Response, 1),
	}
	timer := time.NewTimer(e.fn.Timeout)
	defer timer.Stop()
	select {
	case e.next <- inv:
	case <-e.exit:
		return e.exited(requestID)
	case <-timer.C:
		return e.timedOut(inv)
	}
	select {
	case r := <-inv.done:
		return r
	case <-timer.C:
		return e.timedOut(inv)
	}
}

// timedOut ends an invocation at the function's timeout: the environment is killed.
func (e *environment) timedOut(inv *invocation) *Response {
	msg := fmt.Sprintf("Task timed out after %.2f seconds", e.fn.Timeout.Seconds())
	e.fn.Logger.Warn("invocation timed out; environment stopped", "request_id", inv.id, "timeout", e.fn.Timeout)
	e.mu.Lock()
	e.dead = true
	e.mu.Unlock()
	e.kill()
	r := &Response{Payload: errorDocument(ErrorTypeTimeout, msg), FunctionError: "Unhandled", ErrorType: ErrorTypeTimeout, ErrorMessage: msg}
	inv.finish(r)
	return <-inv.done
}

// handleNext is GET /runtime/invocation/next: it blocks until an invocation is handed
// over, then returns its event with the invocation headers.
func (e *environment) handleNext(w http.ResponseWriter, r *http.Request) {
	e.readyOne.Do(func() { close(e.ready) })
	select {
	case inv := <-e.next:
		e.mu.Lock()
		e.current = inv
		e.mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", deadlineHeader(inv.deadline))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", e.fn.ARN)
		h.Set("Lambda-Runtime-Trace-Id", traceID())
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-e.exit:
	}
}

// take returns the current invocation when id names it, and forgets it.
func (e *environment) take(id string) *invocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current == nil || e.current.id != id {
		return nil
	}
	inv := e.current
	e.current = nil
	return inv
}

// handleResponse is POST /runtime/invocation/{id}/response.
func (e *environment) handleResponse(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayloadBody))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "could not read the response")
		return
	}
	inv := e.take(r.PathValue("id"))
	if inv == nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+r.PathValue("id")+" is waiting for a response")
		return
	}
	if len(body) > MaxResponseBytes {
		msg := fmt.Sprintf("Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).", len(body), MaxResponseBytes)
		inv.finish(&Response{Payload: errorDocument(ErrorTypeResponseSize, msg), FunctionError: "Unhandled", ErrorType: ErrorTypeResponseSize, ErrorMessage: msg})
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", msg)
		return
	}
	inv.finish(&Response{Payload: body})
	accepted(w)
}

// runtimeError is the error document a runtime posts.
type runtimeError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// handleError is POST /runtime/invocation/{id}/error: the handler failed.
func (e *environment) handleError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	inv := e.take(r.PathValue("id"))
	if inv == nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+r.PathValue("id")+" is waiting for a response")
		return
	}
	var doc runtimeError
	_ = json.Unmarshal(body, &doc)
	errType := doc.ErrorType
	if errType == "" {
		errType = r.Header.Get(headerErrType)
	}
	if errType == "" {
		errType = r.Trailer.Get(headerErrType)
	}
	payload := errorDocument(errType, doc.ErrorMessage)
	inv.finish(&Response{Payload: payload, FunctionError: "Unhandled", ErrorType: errType, ErrorMessage: doc.ErrorMessage})
	accepted(w)
}

// handleInitError is POST /runtime/init/error: the runtime could not initialize; the
// environment is stopped.
func (e *environment) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	var doc runtimeError
	_ = json.Unmarshal(body, &doc)
	e.mu.Lock()
	e.initErr = strings.TrimSpace(doc.ErrorType + ": " + doc.ErrorMessage)
	e.mu.Unlock()
	accepted(w)
	go e.kill()
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// apiError answers a Runtime API call with an error document.
func apiError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorDocument(errType, msg))
}

// traceID returns an X-Ray trace header value (not sampled: nothing collects traces here).
func traceID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "Root=1-" + strconv.FormatInt(time.Now().Unix(), 16) + "-" + hex.EncodeToString(b[:]) + ";Sampled=0"
}
