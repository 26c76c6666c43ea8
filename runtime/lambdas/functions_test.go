package lambdas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/internal/logtest"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

const connectionID = "b3JlXcQWIAMCKzQ="

// slowReport is an async handler that reports progress once and returns its payload.
type slowReport struct{}

func (slowReport) EstimatedDuration() time.Duration { return time.Minute }
func (slowReport) Validate(*streamer.Request) error { return nil }
func (slowReport) Process(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	return nil, streamer.NewError(streamer.ErrCodeInternalError, "runs with progress only")
}
func (slowReport) ProcessWithProgress(ctx context.Context, req *streamer.Request, r streamer.Reporter) (*streamer.Result, error) {
	if err := r.Report(50, "half way"); err != nil {
		return nil, err
	}
	return r.Complete(map[string]any{"echo": json.RawMessage(req.Payload)})
}

// connections is memstore's connection store that also keeps a copy of every record it
// holds, for the tests to read: the runtime never reads a connection record back.
type connections struct {
	store.ConnectionStore
	mu      sync.Mutex
	records map[string]store.Connection
}

func newConnections(st *memstore.Store) *connections {
	return &connections{ConnectionStore: st.Connections(), records: make(map[string]store.Connection)}
}

func (c *connections) Save(ctx context.Context, conn *store.Connection) error {
	if err := c.ConnectionStore.Save(ctx, conn); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records[conn.ConnectionID] = *conn
	return nil
}

func (c *connections) Delete(ctx context.Context, connectionID string) error {
	if err := c.ConnectionStore.Delete(ctx, connectionID); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.records, connectionID)
	return nil
}

// get returns the record of connectionID and whether there is one.
func (c *connections) get(connectionID string) (store.Connection, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, ok := c.records[connectionID]
	return conn, ok
}

// bundle is a complete deployment in one process: dev identity provider, in-memory
// store, the fake @connections API behind the real SDK client, and every function.
type bundle struct {
	issuer  *auth.DevIssuer
	store   *memstore.Store
	conns   *connections
	gateway *streamertest.APIGateway
	app     *lambdas.App
	fns     *lambdas.Functions
	metrics *logtest.Buffer
	logs    *logtest.Buffer
	invoker *executor.GoroutineInvoker // the worker invocations of the processor
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup with dispatch (given the bundle, whose invoker is ready) as the
// router's direct dispatch (nil leaves the router without one) and opts for the App.
func setupWith(t *testing.T, dispatch func(b *bundle) executor.Invoker, opts ...lambdas.Option) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{
		store:   memstore.New(memstore.Options{}),
		gateway: streamertest.NewAPIGateway(t),
		metrics: &logtest.Buffer{},
		logs:    &logtest.Buffer{},
	}
	var err error
	b.issuer, err = auth.NewDevIssuer()
	require.NoError(t, err)
	jwks := httptest.NewServer(b.issuer.JWKSHandler())
	t.Cleanup(jwks.Close)
	verifier, err := auth.NewVerifier(ctx, b.issuer.Config(jwks.URL))
	require.NoError(t, err)

	b.app = lambdas.New(append([]lambdas.Option{lambdas.WithWorkerConfig(executor.Config{ProgressInterval: 10 * time.Millisecond})}, opts...)...)
	require.NoError(t, b.app.Handle("echo", streamer.HandlerFunc(func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Success: true, Data: json.RawMessage(req.Payload)}, nil
	})))
	require.NoError(t, b.app.Handle("slow_report", slowReport{}))
	require.Equal(t, []string{"echo", "slow_report"}, b.app.Registry().Actions())

	b.invoker = executor.NewGoroutineInvoker(func(ctx context.Context, ev executor.WorkerEvent) error {
		return b.fns.Worker(ctx, ev)
	}, executor.GoroutineOptions{Timeout: time.Minute})
	t.Cleanup(func() { require.NoError(t, b.invoker.Shutdown(context.Background())) })

	b.conns = newConnections(b.store)
	deps := lambdas.Deps{
		Connections: b.conns,
		Requests:    b.store.Requests(),
		Sender:      connection.NewManager(b.conns, b.gateway.Client(), connection.Options{}),
		Verifier:    verifier,
		Invoker:     b.invoker,
		Logger:      slog.New(slog.NewJSONHandler(b.logs, nil)),
		Metrics:     lambdas.NewEMF(b.metrics, "StreamerTest"),
	}
	if dispatch != nil {
		deps.Dispatch = dispatch(b)
	}
	b.fns, err = b.app.Functions(deps)
	require.NoError(t, err)
	return b
}

func websocketEvent(t *testing.T, name, body string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	quoted, err := json.Marshal(body)
	require.NoError(t, err)
	raw = bytes.ReplaceAll(raw, []byte(`"{{BODY}}"`), quoted)
	var e events.APIGatewayWebsocketProxyRequest
	require.NoError(t, json.Unmarshal(raw, &e))
	return e
}

