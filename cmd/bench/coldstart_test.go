package bench

import (
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeBootstrapEnv makes the test binary act as a Lambda bootstrap (see TestMain).
const fakeBootstrapEnv = "BENCH_FAKE_BOOTSTRAP"

// TestMain lets the test binary stand in for a bootstrap: with BENCH_FAKE_BOOTSTRAP=ready
// it asks the Runtime API for the next invocation and waits; with =fail it exits at once.
func TestMain(m *testing.M) {
	switch os.Getenv(fakeBootstrapEnv) {
	case "ready":
		resp, err := http.Get("http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + runtimeNextPath)
		if err == nil {
			_ = resp.Body.Close()
		}
		os.Exit(0)
	case "fail":
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func fakeEnv(mode string) func(api string) []string {
	return func(api string) []string {
		return append(routerEnv(api, os.TempDir()), fakeBootstrapEnv+"="+mode)
	}
}

func TestTimeToReady(t *testing.T) {
	t.Parallel()
	d, err := timeToReady(t.Context(), os.Args[0], fakeEnv("ready"))
	require.NoError(t, err)
	require.Positive(t, d)
	require.Less(t, d, readyTimeout)
}

func TestTimeToReadyProcessExits(t *testing.T) {
	t.Parallel()
	_, err := timeToReady(t.Context(), os.Args[0], fakeEnv("fail"))
	require.ErrorIs(t, err, ErrNotReady)
}

func TestRouterEnvNeedsNoNetwork(t *testing.T) {
	t.Parallel()
	env := routerEnv("127.0.0.1:1234", "/tmp/h")
	require.Contains(t, env, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1234")
	require.Contains(t, env, "STREAMER_FUNCTION=router")
	require.Contains(t, env, "AWS_EC2_METADATA_DISABLED=true", "no credentials lookup over the network")
	require.Contains(t, env, "STREAMER_DYNAMODB_ENDPOINT=http://127.0.0.1:9")
}

func TestQuoteFlags(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", `-ldflags="-s -w"`}, quoteFlags(buildFlags()))
}
