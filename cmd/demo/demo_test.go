package demo_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/streamer"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// registry returns the demo actions, registered as Register does.
func registry(t *testing.T) *streamer.Registry {
	t.Helper()
	reg := streamer.NewRegistry()
	require.NoError(t, demo.Register(reg))
	return reg
}

// handler returns the demo action registered under name.
func handler(t *testing.T, name string) streamer.Handler {
	t.Helper()
	h, ok := registry(t).Lookup(name)
	require.True(t, ok, name)
	return h
}

func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		action  string
		payload string
		field   string // "" when the payload is valid
	}{
		{"echo object", demo.ActionEcho, `{"a":1}`, ""},
		{"echo string", demo.ActionEcho, `"hi"`, ""},
		{"echo empty", demo.ActionEcho, ``, "payload"},
		{"echo null", demo.ActionEcho, `null`, "payload"},
		{"health without payload", demo.ActionHealth, ``, ""},
		{"health with any payload", demo.ActionHealth, `{"x":[1]}`, ""},
		{"report ok", demo.ActionGenerateReport, `{"start_date":"2026-01-01","end_date":"2026-01-31"}`, ""},
		{"report one day", demo.ActionGenerateReport, `{"start_date":"2026-02-28","end_date":"2026-02-28"}`, ""},
		{"report leap year", demo.ActionGenerateReport, `{"start_date":"2024-01-01","end_date":"2024-12-31"}`, ""},
		{"report no payload", demo.ActionGenerateReport, ``, "payload"},
		{"report missing end", demo.ActionGenerateReport, `{"start_date":"2026-01-01"}`, "payload"},
		{"report missing start", demo.ActionGenerateReport, `{"end_date":"2026-01-01"}`, "payload"},
		{"report bad start", demo.ActionGenerateReport, `{"start_date":"01/01/2026","end_date":"2026-01-31"}`, "start_date"},
		{"report impossible date", demo.ActionGenerateReport, `{"start_date":"2026-01-01","end_date":"2026-02-30"}`, "end_date"},
		{"report reversed", demo.ActionGenerateReport, `{"start_date":"2026-02-01","end_date":"2026-01-31"}`, "end_date"},
		{"report 367 days", demo.ActionGenerateReport, `{"start_date":"2024-01-01","end_date":"2025-01-01"}`, "end_date"},
		{"report wrong types", demo.ActionGenerateReport, `{"start_date":20260101,"end_date":"2026-01-31"}`, "start_date"},
		{"report unknown field", demo.ActionGenerateReport, `{"start_date":"2026-01-01","end_date":"2026-01-31","format":"pdf"}`, "format"},
		{"process minimal", demo.ActionProcessData, `{"items":1,"item_ms":0}`, ""},
		{"process no items", demo.ActionProcessData, `{"item_ms":5}`, "items"},
		{"process too many items", demo.ActionProcessData, `{"items":10001,"item_ms":1}`, "items"},
		{"process negative item_ms", demo.ActionProcessData, `{"items":1,"item_ms":-1}`, "item_ms"},
		{"process slow items", demo.ActionProcessData, `{"items":1,"item_ms":10001}`, "item_ms"},
		{"process huge result", demo.ActionProcessData, `{"items":1,"item_ms":0,"result_kb":301}`, "result_kb"},
		{"process 28 hours", demo.ActionProcessData, `{"items":10000,"item_ms":10000}`, "payload"},
		{"process 10 minutes", demo.ActionProcessData, `{"items":6000,"item_ms":100}`, ""},
		{"process 10 minutes and 100 ms", demo.ActionProcessData, `{"items":6001,"item_ms":100}`, "payload"},
		{"process not an object", demo.ActionProcessData, `[1,2]`, "payload"},
		{"long job ok", demo.ActionLongJob, `{"steps":3,"step_ms":0}`, ""},
		{"long job no steps", demo.ActionLongJob, `{"step_ms":10}`, "steps"},
		{"long job slow steps", demo.ActionLongJob, `{"steps":1,"step_ms":60001}`, "step_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := handler(t, tt.action)
			err := h.Validate(&streamer.Request{ID: "v-1", Action: tt.action, Payload: json.RawMessage(tt.payload)})
			if tt.action == demo.ActionEcho && err == nil { // echo refuses an empty payload when it runs
				_, err = h.Process(t.Context(), &streamer.Request{ID: "v-1", Action: tt.action, Payload: json.RawMessage(tt.payload)})
			}
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			se := streamer.AsError(err)
			require.Equal(t, streamer.ErrCodeValidation, se.Code, err.Error())
			require.Equal(t, tt.field, se.Details["field"], err.Error())
		})
	}
}

func TestSyncActions(t *testing.T) {
	t.Parallel()
	out := streamertest.Run(t, handler(t, demo.ActionEcho), json.RawMessage(`{"hello":["world"]}`), streamertest.WithAction(demo.ActionEcho))
	require.False(t, out.Async)
	var echoed map[string]any
	require.NoError(t, out.DecodeResult(&echoed))
	require.Equal(t, map[string]any{"hello": []any{"world"}}, echoed)

	out = streamertest.Run(t, handler(t, demo.ActionEcho), nil)
	require.Equal(t, streamer.ErrCodeValidation, out.Err().Code)

	out = streamertest.Run(t, streamer.Sync(demo.Health{Version: "v1.2.3"}.Run), nil)
	var health demo.HealthStatus
	require.NoError(t, out.DecodeResult(&health))
	require.Equal(t, demo.HealthStatus{Status: "ok", Version: "v1.2.3"}, health)
	require.NotEmpty(t, demo.BuildVersion())
}

