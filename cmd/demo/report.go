package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// Limits and defaults of generate_report.
const (
	// MaxReportDays is the longest period a report covers.
	MaxReportDays = 366
	// ReportRowsPerPage is how many daily rows fit on one page of the report.
	ReportRowsPerPage = 31
	// DefaultReportStepDelay is the time each of the four steps takes, so the demo
	// shows a moving progress bar; a report takes about 2 s.
	DefaultReportStepDelay = 500 * time.Millisecond
	// dateLayout is the payload's date format (YYYY-MM-DD).
	dateLayout = time.DateOnly
)

// GenerateReport builds a daily report over a period: one row of synthetic, deterministic
// figures per day, totals and pagination. It runs asynchronously (estimated 2 minutes, a
// typical real report) with progress at 10, 30, 60 and 90 %.
type GenerateReport struct {
	// StepDelay is the time each step takes. Default DefaultReportStepDelay.
	StepDelay time.Duration
	// Now stamps generated_at. Default time.Now.
	Now func() time.Time
}

var _ streamer.HandlerWithProgress = (*GenerateReport)(nil)

// ReportRequest is the payload of generate_report.
type ReportRequest struct {
	StartDate string `json:"start_date"` // YYYY-MM-DD, required
	EndDate   string `json:"end_date"`   // YYYY-MM-DD, required, not before StartDate
}

// ReportRow is one day of the report.
type ReportRow struct {
	Date       string  `json:"date"`
	Orders     int     `json:"orders"`
	Revenue    float64 `json:"revenue"`
	Refunds    int     `json:"refunds"`
	NewSignups int     `json:"new_signups"`
}

// ReportTotals sums the rows.
type ReportTotals struct {
	Orders            int     `json:"orders"`
	Revenue           float64 `json:"revenue"`
	Refunds           int     `json:"refunds"`
	NewSignups        int     `json:"new_signups"`
	AverageOrderValue float64 `json:"average_order_value"`
}

// EstimatedDuration is 2 minutes: the request is queued and runs with progress.
func (g *GenerateReport) EstimatedDuration() time.Duration { return 2 * time.Minute }

// Validate checks both dates, their order and the length of the period.
func (g *GenerateReport) Validate(req *streamer.Request) error {
	_, _, err := parsePeriod(req)
	return err
}

// Process builds the report without progress (when the router runs it synchronously).
func (g *GenerateReport) Process(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	return g.ProcessWithProgress(ctx, req, nopReporter{requestID: req.ID})
}

// ProcessWithProgress builds the report in four steps, reporting progress after each.
func (g *GenerateReport) ProcessWithProgress(ctx context.Context, req *streamer.Request, reporter streamer.Reporter) (*streamer.Result, error) {
	start, end, err := parsePeriod(req)
	if err != nil {
		return nil, err
	}
	delay := cmp.Or(g.StepDelay, DefaultReportStepDelay)
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}

	step := func(pct float64, msg string, details map[string]any) error {
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		return reporter.Report(pct, msg, details)
	}

	days := int(end.Sub(start).Hours()/24) + 1
	rows := make([]ReportRow, 0, days)
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		rows = append(rows, syntheticRow(d))
	}
	if err := step(10, "Loading daily figures", map[string]any{"days": days}); err != nil {
		return nil, err
	}

	var totals ReportTotals
	for _, r := range rows {
		totals.Orders += r.Orders
		totals.Revenue += r.Revenue
		totals.Refunds += r.Refunds
		totals.NewSignups += r.NewSignups
	}
	totals.Revenue = round2(totals.Revenue)
	if totals.Orders > 0 {
		totals.AverageOrderValue = round2(totals.Revenue / float64(totals.Orders))
	}
	if err := step(30, "Computing totals", nil); err != nil {
		return nil, err
	}

	pages := (len(rows) + ReportRowsPerPage - 1) / ReportRowsPerPage
	if err := step(60, "Laying out pages", map[string]any{"pages": pages}); err != nil {
		return nil, err
	}

	body, err := json.Marshal(struct {
		Rows   []ReportRow  `json:"rows"`
		Totals ReportTotals `json:"totals"`
	}{rows, totals})
	if err != nil {
		return nil, fmt.Errorf("demo: encode report: %w", err)
	}
	if err := step(90, "Rendering report", map[string]any{"size_bytes": len(body)}); err != nil {
		return nil, err
	}

	return reporter.Complete(map[string]any{
		"start_date":   start.Format(dateLayout),
		"end_date":     end.Format(dateLayout),
		"days":         days,
		"rows":         rows,
		"totals":       totals,
		"pages":        pages,
		"size_bytes":   len(body),
		"generated_at": now().UTC().Format(time.RFC3339),
	})
}

// parsePeriod validates the payload of generate_report.
func parsePeriod(req *streamer.Request) (start, end time.Time, err error) {
	var p ReportRequest
	if err := req.UnmarshalPayload(&p); err != nil {
		return start, end, err
	}
	if p.StartDate == "" || p.EndDate == "" {
		return start, end, streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "start_date and end_date required", map[string]any{"field": "payload"})
	}
	if start, err = time.Parse(dateLayout, p.StartDate); err != nil {
		return start, end, invalidField("start_date", "start_date must be a date as YYYY-MM-DD")
	}
	if end, err = time.Parse(dateLayout, p.EndDate); err != nil {
		return start, end, invalidField("end_date", "end_date must be a date as YYYY-MM-DD")
	}
	if end.Before(start) {
		return start, end, invalidField("end_date", "end_date must not be before start_date")
	}
	if days := int(end.Sub(start).Hours()/24) + 1; days > MaxReportDays {
		return start, end, streamer.NewErrorWithDetails(streamer.ErrCodeValidation,
			fmt.Sprintf("the period covers %d days; at most %d are allowed", days, MaxReportDays),
			map[string]any{"field": "end_date", "max_days": MaxReportDays})
	}
	return start, end, nil
}

// syntheticRow derives a day's figures from its date alone, so the same period always
// gives the same report.
func syntheticRow(day time.Time) ReportRow {
	h := fnv.New64a()
	h.Write([]byte(day.Format(dateLayout)))
	seed := h.Sum64()
	weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
	orders := 120 + int(seed%80)
	if weekend {
		orders = orders * 3 / 5
	}
	basket := 25 + float64((seed>>8)%5000)/100 // 25.00 .. 74.99
	return ReportRow{
		Date:       day.Format(dateLayout),
		Orders:     orders,
		Revenue:    round2(float64(orders) * basket),
		Refunds:    int((seed >> 24) % 7),
		NewSignups: 10 + int((seed>>32)%40),
	}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func invalidField(field, msg string) error {
	return streamer.NewErrorWithDetails(streamer.ErrCodeValidation, msg, map[string]any{"field": field})
}
