package executor_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
	"github.com/streamer-go/streamer/runtime/streamer"
)

var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/dynamodb-stream-event.json from DynamoDB Local's stream")

// streamReader reads a table's stream with the DynamoDB Streams API, as the Lambda event
// source mapping does: every shard from TRIM_HORIZON, in order.
type streamReader struct {
	client    *dynamodbstreams.Client
	streamARN string
	iterators map[string]*string // shard id -> next iterator
}

func newStreamReader(t *testing.T, cfg aws.Config, table string) *streamReader {
	t.Helper()
	desc, err := dynamodb.NewFromConfig(cfg).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	require.NoError(t, err)
	require.NotNil(t, desc.Table.LatestStreamArn, "the Requests table has a stream")
	return &streamReader{
		client:    dynamodbstreams.NewFromConfig(cfg),
		streamARN: aws.ToString(desc.Table.LatestStreamArn),
		iterators: map[string]*string{},
	}
}

// read polls the stream until it has returned at least want more records (or fails the
// test after 15 s) and returns them as the Lambda event of one batch.
func (s *streamReader) read(t *testing.T, want int) events.DynamoDBEvent {
	t.Helper()
	var ev events.DynamoDBEvent
	deadline := time.Now().Add(15 * time.Second)
	for len(ev.Records) < want {
		require.True(t, time.Now().Before(deadline), "got %d of %d stream records", len(ev.Records), want)
		stream, err := s.client.DescribeStream(t.Context(), &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(s.streamARN)})
		require.NoError(t, err)
		got := 0
		for _, shard := range stream.StreamDescription.Shards {
			id := aws.ToString(shard.ShardId)
			if _, ok := s.iterators[id]; !ok {
				it, err := s.client.GetShardIterator(t.Context(), &dynamodbstreams.GetShardIteratorInput{
					StreamArn: aws.String(s.streamARN), ShardId: shard.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
				})
				require.NoError(t, err)
				s.iterators[id] = it.ShardIterator
			}
			if s.iterators[id] == nil {
				continue // closed shard, read to its end
			}
			out, err := s.client.GetRecords(t.Context(), &dynamodbstreams.GetRecordsInput{ShardIterator: s.iterators[id]})
			require.NoError(t, err)
			s.iterators[id] = out.NextShardIterator
			for _, r := range out.Records {
				rec, err := dynamostore.EventRecord(r, s.streamARN)
				require.NoError(t, err)
				ev.Records = append(ev.Records, rec)
			}
			got += len(out.Records)
		}
		if got == 0 {
			time.Sleep(250 * time.Millisecond) // the event source mapping polls 4 times a second
		}
	}
	return ev
}

// writeFixture stores ev as the processor's fixture, with the account-specific parts
// of a real stream kept as DynamoDB Local wrote them.
func writeFixture(t *testing.T, ev events.DynamoDBEvent) {
	t.Helper()
	raw, err := json.MarshalIndent(ev, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile("testdata/dynamodb-stream-event.json", append(raw, '\n'), 0o644))
}

// onDynamoDB creates fresh tables on DynamoDB Local (skipping the test without it) and
// returns them, the request queue on them and a reader of the Requests table's stream.
func onDynamoDB(t *testing.T) (*dynamo.DB, dynamostore.Tables, *store.Queue, *streamReader) {
	t.Helper()
	db := dynamotest.DB(t)
	tables := dynamotest.Tables(t, db, "executor")
	return db, tables, dynamostore.New(db, tables).Requests(), newStreamReader(t, dynamotest.Config(t), tables.Requests)
}

