package lambdas

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// offlineAWS is a configuration that builds every client without reaching AWS.
func offlineAWS(endpoint string) aws.Config {
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	return cfg
}

func envOf(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

func buildFromEnv(t *testing.T, app *App, env map[string]string, cfg aws.Config) (any, error) {
	t.Helper()
	return app.fromEnv(context.Background(), envOf(env), cfg, slog.New(slog.DiscardHandler), io.Discard)
}

func TestFromEnvBuildsEveryRole(t *testing.T) {
	t.Parallel()
	tables := map[string]string{
		contract.EnvConnectionsTable: "connections",
		contract.EnvRequestsTable:    "requests",
		contract.EnvLimitsTable:      "limits",
		contract.EnvCallbackURL:      "https://k3x9q2w1ab.execute-api.eu-west-1.amazonaws.com/prod",
		contract.EnvWorkerFunction:   "streamer-worker",
		contract.EnvHMACSecret:       strings.Repeat("k", 32),
	}
	want := map[string]any{
		contract.RoleAuthorizer: func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
			return events.APIGatewayCustomAuthorizerResponse{}, nil
		},
		contract.RoleConnect:    websocketFunc(nil),
		contract.RoleDisconnect: websocketFunc(nil),
		contract.RoleRouter:     websocketFunc(nil),
		contract.RoleProcessor: func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return events.DynamoDBEventResponse{}, nil
		},
		contract.RoleWorker: func(context.Context, executor.WorkerEvent) error { return nil },
		contract.RoleRedriver: func(context.Context, events.EventBridgeEvent) (executor.RedriveReport, error) {
			return executor.RedriveReport{}, nil
		},
	}
	for _, role := range contract.Roles {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{contract.EnvFunction: role}
			for k, v := range tables {
				env[k] = v
			}
			h, err := buildFromEnv(t, New(), env, offlineAWS(""))
			require.NoError(t, err)
			require.IsType(t, want[role], h)
			require.NotNil(t, h)
		})
	}
}

func TestFromEnvReportsMissingSettings(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env  map[string]string
		want []string
	}{
		"no role":         {map[string]string{}, []string{contract.EnvFunction, "want one of"}},
		"unknown role":    {map[string]string{contract.EnvFunction: "janitor"}, []string{`"janitor"`}},
		"router":          {map[string]string{contract.EnvFunction: contract.RoleRouter}, []string{contract.EnvConnectionsTable, contract.EnvRequestsTable, contract.EnvLimitsTable, contract.EnvCallbackURL, contract.EnvWorkerFunction}},
		"redriver":        {map[string]string{contract.EnvFunction: contract.RoleRedriver}, []string{contract.EnvConnectionsTable, contract.EnvRequestsTable, contract.EnvCallbackURL}},
		"bad cap":         {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvUserMaxInFlight: "ten"}, []string{contract.EnvUserMaxInFlight, "-1 for no limit"}},
		"bad rate":        {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvTenantRate: "-2"}, []string{contract.EnvTenantRate}},
		"huge tenant cap": {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvTenantMaxInFlight: "5000"}, []string{"over 1000"}},
		"bad redrive":     {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvRedriveAfter: "soon"}, []string{contract.EnvRedriveAfter}},
		"bad dispatch":    {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvDirectDispatch: "sometimes"}, []string{contract.EnvDirectDispatch}},
		"processor":       {map[string]string{contract.EnvFunction: contract.RoleProcessor}, []string{contract.EnvWorkerFunction}},
		"authorizer":      {map[string]string{contract.EnvFunction: contract.RoleAuthorizer}, []string{contract.EnvJWKSURL, contract.EnvHMACSecretARN}},
		"short secret":    {map[string]string{contract.EnvFunction: contract.RoleAuthorizer, contract.EnvHMACSecret: "short"}, []string{"HMACSecret"}},
		"bad threshold":   {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvAsyncThreshold: "5"}, []string{contract.EnvAsyncThreshold}},
		"bad attempts":    {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvMaxAttempts: "0"}, []string{contract.EnvMaxAttempts}},
		"negative budget": {map[string]string{contract.EnvFunction: contract.RoleConnect, contract.EnvSyncBudget: "-1s"}, []string{contract.EnvSyncBudget}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := buildFromEnv(t, New(), tt.env, offlineAWS(""))
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := buildFromEnv(t, New(), map[string]string{contract.EnvFunction: "janitor"}, offlineAWS(""))
	require.ErrorIs(t, err, ErrUnknownRole)
}

