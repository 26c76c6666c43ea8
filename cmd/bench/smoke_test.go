package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runSmoke runs scenarios with tiny counts against an in-process local stack and checks
// that each produced its figures without an error. No timing is asserted.
func runSmoke(t *testing.T, scenarios ...string) *Report {
	t.Helper()
	return runSmokeWith(t, Options{Scenarios: scenarios})
}

// runSmokeWith is runSmoke with more options.
func runSmokeWith(t *testing.T, opts Options) *Report {
	t.Helper()
	var progress bytes.Buffer
	scenarios := opts.Scenarios
	opts.N, opts.Connections, opts.Jobs = 4, 3, 3
	opts.DurationLimit, opts.Progress = time.Minute, Progress{W: &progress, Terminal: true}
	rep, err := Run(t.Context(), opts)
	require.NoError(t, err)
	require.Len(t, rep.Results, len(scenarios))
	for i, res := range rep.Results {
		require.Equal(t, scenarios[i], res.Scenario)
		require.Empty(t, res.Error, "scenario %s", res.Scenario)
	}
	require.Contains(t, progress.String(), "[", "a progress bar was drawn")

	var table, js bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.NoError(t, rep.WriteJSON(&js))
	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, len(rep.Results), len(back.Results))
	for _, s := range scenarios {
		require.Contains(t, table.String(), "== "+s)
	}
	return rep
}

func latency(t *testing.T, res Result, name string) Summary {
	t.Helper()
	for _, l := range res.Latencies {
		if l.Name == name {
			return l.Summary
		}
	}
	require.Failf(t, "no latency", "%q in %+v", name, res.Latencies)
	return Summary{}
}

func TestSmokeEchoAndAsync(t *testing.T) {
	t.Parallel()
	rep := runSmoke(t, ScenarioEcho, ScenarioAsync)
	echo := latency(t, rep.Results[0], "echo round trip, 3 connections")
	require.Equal(t, 4, echo.N)
	require.Zero(t, echo.Errors)
	// Direct dispatch and the stream alone, side by side.
	for _, path := range []string{"direct dispatch: ", "stream only: "} {
		require.Equal(t, 4, latency(t, rep.Results[1], path+"completion").N, path)
		require.Equal(t, 4, latency(t, rep.Results[1], path+"ack").N, "every async request was acknowledged")
		require.Equal(t, 4, latency(t, rep.Results[1], path+"first progress").N, "every async request reported progress")
	}
	require.Len(t, rep.Results[1].Figures, 6)
	require.NotNil(t, rep.Results[1].Figures[0].Met, "held against the goal")
}

func TestSmokeAsyncAWSModel(t *testing.T) {
	t.Parallel()
	rep := runSmokeWith(t, Options{Scenarios: []string{ScenarioAsync}, AWSModel: true})
	res := rep.Results[0]
	model := AWSModel()
	// Lower bounds only: the model adds at least its delays.
	require.GreaterOrEqual(t, latency(t, res, "direct dispatch: ack").P50MS, ms(2*model.APIGateway+model.DynamoDB+model.InvokeCall))
	require.GreaterOrEqual(t, latency(t, res, "stream only: first progress").P50MS, ms(model.StreamPropagation+model.AsyncStart))
	require.Nil(t, res.Figures[0].Met, "the local goals do not apply to the model's figures")
	require.Contains(t, res.Notes, awsModelNote())

	_, err := Run(t.Context(), Options{URL: "ws://127.0.0.1:1", AWSModel: true})
	require.ErrorIs(t, err, ErrInvalidOptions, "the model applies to the stacks the bench starts")
}

func TestSmokeFanoutAndConcurrency(t *testing.T) {
	t.Parallel()
	rep := runSmoke(t, ScenarioFanout, ScenarioConcurrency)
	require.Equal(t, 3, latency(t, rep.Results[0], "connect ($connect + authorizer), 3 connections").N)
	require.Equal(t, 3, latency(t, rep.Results[0], "job completion").N)
	require.Equal(t, 3, latency(t, rep.Results[1], "job completion").N)
	require.Len(t, rep.Results[1].Figures, 1)
}