func TestProcessorOnDynamoDBStream(t *testing.T) {
	t.Parallel()
	db, tables, queue, stream := onDynamoDB(t)
	ctx := t.Context()

	enqueue := func(clientID string) string {
		id := store.ScopedID(testTenant, testUser, clientID)
		require.NoError(t, queue.Enqueue(ctx, &store.AsyncRequest{
			RequestID: id, ClientID: clientID, ConnectionID: testConn, Action: "job",
			Payload: json.RawMessage(`{"n":1}`), UserID: testUser, TenantID: testTenant,
		}))
		return id
	}
	// INSERT PENDING, then a retry: MODIFY PROCESSING and MODIFY PENDING (attempt 2).
	fresh := enqueue("fresh")
	retried := enqueue("retried")
	now := time.Now()
	_, err := queue.Claim(ctx, retried, "worker-1", now, now.Add(time.Minute))
	require.NoError(t, err)
	_, err = queue.Release(ctx, retried, "worker-1", json.RawMessage(`{"code":"RATE_LIMITED","message":"slow down"}`))
	require.NoError(t, err)
	// A cancelled request: INSERT PENDING, MODIFY CANCELLED.
	enqueue("cancelled")
	_, _, err = queue.RequestCancel(ctx, testOwner, "cancelled", json.RawMessage(`{"code":"CANCELLED","message":"cancelled by the client"}`))
	require.NoError(t, err)
	// A deleted request (as TTL expiry deletes): INSERT PENDING, REMOVE.
	deleted := enqueue("deleted")
	require.NoError(t, db.Table(tables.Requests).Delete("request_id", deleted).Run(ctx))
	// A request whose dispatch fails.
	throttled := enqueue("throttled")

	ev := stream.read(t, 9)
	require.Len(t, ev.Records, 9)
	if *updateFixture {
		writeFixture(t, ev)
	}
	inv := &recordingInvoker{fail: map[string]bool{throttled: true}}
	p, err := executor.NewProcessor(inv, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)

	resp, err := p.Handle(ctx, ev)
	require.NoError(t, err)

	// Every PENDING image is dispatched: both inserts and the retry of "retried", the
	// inserts of the cancelled and deleted requests (their workers will find nothing to
	// do). PROCESSING, CANCELLED and REMOVE records are not.
	require.Equal(t, slices.Sorted(slices.Values([]string{
		fresh, retried, retried, store.ScopedID(testTenant, testUser, "cancelled"), deleted, throttled,
	})), inv.dispatched())
	last := ev.Records[len(ev.Records)-1]
	require.Equal(t, "INSERT", last.EventName)
	require.Equal(t, []events.DynamoDBBatchItemFailure{{ItemIdentifier: last.Change.SequenceNumber}}, resp.BatchItemFailures)
}

func TestWorkerOnDynamoDB(t *testing.T) {
	t.Parallel()
	_, _, queue, stream := onDynamoDB(t)

	b := &bundle{queue: queue}
	b.sender = &recordingSender{queue: queue, terminals: make(chan wire, 10), gone: map[string]bool{}}
	b.reg = streamer.NewRegistry()
	w, err := executor.NewWorker(queue, b.reg, b.sender, fastConfig())
	require.NoError(t, err)
	b.worker = w
	h := b.register(t, "job", func(_ context.Context, run int, _ *streamer.Request, rep streamer.Reporter) (*streamer.Result, error) {
		require.NoError(t, rep.Report(50, "half"))
		if run == 1 {
			return nil, streamer.NewError(streamer.ErrCodeServiceUnavail, "try again")
		}
		return &streamer.Result{Data: map[string]any{"run": run}}, nil
	})
	id := b.enqueue(t, "r-ddb", "job", 0)

	// Drive the worker from the real stream: the processor dispatches the INSERT, the
	// retry's MODIFY PENDING, and nothing for the PROCESSING and COMPLETED records.
	inv := executor.NewGoroutineInvoker(w.Handle, executor.GoroutineOptions{Timeout: 10 * time.Second, Logger: quietLogger()})
	t.Cleanup(func() { require.NoError(t, inv.Shutdown(context.Background())) })
	counting := &recordingInvoker{}
	p, err := executor.NewProcessor(dispatchBoth{counting, inv}, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)

	for {
		ev := stream.read(t, 1)
		resp, err := p.Handle(t.Context(), ev)
		require.NoError(t, err)
		require.Empty(t, resp.BatchItemFailures)
		if r, err := queue.Get(t.Context(), id); err == nil && r.Status.Terminal() {
			break
		}
	}
	term := b.sender.awaitTerminal(t)
	require.JSONEq(t, `{"run":2}`, string(term.Data))
	r := b.get(t, id)
	require.Equal(t, store.StatusCompleted, r.Status)
	require.Equal(t, 2, r.Attempt)
	require.EqualValues(t, 2, h.runs.Load())
	require.Equal(t, []string{id, id}, counting.dispatched())
	requireOneTerminalLast(t, b.sender.messages("r-ddb"))
}

// dispatchBoth records each event on a recordingInvoker, then invokes for real.
type dispatchBoth struct {
	record *recordingInvoker
	real   executor.Invoker
}

func (d dispatchBoth) Invoke(ctx context.Context, ev executor.WorkerEvent) error {
	if err := d.record.Invoke(ctx, ev); err != nil {
		return err
	}
	return d.real.Invoke(ctx, ev)
}

// cuttingInvoker runs each invocation on a goroutine of its own and ends it after d by
// cancelling its context, as Lambda ends an invocation at its timeout, and runs a failed
// invocation again, as Lambda retries asynchronous invocations. Ending it by
// cancellation, not a deadline, leaves the worker's last writes (the Continue) without a
// deadline that DynamoDB Local on a loaded machine could miss; the worker's own deadline
// handling is tested on memstore.
type cuttingInvoker struct {
	worker *executor.Worker
	d      time.Duration
	wg     sync.WaitGroup
}

func (c *cuttingInvoker) Invoke(_ context.Context, ev executor.WorkerEvent) error {
	c.wg.Go(func() {
		for range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			stop := time.AfterFunc(c.d, cancel)
			err := c.worker.Handle(ctx, ev)
			stop.Stop()
			cancel()
			if err == nil {
				return
			}
		}
	})
	return nil
}

