package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
)

const testSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:MyAppTokenKey-AbCdEf"

// secretsManager is a stand-in for the Secrets Manager API: GetSecretValue of one
// secret, over the AWS JSON protocol the SDK speaks; any other id is not found.
func secretsManager(t *testing.T, secret string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") ||
			!strings.Contains(r.Header.Get("Authorization"), "/eu-west-1/secretsmanager/") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"InvalidRequestException","message":"unexpected request"}`))
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId != testSecretARN {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": testSecretARN, "Name": "MyAppTokenKey", "SecretString": secret})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTokenForADeployedStack mints with the stack's HMAC secret, read through the real
// SDK client with credentials from the environment: the token verifies with that secret.
// (Not parallel: it sets the AWS environment variables.)
func TestTokenForADeployedStack(t *testing.T) {
	secret := strings.Repeat("k", 64)
	srv := secretsManager(t, secret)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))

	code, out, errOut := runCLI(t, "token", "--secret-arn", testSecretARN, "--endpoint-url", srv.URL, "--user", "alice", "--tenant", "acme", "--audience", "streamer")
	require.Equal(t, exitOK, code, errOut)
	v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecret: []byte(secret), Audience: "streamer"})
	require.NoError(t, err)
	id, err := v.Verify(context.Background(), strings.TrimSpace(out))
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	require.Equal(t, "acme", id.TenantID)

	code, _, errOut = runCLI(t, "token", "--secret-arn", strings.Replace(testSecretARN, "MyApp", "Other", 1), "--endpoint-url", srv.URL)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "ResourceNotFoundException")
	require.Contains(t, errOut, "secretsmanager:GetSecretValue")

	short := secretsManager(t, "short")
	code, _, errOut = runCLI(t, "token", "--secret-arn", testSecretARN, "--endpoint-url", short.URL)
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "at least 32 bytes")
}

func TestTokenExplainsWhereADeployedStacksTokensComeFrom(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, "token", "--url", "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod")
	require.Equal(t, exitUsage, code)
	require.Empty(t, out)
	for _, want := range []string{"identity provider", "JwksUrl", "HmacSecretArn", "streamer token --secret-arn ARN"} {
		require.Contains(t, errOut, want)
	}
}