func TestSmokeFloor(t *testing.T) {
	t.Parallel()
	rep := runSmoke(t, ScenarioFloor)
	res := rep.Results[0]
	require.Len(t, res.Latencies, 4)
	for _, l := range res.Latencies {
		require.Positive(t, l.N, l.Name)
		require.Zero(t, l.Errors, l.Name)
	}
	require.Len(t, res.Figures, 4)
}

func TestSmokeCost(t *testing.T) {
	t.Parallel()
	rep := runSmoke(t, ScenarioCost)
	res := rep.Results[0]
	require.Len(t, res.Cost, len(costCases())+1)
	byAction := map[string]ActionCost{}
	for _, c := range res.Cost {
		require.Positive(t, c.Requests, c.Action)
		require.Positive(t, c.PerMillion.Total, c.Action)
		byAction[c.Action] = c
	}
	echo := byAction["echo"].PerRequest
	require.Zero(t, echo.PostToConnection, "a sync reply is the route response")
	require.Zero(t, echo.DynamoDBWrites, "a sync request writes nothing")
	require.InDelta(t, 1, echo.Invocations["router"], 1e-9)

	chatty := byAction["process_data (1,000 reports)"].PerRequest
	require.Len(t, res.Figures, 4)
	// The 1,000 reports are coalesced: at most one progress write a second and five
	// pushes a second of the job's run time (about 2 s, longer on a loaded machine),
	// plus the fixed ones (enqueue, claim, finish; the result) and a few to spare.
	run := res.Figures[0]
	require.Contains(t, run.Name, "mean run time")
	require.Less(t, chatty.DynamoDBWrites, run.Value+10, "1,000 reports in %.1f s do not cost 1,000 writes", run.Value)
	require.Less(t, chatty.PostToConnection, 5*run.Value+10, "1,000 reports in %.1f s do not cost 1,000 posts", run.Value)
}

func TestSmokeDispatch(t *testing.T) {
	t.Parallel()
	rep := runSmoke(t, ScenarioDispatch)
	res := rep.Results[0]
	require.Equal(t, 3, latency(t, res, "dispatch: completion").N)
	require.Equal(t, 3, latency(t, res, "inline: completion").N, "inline runs min(M, 5) jobs")
	require.Len(t, res.Figures, 4)
}

// figureOf returns the figure named name of res.
func figureOf(t *testing.T, res Result, name string) Figure {
	t.Helper()
	for _, f := range res.Figures {
		if f.Name == name {
			return f
		}
	}
	require.Failf(t, "no figure", "%q in %+v", name, res.Figures)
	return Figure{}
}

// TestSmokeSoak runs a short soak (100 connections for a few seconds): every request
// ends with exactly one terminal message, and the user over its limit is refused while
// the others are not. No timing is asserted.
func TestSmokeSoak(t *testing.T) {
	t.Parallel()
	rep, err := Run(t.Context(), Options{Scenarios: []string{ScenarioSoak}, SoakConnections: 100, SoakDuration: 5 * time.Second})
	require.NoError(t, err)
	res := rep.Results[0]
	require.Empty(t, res.Error)
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	t.Log("\n" + table.String())
	require.Positive(t, figureOf(t, res, "requests sent").Value)
	for _, name := range []string{
		"lost terminal messages (a request without one)",
		"duplicated terminal messages",
		"messages that were not JSON",
		"other users: refused with RATE_LIMITED",
	} {
		require.Zero(t, figureOf(t, res, name).Value, name)
	}
	require.Positive(t, figureOf(t, res, "user over its limit: refused with RATE_LIMITED").Value)
	require.Positive(t, latency(t, res, "sync echo round trip").N)
	require.Positive(t, latency(t, res, "async completion (200 ms job)").N)
}
