package local

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// connectionIDs returns the ids of the open connections.
func connectionIDs(st *Stack) []string {
	st.gw.mu.Lock()
	defer st.gw.mu.Unlock()
	ids := make([]string, 0, len(st.gw.conns))
	for id := range st.gw.conns {
		ids = append(ids, id)
	}
	return ids
}

func TestIdleConnectionsCloseWithGoingAway(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{IdleTimeout: 300 * time.Millisecond})
	c := dial(t, st, token(t, st, "alice", "acme"))
	require.Equal(t, websocket.CloseGoingAway, c.closedWith())
	require.Eventually(t, func() bool { return st.Metrics().Lambda["disconnect"].Invocations == 1 }, waitFor, 10*time.Millisecond)
	require.Zero(t, st.Metrics().APIGateway.Open)
}

func TestConnectionsCloseAfterTheirMaximumDuration(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{MaxConnectionDuration: 600 * time.Millisecond})
	tok := token(t, st, "alice", "acme")
	// Before the dial: the connection's duration counts from its upgrade, which a
	// loaded machine may finish well before dial returns.
	start := time.Now()
	c := dial(t, st, tok)
	// Pings keep it from being idle; the duration limit still ends it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"streamer.ping"}`))
			}
		}
	}()
	for range c.msgs { // pongs until the close
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, <-c.closed, &ce)
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
	require.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond)
}

func TestIntegrationTimeoutAnswersLikeAPIGateway(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{IntegrationTimeout: 300 * time.Millisecond})
	c := dial(t, st, token(t, st, "alice", "acme"))
	c.call("slow_sync", "s-1", nil)
	m := c.next()
	var body gatewayMessage
	require.NoError(t, json.Unmarshal([]byte(m.Raw), &body))
	require.Equal(t, "Endpoint request timed out", body.Message)
	require.Equal(t, int64(1), st.Metrics().APIGateway.IntegrationTimeouts)
	// The connection survives.
	c.call(protocol.ActionPing, "", nil)
	require.Equal(t, protocol.TypePong, c.next().Type)
}

func TestMessagesOverTheDrainLimitCloseWith1009(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	c := dial(t, st, token(t, st, "alice", "acme"))
	c.send([]byte(strings.Repeat("x", drainLimit+1)))
	require.Equal(t, websocket.CloseMessageTooBig, c.closedWith())
}

