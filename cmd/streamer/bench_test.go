package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/cmd/bench"
)

func TestBenchAgainstALocalStack(t *testing.T) {
	t.Parallel()
	st := startDemoStack(t)
	code, out, errOut := runCLI(t, "bench", "--url", st.WebSocketURL(), "--scenario", "echo", "--n", "5", "--connections", "2", "--json")
	require.Equal(t, exitOK, code, errOut)
	var rep bench.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Results, 1)
	require.Empty(t, rep.Results[0].Error)
	require.Equal(t, 5, rep.Results[0].Latencies[0].N)
	require.Contains(t, errOut, "echo", "the progress bar goes to stderr")

	code, out, _ = runCLI(t, "bench", "--url", st.WebSocketURL(), "--scenario", "echo", "--n", "3", "--connections", "1")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "== echo")
}

func TestBenchRefusesBadTargets(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCLI(t, "bench", "--url", "wss://abc.execute-api.us-east-1.amazonaws.com/prod", "--scenario", "echo")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--allow-remote")
	code, _, errOut = runCLI(t, "bench", "--scenario", "nope")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `unknown scenario "nope"`)
	code, _, _ = runCLI(t, "bench", "extra")
	require.Equal(t, exitUsage, code)
}
