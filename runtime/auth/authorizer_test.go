package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/internal/logtest"
)

const connectARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/$connect"

// authorizerBundle is a dev issuer behind a real JWKS endpoint and the authorizer on it.
type authorizerBundle struct {
	issuer     *auth.DevIssuer
	authorizer *auth.Authorizer
	logs       *logtest.Buffer
}

func setupAuthorizer(t *testing.T, allowedTenants ...string) *authorizerBundle {
	t.Helper()
	issuer, err := auth.NewDevIssuer()
	require.NoError(t, err)
	srv := httptest.NewServer(issuer.JWKSHandler())
	t.Cleanup(srv.Close)
	cfg := issuer.Config(srv.URL + auth.JWKSPath)
	cfg.AllowedTenants = allowedTenants
	v, err := auth.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)
	logs := &logtest.Buffer{}
	return &authorizerBundle{
		issuer:     issuer,
		authorizer: auth.NewAuthorizer(v, slog.New(slog.NewJSONHandler(logs, nil))),
		logs:       logs,
	}
}

// fixture loads an API Gateway $connect authorizer event, with {{TOKEN}} replaced.
func fixture(t *testing.T, name, token string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	raw = bytes.ReplaceAll(raw, []byte("{{TOKEN}}"), []byte(token))
	var e events.APIGatewayCustomAuthorizerRequestTypeRequest
	require.NoError(t, json.Unmarshal(raw, &e))
	return e
}

func TestAuthorizerAllows(t *testing.T) {
	t.Parallel()
	b := setupAuthorizer(t)
	token, err := b.issuer.Mint("u-7", "acme", time.Hour)
	require.NoError(t, err)

	for _, name := range []string{"connect-query-token.json", "connect-header-token.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := b.authorizer.Handle(context.Background(), fixture(t, name, token))
			require.NoError(t, err)
			require.Equal(t, "u-7", resp.PrincipalID)
			require.Equal(t, map[string]any{"user_id": "u-7", "tenant_id": "acme"}, resp.Context)
			require.Equal(t, "2012-10-17", resp.PolicyDocument.Version)
			require.Equal(t, []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{connectARN},
			}}, resp.PolicyDocument.Statement)

			// The response is what the Lambda runtime marshals back to API Gateway.
			out, err := json.Marshal(resp)
			require.NoError(t, err)
			require.JSONEq(t, `{"principalId":"u-7","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":["execute-api:Invoke"],"Effect":"Allow","Resource":["`+connectARN+`"]}]},"context":{"user_id":"u-7","tenant_id":"acme"}}`, string(out))
		})
	}
}

func TestAuthorizerRefusesWith401(t *testing.T) {
	t.Parallel()
	b := setupAuthorizer(t)
	expired, err := b.issuer.Mint("u-7", "acme", -time.Hour)
	require.NoError(t, err)
	hashTenant, err := b.issuer.Mint("u-7", "ac#me", time.Hour)
	require.NoError(t, err)
	hugeTenant, err := b.issuer.Mint("u-7", strings.Repeat("t", 10*1024), time.Hour)
	require.NoError(t, err)

	tests := []struct {
		name, fixture, token, reason string
	}{
		{"missing token", "connect-no-token.json", "", "missing"},
		{"alg none", "connect-bad-token.json", "", "algorithm not allowed"},
		{"expired", "connect-query-token.json", expired, "expired"},
		{"wrong scheme", "connect-header-token.json", expired, "missing"},
		// Signed and valid, but every frame would fail: refused at $connect.
		{"tenant with #", "connect-query-token.json", hashTenant, "unusable identity"},
		{"10 KB tenant", "connect-query-token.json", hugeTenant, "unusable identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { // not parallel: the logs are checked below
			e := fixture(t, tt.fixture, tt.token)
			if tt.name == "wrong scheme" {
				e.Headers["authorization"] = "Basic " + tt.token
				e.MultiValueHeaders["authorization"] = []string{"Basic " + tt.token}
			}
			resp, err := b.authorizer.Handle(context.Background(), e)
			require.ErrorIs(t, err, auth.ErrUnauthorized)
			require.Equal(t, "Unauthorized", err.Error(), "the exact text API Gateway maps to 401")
			require.Empty(t, resp.PrincipalID)
			require.Empty(t, resp.Context)
		})
	}
	logs := b.logs.String()
	require.Contains(t, logs, "auth: connection refused")
	require.Contains(t, logs, "expired")
	require.Contains(t, logs, "unusable identity: store: identity cannot be stored: tenant contains '#'")
	require.Contains(t, logs, "tenant of 10240 bytes (limit 128)")
	require.NotContains(t, logs, expired, "tokens are never logged")
}

func TestAuthorizerDeniesTenantOutsideAllowList(t *testing.T) {
	t.Parallel()
	b := setupAuthorizer(t, "acme")
	token, err := b.issuer.Mint("u-7", "initech", time.Hour)
	require.NoError(t, err)
	resp, err := b.authorizer.Handle(context.Background(), fixture(t, "connect-query-token.json", token))
	require.NoError(t, err)
	require.Equal(t, "Deny", resp.PolicyDocument.Statement[0].Effect)
	require.Equal(t, []string{connectARN}, resp.PolicyDocument.Statement[0].Resource)
	require.Empty(t, resp.Context)
	require.Contains(t, b.logs.String(), "tenant not allowed")
}

// failingVerifier stands for a verifier whose key source is down.
type failingVerifier struct{}

func (failingVerifier) Verify(context.Context, string) (*auth.Identity, error) {
	return nil, auth.ErrJWKSUnavailable
}

func TestAuthorizerFailsWhenTokenCannotBeChecked(t *testing.T) {
	t.Parallel()
	a := auth.NewAuthorizer(failingVerifier{}, slog.New(slog.DiscardHandler))
	_, err := a.Handle(context.Background(), fixture(t, "connect-query-token.json", "x.y.z"))
	require.ErrorIs(t, err, auth.ErrJWKSUnavailable)
	require.False(t, errors.Is(err, auth.ErrUnauthorized), "an outage is a 500, not a 401")
}

func TestAuthorizerTokenSources(t *testing.T) {
	t.Parallel()
	b := setupAuthorizer(t)
	token, err := b.issuer.Mint("u-1", "acme", time.Hour)
	require.NoError(t, err)
	tests := map[string]events.APIGatewayCustomAuthorizerRequestTypeRequest{
		"multi-value query only":   {MultiValueQueryStringParameters: map[string][]string{"token": {token}}},
		"AUTHORIZATION header":     {Headers: map[string]string{"AUTHORIZATION": "BEARER  " + token + " "}},
		"multi-value header only":  {MultiValueHeaders: map[string][]string{"Authorization": {"Basic Zm9vOmJhcg==", "Bearer " + token}}},
		"query wins over a header": {QueryStringParameters: map[string]string{"token": token}, Headers: map[string]string{"Authorization": "Bearer junk"}},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) { // not parallel: the logs are checked below
			e.MethodArn = connectARN
			resp, err := b.authorizer.Handle(context.Background(), e)
			require.NoError(t, err)
			require.Equal(t, "u-1", resp.PrincipalID)
		})
	}
	for _, header := range []string{"Bearer", "Bearer ", "Token " + token, token} {
		_, err := b.authorizer.Handle(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{
			MethodArn: connectARN, Headers: map[string]string{"Authorization": header},
		})
		require.ErrorIs(t, err, auth.ErrUnauthorized, header)
	}
	require.Contains(t, b.logs.String(), "auth: connection allowed")
	require.False(t, strings.Contains(b.logs.String(), token), "tokens are never logged")
}
