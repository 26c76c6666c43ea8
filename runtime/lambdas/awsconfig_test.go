package lambdas

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/require"
)

// lambdaEnv is the part of a Lambda function's environment awsConfigFromEnv reads.
func lambdaEnv() map[string]string {
	return map[string]string{
		envRegion:       "eu-west-1",
		envAccessKeyID:  "ASIAEXAMPLEKEY",
		envSecretKey:    "secret-access-key",
		envSessionToken: "session-token",
	}
}

func TestAWSConfigFromEnvSignsWithTheExecutionRole(t *testing.T) {
	t.Parallel()
	cfg, err := awsConfigFromEnv(envOf(lambdaEnv()))
	require.NoError(t, err)
	require.Equal(t, "eu-west-1", cfg.Region)

	// A real SDK client built from the configuration signs with the role's session
	// credentials for the function's region.
	var auth, token string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, token = r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token")
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"SecretString":"s"}`))
	}))
	t.Cleanup(srv.Close)
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, "s", aws.ToString(out.SecretString))
	require.True(t, strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY/"), auth)
	require.Contains(t, auth, "/eu-west-1/secretsmanager/aws4_request")
	require.Equal(t, "session-token", token)
}

func TestAWSConfigFromEnvFallsBackToDefaultRegion(t *testing.T) {
	t.Parallel()
	env := lambdaEnv()
	delete(env, envRegion)
	env[envDefaultRegion] = "us-west-2"
	cfg, err := awsConfigFromEnv(envOf(env))
	require.NoError(t, err)
	require.Equal(t, "us-west-2", cfg.Region)
}

func TestAWSConfigFromEnvNeedsLambdaVariables(t *testing.T) {
	t.Parallel()
	for _, name := range []string{envRegion, envAccessKeyID, envSecretKey} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := lambdaEnv()
			delete(env, name)
			_, err := awsConfigFromEnv(envOf(env))
			require.ErrorIs(t, err, errNoAWSEnvironment)
			require.ErrorContains(t, err, name)
		})
	}
}
