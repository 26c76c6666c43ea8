package demo_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/streamer"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

func request(id, payload string) *streamer.Request {
	return &streamer.Request{ID: id, Action: "test", Payload: json.RawMessage(payload)}
}

// requireValidationError asserts err is a VALIDATION_ERROR about field.
func requireValidationError(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	se := streamer.AsError(err)
	require.Equal(t, streamer.ErrCodeValidation, se.Code, err.Error())
	if field != "" {
		require.Equal(t, field, se.Details["field"], err.Error())
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler streamer.Handler
		payload string
		field   string // "" when the payload is valid
	}{
		{"echo object", demo.Echo{}, `{"a":1}`, ""},
		{"echo string", demo.Echo{}, `"hi"`, ""},
		{"echo empty", demo.Echo{}, ``, "payload"},
		{"echo null", demo.Echo{}, `null`, "payload"},
		{"health without payload", demo.Health{}, ``, ""},
		{"report ok", &demo.GenerateReport{}, `{"start_date":"2026-01-01","end_date":"2026-01-31"}`, ""},
		{"report one day", &demo.GenerateReport{}, `{"start_date":"2026-02-28","end_date":"2026-02-28"}`, ""},
		{"report leap year", &demo.GenerateReport{}, `{"start_date":"2024-01-01","end_date":"2024-12-31"}`, ""},
		{"report no payload", &demo.GenerateReport{}, ``, "payload"},
		{"report missing end", &demo.GenerateReport{}, `{"start_date":"2026-01-01"}`, "payload"},
		{"report missing start", &demo.GenerateReport{}, `{"end_date":"2026-01-01"}`, "payload"},
		{"report bad start", &demo.GenerateReport{}, `{"start_date":"01/01/2026","end_date":"2026-01-31"}`, "start_date"},
		{"report impossible date", &demo.GenerateReport{}, `{"start_date":"2026-01-01","end_date":"2026-02-30"}`, "end_date"},
		{"report reversed", &demo.GenerateReport{}, `{"start_date":"2026-02-01","end_date":"2026-01-31"}`, "end_date"},
		{"report 367 days", &demo.GenerateReport{}, `{"start_date":"2024-01-01","end_date":"2025-01-01"}`, "end_date"},
		{"report wrong types", &demo.GenerateReport{}, `{"start_date":20260101,"end_date":"2026-01-31"}`, "payload"},
		{"process ok", demo.ProcessData{}, `{"items":10000,"item_ms":10000,"result_kb":300}`, ""},
		{"process minimal", demo.ProcessData{}, `{"items":1,"item_ms":0}`, ""},
		{"process no items", demo.ProcessData{}, `{"item_ms":5}`, "items"},
		{"process too many items", demo.ProcessData{}, `{"items":10001,"item_ms":1}`, "items"},
		{"process negative item_ms", demo.ProcessData{}, `{"items":1,"item_ms":-1}`, "item_ms"},
		{"process slow items", demo.ProcessData{}, `{"items":1,"item_ms":10001}`, "item_ms"},
		{"process huge result", demo.ProcessData{}, `{"items":1,"item_ms":0,"result_kb":301}`, "result_kb"},
		{"process not an object", demo.ProcessData{}, `[1,2]`, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.handler.Validate(request("v-1", tt.payload))
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			requireValidationError(t, err, tt.field)
		})
	}
}

func TestSyncHandlers(t *testing.T) {
	t.Parallel()
	res, err := demo.Echo{}.Process(context.Background(), request("e-1", `{"hello":["world"]}`))
	require.NoError(t, err)
	require.True(t, res.Success)
	out, err := json.Marshal(res.Data)
	require.NoError(t, err)
	require.JSONEq(t, `{"hello":["world"]}`, string(out))

	res, err = demo.Health{Version: "v1.2.3"}.Process(context.Background(), request("h-1", ``))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"status": "ok", "version": "v1.2.3"}, res.Data)
	require.Less(t, demo.Echo{}.EstimatedDuration(), 5*time.Second)
	require.NotEmpty(t, demo.BuildVersion())
}

// run executes h asynchronously as the worker would: with the coalescing reporter
// sending to streamertest's progress mock (a short push interval, so each step shows).
func run(t *testing.T, ctx context.Context, h streamer.HandlerWithProgress, req *streamer.Request) (*streamer.Result, []streamertest.Message, error) {
	t.Helper()
	mock := streamertest.NewProgressReporterMock()
	reporter := progress.New(ctx, req.ID, "conn-1", mock, progress.Options{Interval: time.Millisecond})
	t.Cleanup(reporter.Close)
	res, err := h.ProcessWithProgress(ctx, req, reporter)
	return res, mock.GetMessages("conn-1"), err
}

