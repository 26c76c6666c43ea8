package streamertest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/internal/apigw"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// ConnectionInfo is what GetConnection reports about a connection.
type ConnectionInfo struct {
	IP           string    // identity.sourceIp; default 127.0.0.1
	UserAgent    string    // identity.userAgent; default "streamertest"
	ConnectedAt  time.Time // default: when AddConnection was called
	LastActiveAt time.Time // default: ConnectedAt, then the time of the last message
}

// APIGateway is a fake of the API Gateway Management API (@connections)
// served by a real HTTP server, so requests go through the real AWS SDK client (Client)
// and connection.Manager unchanged. It answers like API Gateway: POST
// /@connections/{id} delivers the body (413 PayloadTooLargeException over 128 KiB),
// GET returns the connection's info, DELETE closes it, and an unknown or closed
// connection gets 410 GoneException. Errors carry the X-Amzn-ErrorType header and JSON
// body the SDK maps to its exception types. Failures and latency can be injected.
type APIGateway struct {
	srv    *httptest.Server
	client *apigatewaymanagementapi.Client
	rec    recorder

	mu          sync.Mutex
	conns       map[string]*fakeConnection
	latency     time.Duration
	inFlight    int
	maxInFlight int
}

type fakeConnection struct {
	info     ConnectionInfo
	gone     bool
	failures []int // statuses to answer the next calls with, in order
	posts    int
}

// NewAPIGateway starts the fake server, closed when the test ends. Outside a test (an
// example, a local tool) pass a nil tb and call Close.
func NewAPIGateway(tb testing.TB) *APIGateway {
	g := &APIGateway{conns: make(map[string]*fakeConnection)}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	if tb != nil {
		tb.Helper()
		tb.Cleanup(g.Close)
	}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSTREAMERTEST", "streamertest-secret", ""),
	}
	g.client = connection.NewAPIClient(cfg, g.srv.URL)
	return g
}

// Close stops the server, after the requests in progress; calling it again does nothing.
func (g *APIGateway) Close() { g.srv.Close() }

// URL returns the endpoint to give connection.NewAPIClient (no stage path).
func (g *APIGateway) URL() string { return g.srv.URL }

// Client returns a real SDK client for the fake, with static credentials.
func (g *APIGateway) Client() *apigatewaymanagementapi.Client { return g.client }

// AddConnection opens connectionID; info may be nil for the defaults.
func (g *APIGateway) AddConnection(connectionID string, info *ConnectionInfo) {
	c := &fakeConnection{}
	if info != nil {
		c.info = *info
	}
	now := time.Now().UTC()
	if c.info.IP == "" {
		c.info.IP = "127.0.0.1"
	}
	if c.info.UserAgent == "" {
		c.info.UserAgent = "streamertest"
	}
	if c.info.ConnectedAt.IsZero() {
		c.info.ConnectedAt = now
	}
	if c.info.LastActiveAt.IsZero() {
		c.info.LastActiveAt = c.info.ConnectedAt
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conns[connectionID] = c
}

// IsConnected reports whether connectionID is open (added, not deleted, not gone).
func (g *APIGateway) IsConnected(connectionID string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.conns[connectionID]
	return c != nil && !c.gone
}

// SimulateGoneError makes every later call on connectionID answer 410 GoneException,
// as when the client has disconnected.
func (g *APIGateway) SimulateGoneError(connectionID string) {
	g.with(connectionID, func(c *fakeConnection) { c.gone = true })
}

// SimulateThrottling makes the next n calls on connectionID answer 429
// LimitExceededException.
func (g *APIGateway) SimulateThrottling(connectionID string, n int) {
	g.SimulateFailure(connectionID, http.StatusTooManyRequests, n)
}

// SimulateFailure makes the next n calls on connectionID answer status, with the
// exception type API Gateway uses for it: 403 ForbiddenException, 410 GoneException, 413
// PayloadTooLargeException, 429 LimitExceededException; other statuses (5xx) carry none.
func (g *APIGateway) SimulateFailure(connectionID string, status, n int) {
	g.with(connectionID, func(c *fakeConnection) {
		for range n {
			c.failures = append(c.failures, status)
		}
	})
}

// SetLatency delays every answer by d (the request's cancellation cuts it short).
func (g *APIGateway) SetLatency(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.latency = d
}

// GetMessages returns the messages delivered to connectionID, oldest first.
func (g *APIGateway) GetMessages(connectionID string) []Message {
	return g.rec.GetMessages(connectionID)
}

// Attempts returns the number of POSTs received for connectionID, failed ones included.
func (g *APIGateway) Attempts(connectionID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.conns[connectionID]; c != nil {
		return c.posts
	}
	return 0
}

// MaxConcurrent returns the largest number of requests the fake was serving at once.
func (g *APIGateway) MaxConcurrent() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxInFlight
}

// with runs f on connectionID's state, creating a closed one when it is unknown so that
// failures can be queued before AddConnection.
func (g *APIGateway) with(connectionID string, f func(*fakeConnection)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.conns[connectionID]
	if c == nil {
		c = &fakeConnection{gone: true}
		g.conns[connectionID] = c
	}
	f(c)
}

const connectionsPath = "/@connections/"

func (g *APIGateway) serve(w http.ResponseWriter, r *http.Request) {
	i := strings.LastIndex(r.URL.Path, connectionsPath)
	if i < 0 {
		apigw.WriteError(w, http.StatusNotFound, "NotFoundException", "no such route")
		return
	}
	id := r.URL.Path[i+len(connectionsPath):]
	body, err := io.ReadAll(io.LimitReader(r.Body, protocol.MaxMessageBytes+1))
	if err != nil {
		apigw.WriteError(w, http.StatusBadRequest, "BadRequestException", err.Error())
		return
	}

	g.mu.Lock()
	g.inFlight++
	g.maxInFlight = max(g.maxInFlight, g.inFlight)
	latency := g.latency
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.conns[id]
	if c != nil && r.Method == http.MethodPost {
		c.posts++
	}
	if c != nil && len(c.failures) > 0 {
		status := c.failures[0]
		c.failures = c.failures[1:]
		apigw.WriteError(w, status, exceptionFor(status), http.StatusText(status))
		return
	}
	if c == nil || c.gone {
		apigw.WriteError(w, http.StatusGone, "GoneException", "")
		return
	}
	switch r.Method {
	case http.MethodPost:
		if len(body) > protocol.MaxMessageBytes {
			apigw.WriteError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Message too long")
			return
		}
		m, _ := newMessage(id, json.RawMessage(body))
		m.Value = nil
		g.rec.add(m)
		c.info.LastActiveAt = time.Now().UTC()
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"connectedAt":  c.info.ConnectedAt.UTC().Format(awsTime),
			"lastActiveAt": c.info.LastActiveAt.UTC().Format(awsTime),
			"identity":     map[string]string{"sourceIp": c.info.IP, "userAgent": c.info.UserAgent},
		})
	case http.MethodDelete:
		c.gone = true
		w.WriteHeader(http.StatusNoContent)
	default:
		apigw.WriteError(w, http.StatusMethodNotAllowed, "BadRequestException", "method not allowed")
	}
}

// awsTime is the ISO 8601 form API Gateway uses for timestamps.
const awsTime = "2006-01-02T15:04:05.000Z"

func exceptionFor(status int) string {
	switch status {
	case http.StatusForbidden:
		return "ForbiddenException"
	case http.StatusGone:
		return "GoneException"
	case http.StatusRequestEntityTooLarge:
		return "PayloadTooLargeException"
	case http.StatusTooManyRequests:
		return "LimitExceededException"
	}
	return ""
}
