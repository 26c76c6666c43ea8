package executor_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"slices"
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
