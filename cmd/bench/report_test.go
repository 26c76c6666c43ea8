package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleReport() *Report {
	return &Report{
		Started: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		Target:  "ws://127.0.0.1:8080",
		Machine: Machine{GOOS: "linux", GOARCH: "amd64", CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26", LoadAverage: "0.10 0.20 0.30"},
		Results: []Result{
			{
				Scenario: ScenarioFloor, ElapsedS: 3.25,
				Latencies: []Latency{{Name: "local stack, 1 connection", Summary: Summary{N: 100, P50MS: 0.125, P95MS: 0.25, P99MS: 0.5, MaxMS: 1.5, Throughput: 8000}}},
				Figures: []Figure{
					atMost("p50 ratio", 1.5, "x", 2),
					atLeast("echoes per second", 9000, "echo/s", 10_000),
					figure("bare echoes per second", 30000, "echo/s"),
				},
				Notes: []string{"a note"},
			},
			{Scenario: ScenarioCost, Error: "bench: cost needs counters", Cost: []ActionCost{{
				Action: "echo", Requests: 10,
				PerRequest: Usage{APIMessages: 2, LambdaInvocations: 1, LambdaGBSeconds: 0.0005},
				PerMillion: CostBreakdown{APIMessages: 2, LambdaRequests: 0.2, Total: 2.2},
			}}},
		},
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, sampleReport().WriteTable(&b))
	out := b.String()
	for _, want := range []string{
		"streamer bench  2026-11-27T12:00:00Z  target ws://127.0.0.1:8080",
		"machine: linux/amd64, 2 CPUs, Test CPU, go1.26, load 0.10 0.20 0.30",
		"== floor (3.2 s)",
		"note: a note",
		"== cost (0.0 s)",
		"error: bench: cost needs counters",
	} {
		require.Contains(t, out, want)
	}
	lines := strings.Split(out, "\n")
	row := func(prefix string) []string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(strings.TrimPrefix(l, prefix))
			}
		}
		require.Failf(t, "no row", "%q in\n%s", prefix, out)
		return nil
	}
	require.Equal(t, []string{"100", "0", "0.125", "0.250", "0.500", "1.500", "8000"}, row("local stack, 1 connection"))
	require.Equal(t, []string{"1.500", "x", "<=", "2", "met"}, row("p50 ratio"))
	require.Equal(t, []string{"9000", "echo/s", ">=", "10000", "NOT", "MET"}, row("echoes per second"))
	require.Equal(t, []string{"30000", "echo/s", "-"}, row("bare echoes per second"))
	require.Equal(t, []string{"10", "0", "0", "0", "0", "0", "1", "0.0005", "2", "0", "2.200"}, row("echo  "))
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, sampleReport().WriteJSON(&b))
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &raw))
	results := raw["results"].([]any)
	floor := results[0].(map[string]any)
	lat := floor["latencies"].([]any)[0].(map[string]any)
	require.Equal(t, "local stack, 1 connection", lat["name"])
	require.InDelta(t, 0.125, lat["p50_ms"], 1e-12, "the summary's fields are inline")
	fig := floor["figures"].([]any)[1].(map[string]any)
	require.Equal(t, ">= 10000", fig["goal"])
	require.Equal(t, false, fig["met"])
	_, hasMet := floor["figures"].([]any)[2].(map[string]any)["met"]
	require.False(t, hasMet, "a figure without a goal has no verdict")
	cost := results[1].(map[string]any)["cost"].([]any)[0].(map[string]any)
	require.InDelta(t, 2.2, cost["usd_per_million_requests"].(map[string]any)["total"], 1e-12)
}

func TestFormatNumber(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "0", 2: "2", 10000: "10000", 12345.6: "12346", 42.25: "42.2", 1.5: "1.500", 0.05: "0.050", 0.000845: "0.000845", -3: "-3"} {
		require.Equal(t, want, formatNumber(v), "%v", v)
	}
}

func TestRenderBar(t *testing.T) {
	t.Parallel()
	require.Equal(t, "echo         [###############...............] 5/10", renderBar("echo", 5, 10))
	require.Equal(t, "echo         [##############################] 10/10", renderBar("echo", 12, 10), "done is capped at total")

	var b bytes.Buffer
	bar := newProgressBar(Progress{W: &b, Terminal: true}, "echo", 2)
	bar.Add(2)
	bar.Finish()
	require.True(t, strings.HasPrefix(b.String(), "\r\033[K"), "redrawn in place on a terminal: %q", b.String())
	require.True(t, strings.HasSuffix(b.String(), "] 2/2\n"), "%q", b.String())

	b.Reset()
	bar = newProgressBar(Progress{W: &b}, "echo", 2)
	bar.Add(1)
	bar.Add(1)
	bar.Finish()
	require.Equal(t, "echo         [##############################] 2/2\n", b.String(), "one plain line elsewhere")
	var none *progressBar
	none.Add(1) // a nil bar draws nothing and does not panic
	none.Finish()
}

func TestCheckTarget(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ws://127.0.0.1:8080", "ws://localhost:8080/local", "ws://[::1]:8080", "ws://127.1.2.3"} {
		require.NoError(t, CheckTarget(u, false), u)
	}
	require.ErrorIs(t, CheckTarget("wss://abc.execute-api.us-east-1.amazonaws.com/prod", false), ErrRemoteTarget)
	require.ErrorIs(t, CheckTarget("ws://10.0.0.1:8080", false), ErrRemoteTarget)
	require.NoError(t, CheckTarget("wss://abc.execute-api.us-east-1.amazonaws.com/prod", true))
	require.ErrorIs(t, CheckTarget("http://127.0.0.1:8080", true), ErrInvalidOptions)
	require.ErrorIs(t, CheckTarget("ws://", true), ErrInvalidOptions)
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	o, err := Options{Scenarios: []string{ScenarioCost, ScenarioEcho}}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, []string{ScenarioEcho, ScenarioCost}, o.Scenarios, "scenarios run in their fixed order")
	require.Equal(t, 20_000, o.requests(ScenarioEcho))
	require.Equal(t, 100, o.requests(ScenarioCost))
	require.Equal(t, DefaultConnections, o.Connections)

	for _, bad := range []Options{
		{Scenarios: []string{"nope"}},
		{N: -1}, {N: MaxRequests + 1},
		{Connections: MaxConnections + 1}, {Jobs: -1},
		{DurationLimit: MaxDurationLimit + time.Second},
	} {
		_, err := bad.withDefaults()
		require.ErrorIs(t, err, ErrInvalidOptions, "%+v", bad)
	}
	_, err = Options{URL: "ws://192.0.2.1:8080"}.withDefaults()
	require.ErrorIs(t, err, ErrRemoteTarget)
	_, err = Run(t.Context(), Options{Scenarios: []string{"nope"}})
	require.ErrorIs(t, err, ErrInvalidOptions)
}

func TestHTTPBase(t *testing.T) {
	t.Parallel()
	require.Equal(t, "http://127.0.0.1:8080", httpBase("ws://127.0.0.1:8080/local?x=1"))
	require.Equal(t, "https://example.com", httpBase("wss://example.com/prod"))
}