func TestGenerateReport(t *testing.T) {
	t.Parallel()
	generatedAt := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	g := &demo.GenerateReport{StepDelay: 5 * time.Millisecond, Now: func() time.Time { return generatedAt }}
	payload := demo.ReportRequest{StartDate: "2026-01-01", EndDate: "2026-02-15"}
	out := streamertest.Run(t, streamer.Async(g.Run), payload, streamertest.WithProgressInterval(time.Millisecond))
	require.True(t, out.Async, "queued, not run on the route")

	var percentages []float64
	for _, p := range out.Progress {
		percentages = append(percentages, p.Percentage)
	}
	require.Equal(t, []float64{10, 30, 60, 90}, percentages)
	var report demo.Report
	require.NoError(t, out.DecodeResult(&report))
	require.Len(t, report.Rows, 46)
	require.Equal(t, "2026-01-01", report.Rows[0].Date)
	require.Equal(t, "2026-02-15", report.Rows[45].Date)
	require.Equal(t, 46, report.Days)
	require.Equal(t, 2, report.Pages)
	require.Equal(t, "2026-11-27T10:00:00Z", report.GeneratedAt)
	require.Greater(t, report.SizeBytes, 46*50)
	sum := 0
	for _, r := range report.Rows {
		require.Positive(t, r.Orders)
		require.Positive(t, r.Revenue)
		sum += r.Orders
	}
	require.Equal(t, sum, report.Totals.Orders)

	// Same period, same figures.
	again, err := (&demo.GenerateReport{StepDelay: time.Millisecond}).Run(t.Context(), &streamer.Job[demo.ReportRequest]{Payload: payload})
	require.NoError(t, err)
	require.Equal(t, report.Rows, again.Rows)
}

func TestGenerateReportHonoursCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := (&demo.GenerateReport{}).Run(ctx, &streamer.Job[demo.ReportRequest]{Payload: demo.ReportRequest{StartDate: "2026-01-01", EndDate: "2026-12-31"}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestProcessData(t *testing.T) {
	t.Parallel()
	out := streamertest.Run(t, handler(t, demo.ActionProcessData), demo.ProcessDataRequest{Items: 40, ItemMS: 1},
		streamertest.WithProgressInterval(time.Millisecond))
	var res demo.ProcessDataResult
	require.NoError(t, out.DecodeResult(&res))
	require.Equal(t, demo.ProcessDataResult{ItemsProcessed: 40}, res)
	require.NotEmpty(t, out.Progress)
	for _, p := range out.Progress {
		require.Equal(t, float64(40), p.Metadata["items_total"])
		require.Equal(t, p.Percentage*40/100, p.Metadata["items_processed"])
	}
	require.Equal(t, 100.0, out.Progress[len(out.Progress)-1].Percentage, "the final state is delivered")
}

func TestProcessDataLargeResult(t *testing.T) {
	t.Parallel()
	out := streamertest.Run(t, handler(t, demo.ActionProcessData), demo.ProcessDataRequest{Items: 3, ResultKB: 300})
	var res demo.ProcessDataResult
	require.NoError(t, out.DecodeResult(&res), "the parts of a result over 128 KiB are reassembled")
	require.InDelta(t, 300*1024, len(res.Padding), 1024)
}

func TestProcessDataHonoursCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := demo.ProcessData(ctx, &streamer.Job[demo.ProcessDataRequest]{Payload: demo.ProcessDataRequest{Items: 10000, ItemMS: 10000}})
	require.ErrorIs(t, err, context.DeadlineExceeded, "stops mid-item")
}

func TestRegister(t *testing.T) {
	t.Parallel()
	app := lambdas.New()
	require.NoError(t, demo.Register(app))
	require.ErrorIs(t, demo.Register(app), streamer.ErrDuplicateAction)
	reg := registry(t)
	require.Equal(t, []string{demo.ActionEcho, demo.ActionGenerateReport, demo.ActionHealth, demo.ActionLongJob, demo.ActionProcessData}, reg.Actions())
	for action, async := range map[string]bool{demo.ActionEcho: false, demo.ActionHealth: false, demo.ActionGenerateReport: true, demo.ActionProcessData: true, demo.ActionLongJob: true} {
		h, _ := reg.Lookup(action)
		require.Equal(t, async, streamer.RunsAsync(h, time.Hour), action)
	}
}

func TestLongJobRunsPastTheWorkerTimeout(t *testing.T) {
	t.Parallel()
	// 3 s of steps in one-second worker invocations: one request, several runs.
	out := streamertest.Run(t, handler(t, demo.ActionLongJob), demo.LongJobRequest{Steps: 30, StepMS: 100},
		streamertest.WithAction(demo.ActionLongJob), streamertest.WithTimeout(time.Second))
	var res demo.LongJobResult
	require.NoError(t, out.DecodeResult(&res))
	require.Equal(t, 30, res.Steps)
	require.GreaterOrEqual(t, res.Runs, 3)
	runs := map[float64]bool{}
	for _, p := range out.Progress {
		run, ok := p.Metadata["run"].(float64)
		require.True(t, ok, "every progress message says its run, a continuation's first too: %v", p)
		runs[run] = true
	}
	require.Len(t, runs, res.Runs, "every run reported progress, on the same request")
	require.Equal(t, 100.0, out.Progress[len(out.Progress)-1].Percentage)

	// Without a deadline it is one run.
	res, err := demo.LongJob(t.Context(), &streamer.Job[demo.LongJobRequest]{Payload: demo.LongJobRequest{Steps: 3}})
	require.NoError(t, err)
	require.Equal(t, demo.LongJobResult{Steps: 3, Runs: 1}, res)
}