func TestFromEnvAppliesRouterSettings(t *testing.T) {
	t.Parallel()
	app := New()
	require.NoError(t, app.Handle("long", streamer.HandlerFunc(func(context.Context, *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Success: true, Data: "ran synchronously"}, nil
	})))
	env := map[string]string{
		contract.EnvFunction:         contract.RoleRouter,
		contract.EnvConnectionsTable: "connections",
		contract.EnvRequestsTable:    "requests",
		contract.EnvLimitsTable:      "limits",
		contract.EnvCallbackURL:      "http://127.0.0.1:1",
		contract.EnvAsyncThreshold:   "1h",
		contract.EnvSyncBudget:       "2s",
		contract.EnvMaxAttempts:      "5",
		contract.EnvUserMaxInFlight:  "-1",
		contract.EnvUserRate:         "0.5",
		contract.EnvTenantBurst:      "300",
		contract.EnvRedriveAfter:     "20m",
		contract.EnvDirectDispatch:   "false", // no worker function needed then
	}
	app.Configure(WithLimits(store.Limits{TenantMaxInFlight: 50}))
	h, err := buildFromEnv(t, app, env, offlineAWS(""))
	require.NoError(t, err)
	require.Equal(t, settings{
		asyncThreshold: time.Hour, syncBudget: 2 * time.Second, maxAttempts: 5, redriveAfter: 20 * time.Minute,
		limits: store.Limits{UserMaxInFlight: store.Unlimited, UserRate: 0.5, TenantMaxInFlight: 50, TenantBurst: 300},
	}, app.settings, "the environment overrides single fields of the App's limits")
	route := h.(websocketFunc)
	resp, err := route(context.Background(), events.APIGatewayWebsocketProxyRequest{
		Body: `{"action":"long","id":"l-1"}`,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: "c-1",
			Authorizer:   map[string]any{contract.AuthUserID: "u", contract.AuthTenantID: "t"},
		},
	})
	require.NoError(t, err)
	require.Contains(t, resp.Body, "ran synchronously")
}

// fakeAWS is a fake of the two APIs a router with direct dispatch calls, over real HTTP:
// DynamoDB PutItem (the enqueue) and Lambda Invoke. It records the invokes.
type fakeAWS struct {
	mu      sync.Mutex
	order   []string // "PutItem" and "Invoke", as they arrived
	invokes []*http.Request
	bodies  []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.PutItem":
		f.order = append(f.order, "PutItem")
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = io.WriteString(w, `{}`)
	case strings.HasPrefix(r.URL.Path, "/2015-03-31/functions/"):
		f.order = append(f.order, "Invoke")
		f.invokes = append(f.invokes, r)
		f.bodies = append(f.bodies, string(body))
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unexpected call", http.StatusBadRequest)
	}
}