// TestConnectionsAPIThroughTheSDK drives the @connections API with the AWS SDK client
// the runtime's connection manager uses.
func TestConnectionsAPIThroughTheSDK(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	c := dial(t, st, token(t, st, "alice", "acme"))
	c.call(protocol.ActionPing, "", nil)
	require.Equal(t, protocol.TypePong, c.next().Type)
	ids := connectionIDs(st)
	require.Len(t, ids, 1)
	id := ids[0]
	api := connection.NewAPIClient(aws.Config{}, st.CallbackURL())
	ctx := t.Context()

	got, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", aws.ToString(got.Identity.SourceIp))
	require.WithinDuration(t, time.Now(), aws.ToTime(got.ConnectedAt), time.Minute)

	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{"type":"pong"}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"pong"}`, c.next().Raw)

	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: make([]byte, 128*1024+1)})
	var tooLarge *types.PayloadTooLargeException
	require.ErrorAs(t, err, &tooLarge)

	for _, call := range []func() error{
		func() error {
			_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("bm8tc3VjaC1pZA=="), Data: []byte(`{}`)})
			return err
		},
		func() error {
			_, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String("bm8tc3VjaC1pZA==")})
			return err
		},
	} {
		var gone *types.GoneException
		require.ErrorAs(t, call(), &gone)
	}

	_, err = api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)})
	require.NoError(t, err)
	require.Equal(t, websocket.CloseNormalClosure, c.closedWith())
	require.Eventually(t, func() bool { return st.Metrics().Lambda["disconnect"].Invocations == 1 }, waitFor, 10*time.Millisecond)
	_, err = api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)})
	var gone *types.GoneException
	require.ErrorAs(t, err, &gone)

	s := st.Metrics().ConnectionsAPI
	require.Equal(t, int64(3), s[APIPostToConnection])
	require.Equal(t, int64(2), s[APIGetConnection])
	require.Equal(t, int64(2), s[APIDeleteConnection])
	require.Equal(t, int64(3), s[APIGoneException])
	require.Equal(t, int64(1), s[APIPayloadTooLarge])
}

func TestShutdownClosesConnectionsWithGoingAway(t *testing.T) {
	t.Parallel()
	st, err := Start(t.Context(), Config{Addr: "127.0.0.1:0", App: testApp(t), Logger: testLogger()})
	require.NoError(t, err)
	c := dial(t, st, token(t, st, "alice", "acme"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, st.Shutdown(ctx))
	require.Equal(t, websocket.CloseGoingAway, c.closedWith())
	require.Equal(t, int64(1), st.Metrics().Lambda["disconnect"].Invocations, "$disconnect ran before Shutdown returned")
	_, err = http.Get(st.URL() + "/healthz")
	require.Error(t, err, "the server is down")
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(st.URL() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	code, body := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ok"}`, body)

	code, body = get("/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<title>Streamer local stack</title>")

	code, body = get("/.well-known/jwks.json")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"keys"`)

	code, body = get("/dev/token?user=carol&tenant=initech&ttl=5m")
	require.Equal(t, http.StatusOK, code)
	var tok TokenResponse
	require.NoError(t, json.Unmarshal([]byte(body), &tok))
	require.Equal(t, "carol", tok.UserID)
	require.Equal(t, "initech", tok.TenantID)
	c := dial(t, st, tok.Token)
	c.call("echo", "m-1", "hi")
	require.Equal(t, protocol.TypeResult, c.next().Type)

	code, _ = get("/dev/token?ttl=forever")
	require.Equal(t, http.StatusBadRequest, code)
	code, body = get("/dev/token?tenant=ac%23me")
	require.Equal(t, http.StatusBadRequest, code, "no token the authorizer would refuse")
	require.Contains(t, body, "tenant contains '#'")

	code, body = get("/metrics")
	require.Equal(t, http.StatusOK, code)
	var snap Snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &snap))
	require.Equal(t, int64(1), snap.APIGateway.Connects)
	require.Equal(t, int64(1), snap.APIGateway.Open)
	require.Equal(t, int64(1), snap.Lambda["authorizer"].Invocations)
	require.Equal(t, int64(1), snap.DynamoDB[TableConnections][OpPutItem], "$connect saved the connection")
	require.Equal(t, 512, snap.Lambda["router"].MemoryMB)
	require.Positive(t, snap.DynamoDBStreams[StreamGetRecords])
	require.NotEmpty(t, snap.ConnectionManager.Latency.BoundsMS, "the connection manager's figures are served too")
	require.Len(t, snap.ConnectionManager.Latency.Counts, len(snap.ConnectionManager.Latency.BoundsMS)+1)

	// The AWS URL shape, with the stage, works too; a plain GET there is refused.
	ws, _, err := websocket.DefaultDialer.DialContext(t.Context(), st.WebSocketURL()+"local?token="+tok.Token, nil)
	require.NoError(t, err)
	require.NoError(t, ws.Close())
	code, _ = get("/local")
	require.Equal(t, http.StatusUpgradeRequired, code)
}

func TestAsyncCallsAreCounted(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	c := dial(t, st, token(t, st, "alice", "acme"))
	before := st.Metrics()
	c.call("process_data", "cost-1", map[string]any{"items": 5, "item_ms": 100})
	msgs := c.terminalOf("cost-1")
	// Two worker invocations: the router's direct dispatch runs the request, the stream's
	// record finds it done (one GetItem) and runs nothing.
	require.Eventually(t, func() bool { return st.Metrics().Lambda["worker"].Invocations == 2 }, waitFor, 10*time.Millisecond)
	d := st.Metrics().Sub(before)
	t.Logf("one async request (5 x 100 ms): dynamodb %v, connections API %v, invocations router %d processor %d worker %d, worker %.4f GB-s",
		d.DynamoDB, d.ConnectionsAPI, d.Lambda["router"].Invocations, d.Lambda["processor"].Invocations, d.Lambda["worker"].Invocations, d.Lambda["worker"].GBSeconds)

	req := d.DynamoDB[TableRequests]
	require.Equal(t, int64(1), req[OpPutItem], "one enqueue write")
	require.Equal(t, int64(2), req[OpGetItem], "each worker invocation reads the request once")
	require.LessOrEqual(t, req[OpUpdateItem], int64(4), "claim, finish and at most a progress write per second: %v", req)
	require.Equal(t, int64(1), d.Lambda["router"].Invocations)
	require.Equal(t, int64(1), d.Lambda["processor"].Invocations, "the claim's MODIFY is filtered out")
	require.Equal(t, int64(len(msgs)-1), d.ConnectionsAPI[APIPostToConnection], "every message but the ack is a post")
	require.Equal(t, uint64(len(msgs)-1), d.ConnectionManager.Sent, "the connection manager delivered them")
	require.Equal(t, uint64(d.ConnectionsAPI[APIPostToConnection]), d.ConnectionManager.Latency.Calls(), "one call per post, none retried")
	require.Positive(t, d.Lambda["worker"].GBSeconds)
}

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"shards":          {Shards: 11},
		"batch":           {BatchSize: 20000},
		"role":            {Functions: map[string]FunctionSettings{"nope": {}}},
		"negatives":       {IdleTimeout: -time.Second},
		"every interface": {Addr: ":0"},
		"a LAN address":   {Addr: "192.168.1.20:8080"},
		"a host name":     {Addr: "example.com:8080"},
	} {
		_, err := Start(t.Context(), cfg)
		require.True(t, errors.Is(err, ErrInvalidConfig), "%s: %v", name, err)
	}
	_, err := Start(t.Context(), Config{Addr: "0.0.0.0:0"})
	require.ErrorContains(t, err, "InsecureExposeToNetwork", "the error says how to allow it")
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		_, err := (Config{Addr: addr}).withDefaults()
		require.NoError(t, err, addr)
	}
}

// TestDevEndpointsAnswerOnlyLoopback shows the dev endpoints (tokens for any identity,
// posts to any connection, the counters) refusing a request whose Host is not loopback,
// as a DNS-rebinding page's requests are, while the API and page are served; and a stack
// exposed on every interface, which needs InsecureExposeToNetwork.
func TestDevEndpointsAnswerOnlyLoopback(t *testing.T) {
	t.Parallel()
	st := startStack(t, Config{})
	get := func(path, host string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, st.URL()+path, nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	port := strings.TrimPrefix(st.URL(), "http://127.0.0.1")
	for _, path := range []string{"/dev/token", "/metrics", "/@connections/abc"} {
		require.Equal(t, http.StatusForbidden, get(path, "attacker.example"+port), path)
		require.Equal(t, http.StatusForbidden, get(path, "192.168.1.20"+port), path)
		require.NotEqual(t, http.StatusForbidden, get(path, "localhost"+port), path)
		require.NotEqual(t, http.StatusForbidden, get(path, "127.0.0.1"+port), path)
	}
	require.Equal(t, http.StatusOK, get("/healthz", "attacker.example"+port), "the rest is not a dev endpoint")
	require.Equal(t, http.StatusOK, get("/", "attacker.example"+port))

	exposed := startStack(t, Config{Addr: "0.0.0.0:0", InsecureExposeToNetwork: true})
	_, port, err := net.SplitHostPort(strings.TrimPrefix(exposed.URL(), "http://"))
	require.NoError(t, err)
	resp, err := http.Get("http://127.0.0.1:" + port + "/dev/token")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "listening on every interface, still reachable from loopback")
}

// blockingApp has "block", a synchronous action that ignores its context and returns
// only when release is closed, and "echo".
func blockingApp(t *testing.T, release <-chan struct{}, opts ...lambdas.Option) *lambdas.App {
	t.Helper()
	app := lambdas.New(opts...)
	require.NoError(t, app.Handle("block", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		<-release
		return &streamer.Result{Success: true}, nil
	})))
	require.NoError(t, app.Handle("echo", echoHandler))
	return app
}

// TestMessagesOfOneConnectionAreRoutedConcurrently: a message whose action has not
// returned does not hold up the next one on the same connection, as in API Gateway.
func TestMessagesOfOneConnectionAreRoutedConcurrently(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	st := startStack(t, Config{App: blockingApp(t, release)})
	c := dial(t, st, token(t, st, "alice", "acme"))
	c.call("block", "b-1", nil)
	c.call("echo", "e-1", map[string]any{"n": 1})
	first := c.next()
	require.Equal(t, "e-1", first.RequestID, "the echo must not wait for the blocked action")
	close(release)
	second := c.next()
	require.Equal(t, "b-1", second.RequestID)
	require.Equal(t, protocol.TypeResult, second.Type)
}

// TestHandlerIgnoringItsContextIsAnsweredTimeoutAtTheBudget: the router answers TIMEOUT
// at its sync budget although the handler never looks at its context; the late result
// is not sent.
func TestHandlerIgnoringItsContextIsAnsweredTimeoutAtTheBudget(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	st := startStack(t, Config{App: blockingApp(t, release, lambdas.WithSyncBudget(100*time.Millisecond))})
	c := dial(t, st, token(t, st, "alice", "acme"))
	c.call("block", "b-1", nil)
	m := c.next()
	require.Equal(t, protocol.TypeError, m.Type)
	require.Equal(t, "b-1", m.RequestID)
	require.Equal(t, streamer.ErrCodeTimeout, m.Error.Code)
	close(release)
	c.call(protocol.ActionPing, "", nil)
	require.Equal(t, protocol.TypePong, c.next().Type, "nothing but the pong follows the TIMEOUT")
	require.Zero(t, st.Metrics().APIGateway.IntegrationTimeouts)
}
