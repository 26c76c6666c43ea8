package lambdas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/internal/logtest"
	"github.com/streamer-go/streamer/runtime/lambdas"
)

func TestEMFLinesAreValidEmbeddedMetrics(t *testing.T) {
	t.Parallel()
	var out logtest.Buffer
	emf := lambdas.NewEMF(&out, "")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			emf.RecordRequest("generate_report", "TIMEOUT", time.Duration(i)*time.Millisecond+1500*time.Microsecond)
		})
	}
	wg.Wait()

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 20, "one whole line per record, never interleaved")
	var line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Action, Outcome string
		Requests        int
		Duration        float64
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
	require.InDelta(t, time.Now().UnixMilli(), line.AWS.Timestamp, 60_000)
	require.Len(t, line.AWS.CloudWatchMetrics, 1)
	set := line.AWS.CloudWatchMetrics[0]
	require.Equal(t, lambdas.DefaultMetricsNamespace, set.Namespace)
	require.Equal(t, [][]string{{"Action", "Outcome"}}, set.Dimensions)
	// Every dimension and metric the directive names is a member of the line.
	for _, m := range set.Metrics {
		require.Contains(t, lines[0], `"`+m.Name+`":`)
	}
	require.Equal(t, "generate_report", line.Action)
	require.Equal(t, "TIMEOUT", line.Outcome)
	require.Equal(t, 1, line.Requests)
	require.GreaterOrEqual(t, line.Duration, 1.5)
}

func TestLoggerAddsInvocationID(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := lambdas.NewLogger(&out, "WARN").With(slog.String("function", "worker"))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8f5e4c1a-0000-4000-8000-000000000001"})
	logger.InfoContext(ctx, "below the level")
	logger.WarnContext(ctx, "kept", slog.String("request_id", "r-1"))
	logger.Warn("no invocation")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	var first, second map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &second))
	require.Equal(t, "8f5e4c1a-0000-4000-8000-000000000001", first["aws_request_id"])
	require.Equal(t, "r-1", first["request_id"])
	require.Equal(t, "worker", first["function"])
	require.NotContains(t, second, "aws_request_id")
}
