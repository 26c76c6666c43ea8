// Package awsapi is the AWS the local stack's functions talk to. Function processes get
// HTTPS_PROXY pointing at an Endpoint and SSL_CERT_FILE trusting its certificate
// authority, so their unchanged SDK clients reach "AWS" at the real host names: the
// Endpoint terminates TLS for *.amazonaws.com with certificates it mints, identifies the
// caller by its SigV4 signature (each function has its own access key), authorizes the
// call against the caller's role with package iam, and serves it: DynamoDB and DynamoDB
// Streams are forwarded to DynamoDB Local, Lambda Invoke goes to the stack's Lambda
// service, SQS and Secrets Manager are in-process stand-ins, and execute-api
// (@connections) goes to the stack's gateway. A refused call gets the service's own
// AccessDenied error and is logged.
package awsapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/local/iam"
)

// Principal is a caller: the execution role of a function.
type Principal struct {
	// Name names the caller in logs (a function's role in the stack, say "worker").
	Name string
	// Session is the role session's name: the function's name, as Lambda names it.
	Session string
	// RoleARN is the execution role's ARN.
	RoleARN string
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials the function
	// process gets.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Policies are the role's policies.
	Policies []iam.Policy
}

// SessionARN is the caller as AWS names it in an AccessDenied message:
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func (p *Principal) SessionARN() string {
	parts := strings.SplitN(p.RoleARN, ":", 6)
	if len(parts) < 6 {
		return p.RoleARN
	}
	role := parts[5][strings.LastIndex(parts[5], "/")+1:]
	return "arn:" + parts[1] + ":sts::" + parts[4] + ":assumed-role/" + role + "/" + p.Session
}

// LambdaService is the stack's Lambda: the Invoke API of its functions.
type LambdaService interface {
	// FunctionARN returns the unqualified ARN of a function named by name, ARN or
	// partial ARN, and false when there is no such function.
	FunctionARN(nameOrARN string) (string, bool)
	// Invoke runs the function: synchronously (RequestResponse: its response) or
	// asynchronously (Event: queued).
	Invoke(ctx context.Context, caller *Principal, functionARN, invocationType string, payload []byte) (*InvokeResult, error)
}

// InvokeResult is the answer to an Invoke call.
type InvokeResult struct {
	// Status is the HTTP status: 200 for a synchronous call, 202 for a queued one.
	Status int
	// Payload is the function's response (or error document).
	Payload []byte
	// FunctionError is "Unhandled" when the function failed (X-Amz-Function-Error).
	FunctionError string
}

// Errors of the Lambda service an Invoke can return.
var (
	// ErrTooManyRequests: the function is at its concurrency limit (429).
	ErrTooManyRequests = errors.New("awsapi: rate exceeded")
	// ErrPayloadTooLarge: the request payload is over the invocation type's limit (413).
	ErrPayloadTooLarge = errors.New("awsapi: request payload too large")
)

// Config configures an Endpoint.
type Config struct {
	// Region and AccountID are the stack's: the ARNs the endpoint authorizes.
	Region, AccountID string
	// DynamoDB is the URL of DynamoDB Local; DynamoDB and Streams calls are forwarded
	// there.
	DynamoDB string
	// Lambda serves Invoke. Default: none (Invoke answers 404).
	Lambda LambdaService
	// ExecuteAPI serves @connections for the API whose id is the host's first label:
	// paths /{stage}/@connections/{id}. Default: none.
	ExecuteAPI func(apiID string) http.Handler
	// OnDynamoDB is called after each forwarded DynamoDB call with the table's name, the
	// operation, and whether it failed its condition. Default: nothing.
	OnDynamoDB func(table, op string, conditionFailed bool)
	// Logger receives the refusals and failures. Default slog.Default().
	Logger *slog.Logger
}

// Endpoint is the local AWS: a listener serving as an HTTPS proxy for function
// processes and as a plain endpoint (URL) for the stack's own clients.
type Endpoint struct {
	cfg     Config
	ca      *authority
	caFile  string
	ln      net.Listener
	srv     *http.Server // plain and proxied requests
	tlsSrv  *http.Server // requests inside intercepted TLS tunnels
	tunnels *connListener
	client  *http.Client // to DynamoDB Local

	mu         sync.RWMutex
	principals map[string]*Principal // by access key id
	queues     *queues
	secrets    *secrets
}

// New returns an Endpoint with a fresh certificate authority; call Start to serve.
func New(cfg Config) (*Endpoint, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ca, err := newAuthority()
	if err != nil {
		return nil, err
	}
	e := &Endpoint{
		cfg:        cfg,
		ca:         ca,
		principals: make(map[string]*Principal),
		queues:     newQueues(),
		secrets:    newSecrets(),
		client:     &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}},
	}
	return e, nil
}

// AddPrincipal registers a caller's credentials.
func (e *Endpoint) AddPrincipal(p *Principal) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.principals[p.AccessKeyID] = p
}

// principal returns the caller with access key id.
func (e *Endpoint) principal(keyID string) (*Principal, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p, ok := e.principals[keyID]
	return p, ok
}