func TestFromEnvRouterDispatchesThroughLambdaInvoke(t *testing.T) {
	t.Parallel()
	fake := &fakeAWS{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	app := New(WithLimits(store.NoLimits())) // the fake serves the Requests table only
	require.NoError(t, app.Handle("long", streamer.Async(func(context.Context, *streamer.Job[struct{}]) (int, error) { return 0, nil })))
	env := map[string]string{
		contract.EnvFunction:         contract.RoleRouter,
		contract.EnvConnectionsTable: "connections",
		contract.EnvRequestsTable:    "requests",
		contract.EnvLimitsTable:      "limits",
		contract.EnvCallbackURL:      srv.URL,
		contract.EnvWorkerFunction:   "streamer-worker",
	}
	h, err := buildFromEnv(t, app, env, offlineAWS(srv.URL))
	require.NoError(t, err)
	resp, err := h.(websocketFunc)(context.Background(), events.APIGatewayWebsocketProxyRequest{
		Body: `{"action":"long","id":"l-1"}`,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: "c-1",
			Authorizer:   map[string]any{contract.AuthUserID: "u", contract.AuthTenantID: "t"},
		},
	})
	require.NoError(t, err)
	require.Contains(t, resp.Body, `"type":"ack"`)

	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Equal(t, []string{"PutItem", "Invoke"}, fake.order, "the enqueue, then the dispatch")
	inv := fake.invokes[0]
	require.Equal(t, "/2015-03-31/functions/streamer-worker/invocations", inv.URL.Path)
	require.Equal(t, "Event", inv.Header.Get("X-Amz-Invocation-Type"), "an asynchronous invoke")
	require.JSONEq(t, `{"request_id":"t#u#l-1"}`, fake.bodies[0])
}

// secretsManager is a fake of the Secrets Manager JSON API over real HTTP.
func secretsManager(t *testing.T, arn, secret string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			http.Error(w, "unexpected target", http.StatusBadRequest)
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId != arn {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "streamer-hmac", "SecretString": secret})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAuthorizerFromSecretsManager(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:streamer-hmac-AbCdEf"
	secret := strings.Repeat("z", 48)
	srv := secretsManager(t, arn, secret)
	env := map[string]string{contract.EnvFunction: contract.RoleAuthorizer, contract.EnvHMACSecretARN: arn, contract.EnvAllowedTenants: " acme, ,globex "}
	h, err := buildFromEnv(t, New(), env, offlineAWS(srv.URL))
	require.NoError(t, err)
	authorize := h.(func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error))

	for tenant, effect := range map[string]string{"globex": "Allow", "initech": "Deny"} {
		resp, err := authorize(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{
			MethodArn: "arn:aws:execute-api:eu-west-1:123456789012:k3x9q2w1ab/prod/$connect",
			Headers:   map[string]string{"Authorization": "Bearer " + hs256(t, []byte(secret), tenant)},
		})
		require.NoError(t, err)
		require.Equal(t, effect, resp.PolicyDocument.Statement[0].Effect, tenant)
	}

	env[contract.EnvHMACSecretARN] = arn + "-missing"
	_, err = buildFromEnv(t, New(), env, offlineAWS(srv.URL))
	require.ErrorContains(t, err, contract.EnvHMACSecretARN)
}

func TestAuthorizerFromJWKS(t *testing.T) {
	t.Parallel()
	issuer, err := auth.NewDevIssuer()
	require.NoError(t, err)
	jwks := httptest.NewServer(issuer.JWKSHandler())
	t.Cleanup(jwks.Close)
	env := map[string]string{
		contract.EnvFunction: contract.RoleAuthorizer,
		contract.EnvJWKSURL:  jwks.URL,
		contract.EnvIssuer:   issuer.Issuer(),
		contract.EnvAudience: "another-api",
	}
	h, err := buildFromEnv(t, New(), env, offlineAWS(""))
	require.NoError(t, err)
	authorize := h.(func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error))
	token, err := issuer.Mint("u", "t", time.Minute)
	require.NoError(t, err)
	_, err = authorize(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{QueryStringParameters: map[string]string{"token": token}})
	require.ErrorIs(t, err, auth.ErrUnauthorized, "the audience from the environment is enforced")
}

// hs256 mints an HS256 token for user u in tenant, as an HMAC identity provider would.
func hs256(t *testing.T, secret []byte, tenant string) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject("u").Claim("tenant_id", tenant).Expiration(time.Now().Add(time.Minute)).Build()
	require.NoError(t, err)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, secret))
	require.NoError(t, err)
	return string(signed)
}