// dispatch hands every record of the store's change feed to the processor, as the
// event source mapping would.
func (b *bundle) dispatch(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := b.store.Feed().Read(ctx, "", 100)
	require.NoError(t, err)
	resp, err := b.fns.Processor(ctx, events.DynamoDBEvent{Records: recs})
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
}

func TestFunctionsEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	// $connect: the authorizer admits the token and its context reaches connect.
	token, err := b.issuer.Mint("user-7", "acme", time.Hour)
	require.NoError(t, err)
	authz, err := b.fns.Authorizer(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{
		MethodArn:             "arn:aws:execute-api:us-east-1:123456789012:k3x9q2w1ab/prod/$connect",
		QueryStringParameters: map[string]string{"token": token},
	})
	require.NoError(t, err)
	require.Equal(t, "Allow", authz.PolicyDocument.Statement[0].Effect)

	connect := websocketEvent(t, "connect.json", "")
	connect.RequestContext.Authorizer = authz.Context
	before := time.Now()
	resp, err := b.fns.Connect(ctx, connect)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	conn, ok := b.conns.get(connectionID)
	require.True(t, ok, "connect saved the connection")
	require.Equal(t, "user-7", conn.UserID)
	require.Equal(t, "acme", conn.TenantID)
	require.Equal(t, "https://k3x9q2w1ab.execute-api.us-east-1.amazonaws.com/prod", conn.Endpoint)
	require.InDelta(t, before.Add(contract.ConnectionTTL).Unix(), conn.TTL, 5)
	b.gateway.AddConnection(connectionID, nil)

	// $default, synchronous: the reply is the route response.
	resp, err = b.fns.Router(ctx, websocketEvent(t, "message.json", `{"action":"echo","id":"e-1","payload":{"hello":"world"}}`))
	require.NoError(t, err)
	var result protocol.ResultMessage
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &result))
	require.Equal(t, "e-1", result.RequestID)
	require.True(t, result.Success)
	require.JSONEq(t, `{"hello":"world"}`, string(mustJSON(t, result.Data)))

	// $default, asynchronous: ack, then stream -> processor -> worker -> @connections.
	resp, err = b.fns.Router(ctx, websocketEvent(t, "message.json", `{"action":"slow_report","id":"r-1","payload":{"n":1}}`))
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"type":"ack"`)
	b.dispatch(t)
	require.Eventually(t, func() bool {
		msgs := b.gateway.GetMessages(connectionID)
		return len(msgs) > 0 && msgs[len(msgs)-1].Type == "result"
	}, 10*time.Second, 10*time.Millisecond)
	msgs := b.gateway.GetMessages(connectionID)
	require.Equal(t, "progress", msgs[0].Type)
	final := msgs[len(msgs)-1]
	require.Equal(t, "r-1", final.RequestID)
	require.Equal(t, map[string]any{"echo": map[string]any{"n": float64(1)}}, final.Fields["data"])
	stored, err := b.store.Requests().Get(ctx, store.ScopedID("acme", "user-7", "r-1"))
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, stored.Status)

	// $disconnect deletes the record.
	resp, err = b.fns.Disconnect(ctx, websocketEvent(t, "disconnect.json", ""))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, ok = b.conns.get(connectionID)
	require.False(t, ok, "disconnect deleted the connection")

	// Both runs went through the metrics and logging middleware.
	lines := strings.Split(strings.TrimSpace(b.metrics.String()), "\n")
	require.Len(t, lines, 2)
	actions := map[string]bool{}
	for _, line := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		require.Equal(t, "success", m["Outcome"])
		actions[m["Action"].(string)] = true
	}
	require.Equal(t, map[string]bool{"echo": true, "slow_report": true}, actions)
	logs := b.logs.String()
	require.Contains(t, logs, `"msg":"connected"`)
	require.Contains(t, logs, `"msg":"disconnected"`)
	// Every line is JSON; every handler run is one with request_id, connection_id and
	// tenant.
	var runs int
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a JSON log line: %s", line)
		if rec["msg"] == "request" {
			runs++
			require.NotEmpty(t, rec["request_id"], line)
			require.Equal(t, connectionID, rec["connection_id"], line)
			require.Equal(t, "acme", rec["tenant_id"], line)
		}
	}
	require.Equal(t, 2, runs, "both runs are logged")
	require.Contains(t, logs, `"request_id":"r-1"`)
	require.NotContains(t, logs, token)
}

// A client whose connection went away (410 from @connections) loses nothing: the work
// goes on, the result is stored, and the client gets it by resuming on a new connection.
func TestGoneClientResumesWithStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	require.NoError(t, b.conns.Save(ctx, &store.Connection{ConnectionID: connectionID, UserID: "user-7", TenantID: "acme"}))
	b.gateway.AddConnection(connectionID, nil)

	resp, err := b.fns.Router(ctx, websocketEvent(t, "message.json", `{"action":"slow_report","id":"r-gone","payload":{"n":2}}`))
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"type":"ack"`)
	b.gateway.SimulateGoneError(connectionID) // the client drops before the worker starts
	b.dispatch(t)
	require.Eventually(t, func() bool {
		r, err := b.store.Requests().Get(ctx, store.ScopedID("acme", "user-7", "r-gone"))
		return err == nil && r.Status == store.StatusCompleted
	}, 10*time.Second, 10*time.Millisecond, "the work goes on without the client")
	require.Empty(t, b.gateway.GetMessages(connectionID), "nothing reached the gone connection")
	_, ok := b.conns.get(connectionID)
	require.False(t, ok, "the 410 deleted the connection record")

	// The client reconnects and asks for its request.
	resume := websocketEvent(t, "message.json", `{"action":"streamer.status","payload":{"id":"r-gone"}}`)
	resume.RequestContext.ConnectionID = "bmV3Q29ubmVjdGlvbg="
	resp, err = b.fns.Router(ctx, resume)
	require.NoError(t, err)
	var status protocol.StatusMessage
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &status), resp.Body)
	require.Equal(t, protocol.TypeStatus, status.Type)
	require.Equal(t, "r-gone", status.RequestID)
	require.Equal(t, string(store.StatusCompleted), status.Status)
	require.InDelta(t, 100.0, status.Percentage, 1e-9)
	require.JSONEq(t, `{"echo":{"n":2}}`, string(status.Result))
	require.Nil(t, status.Error)
}

func TestConnectWithoutIdentityIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := b.fns.Connect(context.Background(), websocketEvent(t, "connect_no_authorizer.json", ""))
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, ok := b.conns.get(connectionID)
	require.False(t, ok, "nothing was saved")
}

func TestConnectUsesConfiguredCallbackURL(t *testing.T) {
	t.Parallel()
	conns := newConnections(memstore.New(memstore.Options{}))
	h, err := lambdas.New().Handler(contract.RoleConnect, lambdas.Deps{Connections: conns, CallbackURL: "http://127.0.0.1:8080", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	connect := h.(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error))
	_, err = connect(context.Background(), websocketEvent(t, "connect.json", ""))
	require.NoError(t, err)
	conn, ok := conns.get(connectionID)
	require.True(t, ok)
	require.Equal(t, "http://127.0.0.1:8080", conn.Endpoint)
}

func TestAppRegistration(t *testing.T) {
	t.Parallel()
	app := lambdas.New()
	echo := streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) { return nil, nil })
	require.NoError(t, app.Handle("echo", echo))
	require.ErrorIs(t, app.Handle("echo", echo), streamer.ErrDuplicateAction)
	require.ErrorIs(t, app.Handle("streamer.ping", echo), streamer.ErrReservedAction)
	require.ErrorIs(t, app.Handle("", echo), streamer.ErrEmptyAction)

	_, err := app.Functions(lambdas.Deps{})
	require.ErrorIs(t, err, lambdas.ErrMissingDependency)
	for _, role := range contract.Roles {
		_, err := app.Handler(role, lambdas.Deps{})
		require.ErrorIs(t, err, lambdas.ErrMissingDependency, role)
	}
	_, err = app.Handler("janitor", lambdas.Deps{})
	require.ErrorIs(t, err, lambdas.ErrUnknownRole)
}

func TestAppMiddlewareAndSettingsReachTheRouter(t *testing.T) {
	t.Parallel()
	st := memstore.New(memstore.Options{})
	var seen []string
	var mu sync.Mutex
	app := lambdas.New(lambdas.WithAsyncThreshold(time.Hour))
	app.Use(func(next streamer.ProcessFunc) streamer.ProcessFunc {
		return func(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
			mu.Lock()
			seen = append(seen, req.Action)
			mu.Unlock()
			return next(ctx, req)
		}
	})
	require.NoError(t, app.Handle("slow_report", slowReport{}))
	h, err := app.Handler(contract.RoleRouter, lambdas.Deps{Requests: st.Requests(), Sender: streamertest.NewConnectionManager(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	route := h.(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error))

	// A one-hour threshold makes the one-minute handler synchronous: Process runs.
	resp, err := route(context.Background(), websocketEvent(t, "message.json", `{"action":"slow_report","id":"s-1"}`))
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"type":"error"`)
	require.Contains(t, resp.Body, "runs with progress only")
	require.Equal(t, []string{"slow_report"}, seen)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
