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

// ReportRequest is the payload of generate_report.
type ReportRequest struct {
	StartDate string `json:"start_date"` // YYYY-MM-DD, required
	EndDate   string `json:"end_date"`   // YYYY-MM-DD, required, not before StartDate
}

// Validate checks both dates, their order and the length of the period.
func (p ReportRequest) Validate() error {
	_, _, err := p.period()
	return err
}

// period returns the first and last day of the report.
func (p ReportRequest) period() (start, end time.Time, err error) {
	if p.StartDate == "" || p.EndDate == "" {
		return start, end, streamer.InvalidField("payload", "start_date and end_date required")
	}
	if start, err = time.Parse(dateLayout, p.StartDate); err != nil {
		return start, end, streamer.InvalidField("start_date", "start_date must be a date as YYYY-MM-DD")
	}
	if end, err = time.Parse(dateLayout, p.EndDate); err != nil {
		return start, end, streamer.InvalidField("end_date", "end_date must be a date as YYYY-MM-DD")
	}
	if end.Before(start) {
		return start, end, streamer.InvalidField("end_date", "end_date must not be before start_date")
	}
	if days := int(end.Sub(start).Hours()/24) + 1; days > MaxReportDays {
		return start, end, streamer.NewErrorWithDetails(streamer.ErrCodeValidation,
			fmt.Sprintf("the period covers %d days; at most %d are allowed", days, MaxReportDays),
			map[string]any{"field": "end_date", "max_days": MaxReportDays})
	}
	return start, end, nil
}

// Report is the result of generate_report.
type Report struct {
	Days        int          `json:"days"`
	EndDate     string       `json:"end_date"`
	GeneratedAt string       `json:"generated_at"` // RFC 3339, UTC
	Pages       int          `json:"pages"`
	Rows        []ReportRow  `json:"rows"`
	SizeBytes   int          `json:"size_bytes"` // of the rendered rows and totals
	StartDate   string       `json:"start_date"`
	Totals      ReportTotals `json:"totals"`
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

// GenerateReport builds a daily report over a period: one row of synthetic, deterministic
// figures per day, totals and pagination. Register its Run as an async action: it
// reports progress at 10, 30, 60 and 90 %.
type GenerateReport struct {
	// StepDelay is the time each step takes. Default DefaultReportStepDelay.
	StepDelay time.Duration
	// Now stamps generated_at. Default time.Now.
	Now func() time.Time
}

// Run builds the report, reporting progress at each of its four steps.
func (g *GenerateReport) Run(ctx context.Context, job *streamer.Job[ReportRequest]) (Report, error) {
	r := buildReport(job.Payload, g.now())
	for _, s := range r.steps() {
		if err := sleep(ctx, cmp.Or(g.StepDelay, DefaultReportStepDelay)); err != nil {
			return Report{}, err
		}
		_ = job.Report(s.percentage, s.message, s.details) // progress never fails the report
	}
	return r, nil
}

// step is one stage of building a report, as its progress tells it.
type step struct {
	percentage float64
	message    string
	details    map[string]any
}

// steps are the stages of building r.
func (r Report) steps() []step {
	return []step{
		{10, "Loading daily figures", map[string]any{"days": r.Days}},
		{30, "Computing totals", nil},
		{60, "Laying out pages", map[string]any{"pages": r.Pages}},
		{90, "Rendering report", map[string]any{"size_bytes": r.SizeBytes}},
	}
}

func (g *GenerateReport) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// buildReport computes the report of a validated payload.
func buildReport(p ReportRequest, now time.Time) Report {
	start, end, _ := p.period() // validated before the run
	r := Report{StartDate: p.StartDate, EndDate: p.EndDate, GeneratedAt: now.UTC().Format(time.RFC3339)}
	r.Rows = dailyRows(start, end)
	r.Days = len(r.Rows)
	r.Totals = totals(r.Rows)
	r.Pages = (len(r.Rows) + ReportRowsPerPage - 1) / ReportRowsPerPage
	r.SizeBytes = renderedSize(r)
	return r
}

// dailyRows returns one row per day from start to end.
func dailyRows(start, end time.Time) []ReportRow {
	rows := make([]ReportRow, 0, int(end.Sub(start).Hours()/24)+1)
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		rows = append(rows, syntheticRow(d))
	}
	return rows
}

// totals sums the rows.
func totals(rows []ReportRow) ReportTotals {
	var t ReportTotals
	for _, r := range rows {
		t.Orders += r.Orders
		t.Revenue += r.Revenue
		t.Refunds += r.Refunds
		t.NewSignups += r.NewSignups
	}
	t.Revenue = round2(t.Revenue)
	if t.Orders > 0 {
		t.AverageOrderValue = round2(t.Revenue / float64(t.Orders))
	}
	return t
}

// renderedSize is the size of the report's rows and totals as JSON.
func renderedSize(r Report) int {
	body, _ := json.Marshal(struct { // rows and totals of numbers and dates always encode
		Rows   []ReportRow  `json:"rows"`
		Totals ReportTotals `json:"totals"`
	}{r.Rows, r.Totals})
	return len(body)
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
