package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// Limits of process_data's payload.
const (
	MaxItems    = 10000
	MaxItemMS   = 10000
	MaxResultKB = 300
)

// ProcessData simulates batch work: it spends item_ms on each of items, reporting
// progress with items_processed and items_total, and stops at once when its context is
// cancelled (streamer.cancel, or the worker running out of time). result_kb pads the
// result to about that many KiB, to exercise results over the 128 KiB message limit.
type ProcessData struct{}

var _ streamer.HandlerWithProgress = ProcessData{}

// ProcessDataRequest is the payload of process_data.
type ProcessDataRequest struct {
	Items    int `json:"items"`     // 1..MaxItems
	ItemMS   int `json:"item_ms"`   // 0..MaxItemMS
	ResultKB int `json:"result_kb"` // 0..MaxResultKB, optional
}

// EstimatedDuration is a minute: process_data is always queued.
func (ProcessData) EstimatedDuration() time.Duration { return time.Minute }

// Validate checks the ranges of the payload.
func (ProcessData) Validate(req *streamer.Request) error {
	_, err := parseProcessData(req)
	return err
}

// Process runs without progress (when the router runs it synchronously).
func (p ProcessData) Process(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	return p.ProcessWithProgress(ctx, req, nopReporter{requestID: req.ID})
}

// ProcessWithProgress processes the items one by one. Progress is reported after every
// item; the reporter coalesces it to what the protocol allows.
func (ProcessData) ProcessWithProgress(ctx context.Context, req *streamer.Request, reporter streamer.Reporter) (*streamer.Result, error) {
	p, err := parseProcessData(req)
	if err != nil {
		return nil, err
	}
	itemTime := time.Duration(p.ItemMS) * time.Millisecond
	for i := 1; i <= p.Items; i++ {
		if err := sleep(ctx, itemTime); err != nil {
			return nil, err
		}
		pct := float64(i) * 100 / float64(p.Items)
		if err := reporter.Report(pct, fmt.Sprintf("Processed %d of %d items", i, p.Items),
			map[string]any{"items_processed": i, "items_total": p.Items}); err != nil {
			return nil, err
		}
	}
	result := map[string]any{"items_processed": p.Items}
	if p.ResultKB > 0 {
		result["padding"] = strings.Repeat("0123456789abcdef", p.ResultKB*1024/16)
	}
	return reporter.Complete(result)
}

func parseProcessData(req *streamer.Request) (ProcessDataRequest, error) {
	var p ProcessDataRequest
	if err := req.UnmarshalPayload(&p); err != nil {
		return p, err
	}
	switch {
	case p.Items < 1 || p.Items > MaxItems:
		return p, invalidField("items", fmt.Sprintf("items must be between 1 and %d", MaxItems))
	case p.ItemMS < 0 || p.ItemMS > MaxItemMS:
		return p, invalidField("item_ms", fmt.Sprintf("item_ms must be between 0 and %d", MaxItemMS))
	case p.ResultKB < 0 || p.ResultKB > MaxResultKB:
		return p, invalidField("result_kb", fmt.Sprintf("result_kb must be between 0 and %d", MaxResultKB))
	}
	return p, nil
}