// Start listens on a free loopback port and writes the CA bundle that SSL_CERT_FILE must
// name into dir.
func (e *Endpoint) Start(dir string) error {
	file, err := e.ca.writeBundle(dir)
	if err != nil {
		return err
	}
	e.caFile = file
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("awsapi: listen: %w", err)
	}
	e.ln = ln
	e.tunnels = newConnListener(ln.Addr())
	handler := http.HandlerFunc(e.serve)
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serveOrTunnel), ReadHeaderTimeout: 10 * time.Second}
	e.tlsSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	go func() { _ = e.tlsSrv.Serve(e.tunnels) }()
	return nil
}

// ProxyURL is what HTTPS_PROXY must be for a function process.
func (e *Endpoint) ProxyURL() string { return "http://" + e.ln.Addr().String() }

// URL is the plain endpoint for the stack's own SDK clients (their BaseEndpoint).
func (e *Endpoint) URL() string { return "http://" + e.ln.Addr().String() }

// CAFile is the certificate bundle (the system's roots and the endpoint's authority)
// that SSL_CERT_FILE must name.
func (e *Endpoint) CAFile() string { return e.caFile }

// Close stops serving.
func (e *Endpoint) Close(ctx context.Context) error {
	e.client.CloseIdleConnections()
	err := errors.Join(e.srv.Shutdown(ctx), e.tlsSrv.Shutdown(ctx))
	_ = e.tunnels.Close()
	return err
}

// serveOrTunnel handles what reaches the listener: a CONNECT (a function's HTTPS call
// through the proxy) or a plain request (the stack's own clients).
func (e *Endpoint) serveOrTunnel(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		e.serve(w, r)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !strings.HasSuffix(host, ".amazonaws.com") {
		e.tunnel(w, r)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot intercept", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = conn.Close()
		return
	}
	tlsConn := tls.Server(&bufferedConn{Conn: conn, r: buf.Reader}, &tls.Config{
		GetCertificate: e.ca.certificate,
		NextProtos:     []string{"http/1.1"},
		MinVersion:     tls.VersionTLS12,
	})
	e.tunnels.push(tlsConn)
}

// tunnel passes a CONNECT to a non-AWS host through unchanged.
func (e *Endpoint) tunnel(w http.ResponseWriter, r *http.Request) {
	upstream, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = upstream.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		_ = upstream.Close()
		return
	}
	_, _ = conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() {
		_, _ = buf.WriteTo(upstream)
		_, _ = copyAndClose(upstream, conn)
	}()
	go func() { _, _ = copyAndClose(conn, upstream) }()
}

// serve routes one AWS API call by the service its signature is scoped to.
func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request) {
	caller, scope, err := e.authenticate(r)
	if err != nil {
		e.cfg.Logger.Warn("aws: unauthenticated call refused", "host", r.Host, "path", r.URL.Path, "error", err)
		authError(w, r, err)
		return
	}
	switch scope.service {
	case "dynamodb":
		e.dynamoDB(w, r, caller)
	case "lambda":
		e.lambda(w, r, caller)
	case "sqs":
		e.sqs(w, r, caller)
	case "secretsmanager":
		e.secretsManager(w, r, caller)
	case "execute-api":
		e.executeAPI(w, r, caller)
	default:
		e.cfg.Logger.Warn("aws: call to a service the local stack does not provide", "function", caller.Name, "service", scope.service, "host", r.Host)
		jsonError(w, http.StatusBadRequest, "UnknownOperationException", "the local stack does not provide "+scope.service)
	}
}

// Authorize decides whether caller may perform action on resource, logs a refusal
// (naming the function, action and resource) and returns it as an *AccessDeniedError.
// The stack calls it for what Lambda does with a function's role (the event source
// mapping's stream reads, destinations).
func (e *Endpoint) Authorize(caller *Principal, action, resource string, resourcePolicies []iam.Policy) error {
	res := iam.Evaluate(caller.Policies, resourcePolicies, iam.Request{
		Principal: caller.RoleARN,
		Action:    action,
		Resource:  resource,
		Context: map[string][]string{
			"aws:SecureTransport":  {"true"},
			"aws:PrincipalArn":     {caller.RoleARN},
			"aws:PrincipalAccount": {e.cfg.AccountID},
			"aws:RequestedRegion":  {e.cfg.Region},
		},
	})
	if len(res.Unsupported) > 0 {
		e.cfg.Logger.Warn("aws: policy conditions the local stack cannot check (the statements do not apply)",
			"function", caller.Name, "action", action, "conditions", strings.Join(res.Unsupported, ", "))
	}
	if res.Allowed() {
		return nil
	}
	msg := res.Message(caller.SessionARN(), action, resource)
	e.cfg.Logger.Warn("aws: AccessDenied", "function", caller.Name, "role", caller.RoleARN, "action", action, "resource", resource, "message", msg)
	return &AccessDeniedError{Message: msg}
}

// AccessDeniedError is a refused call.
type AccessDeniedError struct {
	// Message is AWS's text: "User: ... is not authorized to perform: ACTION on resource:
	// ARN because ...".
	Message string
}

func (e *AccessDeniedError) Error() string { return "AccessDenied: " + e.Message }

// bufferedConn is a hijacked connection whose reader may hold bytes already read.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener hands intercepted TLS connections to an http.Server.
type connListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
