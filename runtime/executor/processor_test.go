package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/store"
)

// recordingInvoker records the events it is given; Invoke fails for the ids in fail and,
// when gate is set, waits for it to close, reporting each entry on entered.
type recordingInvoker struct {
	fail    map[string]bool
	gate    chan struct{}
	entered chan struct{}

	mu       sync.Mutex
	ids      []string
	inflight int
	peak     int
}

func (r *recordingInvoker) Invoke(ctx context.Context, ev executor.WorkerEvent) error {
	r.mu.Lock()
	r.ids = append(r.ids, ev.RequestID)
	r.inflight++
	r.peak = max(r.peak, r.inflight)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inflight--
		r.mu.Unlock()
	}()
	if r.gate != nil {
		r.entered <- struct{}{}
		<-r.gate
	}
	if r.fail[ev.RequestID] {
		return errors.New("throttled")
	}
	return nil
}

func (r *recordingInvoker) dispatched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.ids))
}

// streamRecord is a stream record of r as the event source mapping delivers it.
func streamRecord(t *testing.T, name events.DynamoDBOperationType, seq string, r *store.AsyncRequest) events.DynamoDBEventRecord {
	t.Helper()
	rec := events.DynamoDBEventRecord{
		EventID:     "event-" + seq,
		EventName:   string(name),
		EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{
			SequenceNumber: seq,
			StreamViewType: string(events.DynamoDBStreamViewTypeNewImage),
			Keys:           map[string]events.DynamoDBAttributeValue{contract.AttrRequestID: events.NewStringAttribute(r.RequestID)},
		},
	}
	if name != events.DynamoDBOperationTypeRemove {
		img, err := store.EncodeImage(r)
		require.NoError(t, err)
		rec.Change.NewImage = img
	}
	return rec
}

func request(id string, status store.RequestStatus) *store.AsyncRequest {
	return &store.AsyncRequest{RequestID: id, ClientID: id, Status: status, Action: "job", Attempt: 1, MaxAttempts: 3}
}

func TestProcessorDispatchesPendingRecords(t *testing.T) {
	t.Parallel()
	inv := &recordingInvoker{fail: map[string]bool{"t#u#throttled": true}}
	p, err := executor.NewProcessor(inv, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)

	noImage := streamRecord(t, events.DynamoDBOperationTypeModify, "600", request("t#u#no-image", store.StatusPending))
	noImage.Change.NewImage = nil
	badImage := streamRecord(t, events.DynamoDBOperationTypeInsert, "700", request("t#u#bad-image", store.StatusPending))
	badImage.Change.NewImage[contract.AttrAttempt] = events.NewStringAttribute("one")
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		streamRecord(t, events.DynamoDBOperationTypeInsert, "100", request("t#u#new", store.StatusPending)),
		streamRecord(t, events.DynamoDBOperationTypeModify, "200", request("t#u#claimed", store.StatusProcessing)),
		streamRecord(t, events.DynamoDBOperationTypeModify, "300", request("t#u#retry", store.StatusPending)),
		streamRecord(t, events.DynamoDBOperationTypeRemove, "400", request("t#u#expired", store.StatusPending)),
		streamRecord(t, events.DynamoDBOperationTypeInsert, "500", request("t#u#throttled", store.StatusPending)),
		noImage,
		badImage,
		streamRecord(t, events.DynamoDBOperationTypeModify, "800", request("t#u#done", store.StatusCompleted)),
	}}

	resp, err := p.Handle(t.Context(), batch)
	require.NoError(t, err)

	require.Equal(t, []string{"t#u#new", "t#u#retry", "t#u#throttled"}, inv.dispatched())
	require.Equal(t, []events.DynamoDBBatchItemFailure{
		{ItemIdentifier: "500"}, {ItemIdentifier: "600"}, {ItemIdentifier: "700"},
	}, resp.BatchItemFailures)
}

func TestProcessorFailsBatchOnFailedRecordWithoutSequenceNumber(t *testing.T) {
	t.Parallel()
	inv := &recordingInvoker{fail: map[string]bool{"t#u#a": true}}
	p, err := executor.NewProcessor(inv, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)
	rec := streamRecord(t, events.DynamoDBOperationTypeInsert, "", request("t#u#a", store.StatusPending))

	_, err = p.Handle(t.Context(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec}})
	require.ErrorIs(t, err, executor.ErrNoSequenceNumber)

	resp, err := p.Handle(t.Context(), events.DynamoDBEvent{})
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
}

func TestProcessorBoundsConcurrency(t *testing.T) {
	t.Parallel()
	const limit, records = 3, 12
	inv := &recordingInvoker{gate: make(chan struct{}), entered: make(chan struct{}, records)}
	p, err := executor.NewProcessor(inv, executor.ProcessorConfig{Concurrency: limit, Logger: quietLogger()})
	require.NoError(t, err)
	var batch events.DynamoDBEvent
	for i := range records {
		batch.Records = append(batch.Records, streamRecord(t, events.DynamoDBOperationTypeInsert, fmt.Sprint(100+i), request(fmt.Sprintf("t#u#%02d", i), store.StatusPending)))
	}

	type reply struct {
		resp events.DynamoDBEventResponse
		err  error
	}
	done := make(chan reply, 1)
	go func() {
		resp, err := p.Handle(t.Context(), batch)
		done <- reply{resp, err}
	}()
	for range limit {
		<-inv.entered
	}
	select {
	case <-inv.entered:
		t.Fatalf("more than %d invocations at once", limit)
	case <-time.After(100 * time.Millisecond):
	}
	close(inv.gate)
	r := <-done

	require.NoError(t, r.err)
	require.Empty(t, r.resp.BatchItemFailures)
	require.Len(t, inv.dispatched(), records)
	require.Equal(t, limit, inv.peak)
}

func TestProcessorFixture(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/dynamodb-stream-event.json")
	require.NoError(t, err)
	var ev events.DynamoDBEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.NotEmpty(t, ev.Records)

	var want []string
	var failing string
	for _, rec := range ev.Records {
		if rec.EventName != "REMOVE" && rec.Change.NewImage[contract.AttrStatus].String() == contract.StatusPending {
			id := rec.Change.NewImage[contract.AttrRequestID].String()
			want = append(want, id)
			failing = id
		}
	}
	require.NotEmpty(t, want, "the fixture has PENDING records")
	inv := &recordingInvoker{fail: map[string]bool{failing: true}}
	p, err := executor.NewProcessor(inv, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)

	resp, err := p.Handle(t.Context(), ev)
	require.NoError(t, err)

	require.Equal(t, slices.Sorted(slices.Values(want)), inv.dispatched())
	require.Len(t, resp.BatchItemFailures, 1)
	require.NotEmpty(t, resp.BatchItemFailures[0].ItemIdentifier)
}

func TestNewProcessorRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := executor.NewProcessor(&recordingInvoker{}, executor.ProcessorConfig{Concurrency: -1})
	require.ErrorIs(t, err, executor.ErrInvalidConfig)
	_, err = executor.NewProcessor(nil, executor.ProcessorConfig{})
	require.ErrorIs(t, err, executor.ErrInvalidConfig)
}
