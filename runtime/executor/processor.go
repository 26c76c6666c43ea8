package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// ErrNoSequenceNumber is wrapped by Processor.Handle's error when a record it could not
// dispatch has no sequence number: an empty item identifier would fail the whole batch
// anyway, so the batch is failed explicitly.
var ErrNoSequenceNumber = errors.New("executor: failed record without sequence number")

// Processor is the Requests table's stream consumer: it dispatches every PENDING request
// to a worker and never runs a handler itself.
type Processor struct {
	invoker Invoker
	cfg     ProcessorConfig
}

// NewProcessor returns a Processor that starts workers through invoker.
func NewProcessor(invoker Invoker, cfg ProcessorConfig) (*Processor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if invoker == nil {
		return nil, fmt.Errorf("%w: invoker is required", ErrInvalidConfig)
	}
	return &Processor{invoker: invoker, cfg: cfg}, nil
}

// Handle dispatches one batch of stream records. REMOVE records (TTL deletes) and
// records whose new image is not PENDING are skipped: the event source mapping's filter
// should drop them already, and a worker would find nothing to do. Every other record is
// decoded and handed to a worker, up to Concurrency at once. Records that cannot be
// decoded or dispatched are returned as batch item failures, by sequence number; Lambda
// retries the batch from the lowest one, and the retried records that were dispatched
// before are absorbed by the worker's conditional claim.
func (p *Processor) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	failed := make([]bool, len(ev.Records))
	sem := make(chan struct{}, p.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, rec := range ev.Records {
		id, dispatch, err := pendingRequest(rec)
		if err != nil {
			p.logFailure(ctx, rec, "executor: undecodable stream record", err)
			failed[i] = true
			continue
		}
		if !dispatch {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			p.logFailure(ctx, rec, "executor: batch deadline before dispatch", ctx.Err())
			failed[i] = true
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := p.invoker.Invoke(ctx, WorkerEvent{RequestID: id}); err != nil {
				p.logFailure(ctx, rec, "executor: dispatch failed", err)
				failed[i] = true
			}
		})
	}
	wg.Wait()

	var resp events.DynamoDBEventResponse
	for i, f := range failed {
		if !f {
			continue
		}
		seq := ev.Records[i].Change.SequenceNumber
		if seq == "" {
			return events.DynamoDBEventResponse{}, fmt.Errorf("%w: record %d (event %q)", ErrNoSequenceNumber, i, ev.Records[i].EventID)
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
	}
	return resp, nil
}

// pendingRequest returns the request id of a record to dispatch. dispatch is false for
// records to skip; err is set for records that cannot be read.
func pendingRequest(rec events.DynamoDBEventRecord) (id string, dispatch bool, err error) {
	if rec.EventName == string(events.DynamoDBOperationTypeRemove) {
		return "", false, nil
	}
	image := rec.Change.NewImage
	if image == nil {
		return "", false, fmt.Errorf("%w: no NewImage (the stream view type must include NEW_IMAGE)", store.ErrInvalidImage)
	}
	status, ok := image[contract.AttrStatus]
	if !ok || status.DataType() != events.DataTypeString || status.String() != contract.StatusPending {
		return "", false, nil
	}
	req, err := store.DecodeImage(image)
	if err != nil {
		return "", false, err
	}
	if req.RequestID == "" {
		return "", false, fmt.Errorf("%w: no %s", store.ErrInvalidImage, contract.AttrRequestID)
	}
	return req.RequestID, true, nil
}

func (p *Processor) logFailure(ctx context.Context, rec events.DynamoDBEventRecord, msg string, err error) {
	p.cfg.Logger.LogAttrs(ctx, slog.LevelError, msg,
		slog.String("event_id", rec.EventID),
		slog.String("event_name", rec.EventName),
		slog.String("sequence_number", rec.Change.SequenceNumber),
		slog.String("error", err.Error()))
}