func TestGenerateReport(t *testing.T) {
	t.Parallel()
	generatedAt := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	h := &demo.GenerateReport{StepDelay: 5 * time.Millisecond, Now: func() time.Time { return generatedAt }}
	require.Greater(t, h.EstimatedDuration(), 5*time.Second, "queued, not run on the route")
	payload := `{"start_date":"2026-01-01","end_date":"2026-02-15"}`
	res, msgs, err := run(t, context.Background(), h, request("r-42", payload))
	require.NoError(t, err)
	require.True(t, res.Success)

	var percentages []float64
	for _, m := range msgs[:len(msgs)-1] {
		require.Equal(t, "progress", m.Type)
		require.Equal(t, "r-42", m.RequestID)
		percentages = append(percentages, m.Fields["percentage"].(float64))
	}
	require.Equal(t, []float64{10, 30, 60, 90}, percentages)
	require.Equal(t, "result", msgs[len(msgs)-1].Type)

	data := res.Data.(map[string]any)
	rows := data["rows"].([]demo.ReportRow)
	require.Len(t, rows, 46)
	require.Equal(t, "2026-01-01", rows[0].Date)
	require.Equal(t, "2026-02-15", rows[45].Date)
	require.Equal(t, 46, data["days"])
	require.Equal(t, 2, data["pages"])
	require.Equal(t, "2026-11-27T10:00:00Z", data["generated_at"])
	require.Greater(t, data["size_bytes"].(int), 46*50)
	totals := data["totals"].(demo.ReportTotals)
	sum := 0
	for _, r := range rows {
		require.Positive(t, r.Orders)
		require.Positive(t, r.Revenue)
		sum += r.Orders
	}
	require.Equal(t, sum, totals.Orders)

	// Same period, same figures.
	again, err := (&demo.GenerateReport{StepDelay: time.Millisecond}).Process(context.Background(), request("r-43", payload))
	require.NoError(t, err)
	require.Equal(t, rows, again.Data.(map[string]any)["rows"])
}

func TestGenerateReportHonoursCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, msgs, err := run(t, ctx, &demo.GenerateReport{}, request("r-1", `{"start_date":"2026-01-01","end_date":"2026-12-31"}`))
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, msgs)
}

func TestProcessData(t *testing.T) {
	t.Parallel()
	res, msgs, err := run(t, context.Background(), demo.ProcessData{}, request("p-1", `{"items":40,"item_ms":1}`))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"items_processed": 40}, res.Data)

	last := -1.0
	for _, m := range msgs[:len(msgs)-1] {
		require.Equal(t, "progress", m.Type)
		pct := m.Fields["percentage"].(float64)
		require.GreaterOrEqual(t, pct, last, "percentages never go down")
		last = pct
		meta := m.Fields["metadata"].(map[string]any)
		require.Equal(t, float64(40), meta["items_total"])
		require.Equal(t, pct*40/100, meta["items_processed"])
	}
	require.Equal(t, 100.0, last, "the final state is delivered")
	require.Equal(t, "result", msgs[len(msgs)-1].Type)
}

func TestProcessDataLargeResult(t *testing.T) {
	t.Parallel()
	res, err := demo.ProcessData{}.Process(context.Background(), request("p-2", `{"items":3,"item_ms":0,"result_kb":300}`))
	require.NoError(t, err)
	out, err := json.Marshal(res.Data)
	require.NoError(t, err)
	require.InDelta(t, 300*1024, len(out), 1024)
}

func TestProcessDataHonoursCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := run(t, ctx, demo.ProcessData{}, request("p-3", `{"items":10000,"item_ms":10000}`))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second, "stops mid-item, not after 10 s")
}

func TestRegister(t *testing.T) {
	t.Parallel()
	app := lambdas.New()
	require.NoError(t, demo.Register(app))
	require.ErrorIs(t, demo.Register(app), streamer.ErrDuplicateAction)

	router := streamer.NewRouter(nil, nil)
	require.NoError(t, demo.Register(router))
	for _, action := range []string{demo.ActionEcho, demo.ActionHealth, demo.ActionGenerateReport, demo.ActionProcessData} {
		h, ok := router.Lookup(action)
		require.True(t, ok, action)
		_, async := h.(streamer.HandlerWithProgress)
		require.Equal(t, strings.HasPrefix(action, "generate") || strings.HasPrefix(action, "process"), async, action)
	}
}