// continuingSystem is a worker whose invocations end after two seconds each, started from
// the Requests table's real stream on DynamoDB Local as the deployed stack starts them:
// the processor dispatches every PENDING record (the enqueue, and each Continue) to a new
// invocation.
type continuingSystem struct {
	b      *bundle
	log    *stepLog
	stream *streamReader
	proc   *executor.Processor
	inv    *recordingInvoker
}

func newContinuingSystem(t *testing.T) *continuingSystem {
	t.Helper()
	_, _, queue, stream := onDynamoDB(t)
	b := &bundle{queue: queue, reg: streamer.NewRegistry()}
	b.sender = &recordingSender{queue: queue, terminals: make(chan wire, 10), gone: map[string]bool{}}
	w, err := executor.NewWorker(queue, b.reg, b.sender, fastConfig())
	require.NoError(t, err)
	b.worker = w
	log := newStepLog()
	require.NoError(t, b.reg.Handle("steps", streamer.Async(log.stepJob)))
	cutting := &cuttingInvoker{worker: w, d: 2 * time.Second}
	t.Cleanup(cutting.wg.Wait)
	inv := &recordingInvoker{}
	p, err := executor.NewProcessor(dispatchBoth{inv, cutting}, executor.ProcessorConfig{Logger: quietLogger()})
	require.NoError(t, err)
	return &continuingSystem{b: b, log: log, stream: stream, proc: p, inv: inv}
}

// runUntilTerminal hands the stream's records to the processor until the request is
// terminal, calling during (when set) with each new run's first step.
func (s *continuingSystem) runUntilTerminal(t *testing.T, id string, during func(resumedAt int)) *store.AsyncRequest {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := s.proc.Handle(t.Context(), s.stream.read(t, 1))
		require.NoError(t, err)
		require.Empty(t, resp.BatchItemFailures)
		if during != nil {
			select {
			case at := <-s.log.started:
				during(at)
			default:
			}
		}
		if r := s.b.get(t, id); r.Status.Terminal() {
			s.b.sender.awaitTerminal(t) // sent after the outcome is stored
			return r
		}
	}
	t.Fatalf("request %s not terminal within a minute", id)
	return nil
}

func TestLongJobCrossesThreeInvocationsOnDynamoDB(t *testing.T) {
	t.Parallel()
	s := newContinuingSystem(t)
	id := s.b.enqueueSteps(t, "r-long", "steps", stepsRequest{Steps: 50, StepMS: 100})

	r := s.runUntilTerminal(t, id, nil)

	require.Equal(t, store.StatusCompleted, r.Status)
	require.GreaterOrEqual(t, r.Continuations, 2, "5 s of work in two-second invocations")
	require.Equal(t, 1, r.Attempt)
	require.Len(t, s.inv.dispatched(), r.Continuations+1, "one invocation per PENDING write: the enqueue and each Continue")
	resumes, done := s.log.snapshot()
	require.Len(t, resumes, r.Continuations+1)
	requireEveryStepOnce(t, done, 50)
	term := requireOneTerminalLast(t, s.b.sender.messages("r-long"))
	require.JSONEq(t, `50`, string(term.Data))
}

func TestLongJobCancelledDuringItsSecondInvocationOnDynamoDB(t *testing.T) {
	t.Parallel()
	s := newContinuingSystem(t)
	id := s.b.enqueueSteps(t, "r-cancel", "steps", stepsRequest{Steps: 60, StepMS: 100})

	cancelled := false
	r := s.runUntilTerminal(t, id, func(resumedAt int) {
		if resumedAt > 1 && !cancelled { // the second invocation is running
			_, _, err := s.b.queue.RequestCancel(t.Context(), testOwner, "r-cancel", nil)
			require.NoError(t, err)
			cancelled = true
		}
	})

	require.True(t, cancelled)
	require.Equal(t, store.StatusCancelled, r.Status)
	// The second invocation sees the cancel at its next progress write; if it ends first
	// (a loaded machine), the hand-on carries the cancel and the next claim ends the job.
	resumes, done := s.log.snapshot()
	require.Len(t, resumes, 2, "no run after the one the cancel came in")
	require.LessOrEqual(t, r.Continuations, 2)
	require.Less(t, len(done), 60, "the work stopped")
	term := requireOneTerminalLast(t, s.b.sender.messages("r-cancel"))
	require.Equal(t, protocol.TypeError, term.Type)
	require.Equal(t, streamer.ErrCodeCancelled, term.Error.Code)
}

func TestWorkerKilledMidInvocationResumesOnDynamoDB(t *testing.T) {
	t.Parallel()
	_, _, queue, _ := onDynamoDB(t)
	killedWorkerResumes(t, queue)
}
