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
	// MaxTotal bounds the work one request asks for (items x item_ms): each field's own
	// range allows 28 hours, which no worker invocation (15 minutes at most) could run,
	// and which would hold a worker and an in-flight slot for nothing. Work derived from a
	// payload is the handler's to bound; the limits count requests, not their size.
	MaxTotal = 10 * time.Minute
)

// ProcessDataRequest is the payload of process_data.
type ProcessDataRequest struct {
	Items    int `json:"items"`     // 1..MaxItems
	ItemMS   int `json:"item_ms"`   // 0..MaxItemMS
	ResultKB int `json:"result_kb"` // 0..MaxResultKB, optional
}

// Validate checks the ranges of the payload.
func (p ProcessDataRequest) Validate() error {
	switch {
	case p.Items < 1 || p.Items > MaxItems:
		return streamer.InvalidField("items", fmt.Sprintf("items must be between 1 and %d", MaxItems))
	case p.ItemMS < 0 || p.ItemMS > MaxItemMS:
		return streamer.InvalidField("item_ms", fmt.Sprintf("item_ms must be between 0 and %d", MaxItemMS))
	case p.ResultKB < 0 || p.ResultKB > MaxResultKB:
		return streamer.InvalidField("result_kb", fmt.Sprintf("result_kb must be between 0 and %d", MaxResultKB))
	case time.Duration(p.Items)*time.Duration(p.ItemMS)*time.Millisecond > MaxTotal:
		return streamer.InvalidField("payload", fmt.Sprintf("items x item_ms must be at most %d ms (%s), got %d ms",
			MaxTotal.Milliseconds(), MaxTotal, int64(p.Items)*int64(p.ItemMS)))
	}
	return nil
}

// ProcessDataResult is the result of process_data.
type ProcessDataResult struct {
	ItemsProcessed int    `json:"items_processed"`
	Padding        string `json:"padding,omitempty"` // about result_kb KiB
}

// ProcessData simulates batch work: it spends item_ms on each of items, reporting
// progress with items_processed and items_total after every item (the reporter
// coalesces it), and stops at once when its context is cancelled (streamer.cancel, or
// the worker running out of time). result_kb pads the result to about that many KiB, to
// exercise results over the 128 KiB message limit. Register it as an async action.
func ProcessData(ctx context.Context, job *streamer.Job[ProcessDataRequest]) (ProcessDataResult, error) {
	p := job.Payload
	for i := 1; i <= p.Items; i++ {
		if err := sleep(ctx, time.Duration(p.ItemMS)*time.Millisecond); err != nil {
			return ProcessDataResult{}, err
		}
		_ = job.Report(float64(i)*100/float64(p.Items), fmt.Sprintf("Processed %d of %d items", i, p.Items),
			map[string]any{"items_processed": i, "items_total": p.Items})
	}
	return ProcessDataResult{ItemsProcessed: p.Items, Padding: strings.Repeat("0123456789abcdef", p.ResultKB*1024/16)}, nil
}
