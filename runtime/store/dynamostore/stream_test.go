package dynamostore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
	"github.com/streamer-go/streamer/runtime/store/memstore"
)

var update = flag.Bool("update", false, "rewrite ../testdata/dynamodb_stream_event.json from DynamoDB Local")

// lifecycle runs one request through Enqueue, Claim, Checkpoint and Finish and returns
// the request after each write: what the stream's NewImage of each write must decode to.
func lifecycle(t *testing.T, q *store.Queue) []*store.AsyncRequest {
	t.Helper()
	ctx := t.Context()
	req := &store.AsyncRequest{
		RequestID:    store.ScopedID("tenant-1", "user-1", "report-7"),
		ClientID:     "report-7",
		ConnectionID: "conn-1",
		Action:       "generate_report",
		Payload:      json.RawMessage(`{"pages":3,"title":"Q3 <draft> & notes"}`),
		UserID:       "user-1",
		TenantID:     "tenant-1",
	}
	require.NoError(t, q.Enqueue(ctx, req))
	now := time.Now()
	claimed, err := q.Claim(ctx, req.RequestID, "worker-1", now, now.Add(time.Minute))
	require.NoError(t, err)
	progressed, err := q.Checkpoint(ctx, req.RequestID, "worker-1",
		store.ProgressState{Percentage: 42.5, Message: "page 2 of 3", Metadata: map[string]any{"page": 2}}, now.Add(2*time.Minute))
	require.NoError(t, err)
	done, err := q.Finish(ctx, req.RequestID, "worker-1", store.StatusCompleted,
		store.ProgressState{Percentage: 100, Message: "done"}, json.RawMessage(`{"url":"https://example.com/r.pdf"}`), nil)
	require.NoError(t, err)
	return []*store.AsyncRequest{req, claimed, progressed, done}
}

// TestStreamImagesDecode writes through dynamostore, reads the real stream records with
// the DynamoDB Streams API and checks that each NewImage decodes to the request the
// store returned, is byte for byte what store.EncodeImage writes, and has the same shape
// as memstore's feed record of the same write.
func TestStreamImagesDecode(t *testing.T) {
	t.Parallel()
	cfg := dynamotest.Config(t)
	db := dynamotest.DB(t)
	tables := dynamotest.Tables(t, db, "stream")
	want := lifecycle(t, dynamostore.New(db, tables).Requests())

	desc, err := db.Table(tables.Requests).Describe().Run(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, desc.LatestStreamARN, "the Requests table has a stream")
	recs := readStream(t, dynamodbstreams.NewFromConfig(cfg), desc.LatestStreamARN, len(want))

	mem := memstore.New(memstore.Options{})
	memWant := lifecycle(t, mem.Requests())
	memRecs, err := mem.Feed().Read(t.Context(), "", 100)
	require.NoError(t, err)
	require.Len(t, memRecs, len(memWant))

	prev := big.NewInt(-1)
	for i, rec := range recs {
		wantEvent := "MODIFY"
		if i == 0 {
			wantEvent = "INSERT"
		}
		require.Equal(t, wantEvent, rec.EventName)
		require.Equal(t, "aws:dynamodb", rec.EventSource)
		require.Equal(t, "NEW_IMAGE", rec.Change.StreamViewType)
		require.Equal(t, want[i].RequestID, rec.Change.Keys[contract.AttrRequestID].String())
		seq, ok := new(big.Int).SetString(rec.Change.SequenceNumber, 10)
		require.True(t, ok, "sequence number %q", rec.Change.SequenceNumber)
		require.Equal(t, 1, seq.Cmp(prev), "sequence numbers increase")
		prev = seq

		got, err := store.DecodeImage(rec.Change.NewImage)
		require.NoError(t, err)
		require.Equal(t, want[i], got, "record %d decodes to the request the store returned", i)
		encoded, err := store.EncodeImage(got)
		require.NoError(t, err)
		require.Equal(t, rec.Change.NewImage, encoded, "record %d is exactly EncodeImage's encoding", i)

		memRec := memRecs[i]
		require.Equal(t, rec.EventName, memRec.EventName)
		require.Equal(t, shape(rec.Change.NewImage), shape(memRec.Change.NewImage), "record %d: memstore writes the same attributes", i)
		memGot, err := store.DecodeImage(memRec.Change.NewImage)
		require.NoError(t, err)
		require.Equal(t, memWant[i], memGot)
	}

	if *update {
		rec := recs[0]
		rec.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: time.Unix(rec.Change.ApproximateCreationDateTime.Unix(), 0)}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		require.NoError(t, enc.Encode(events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec}}))
		require.NoError(t, os.WriteFile(filepath.Join("..", "testdata", "dynamodb_stream_event.json"), buf.Bytes(), 0o644))
	}
}

// readStream reads n records from the stream's shards, from the trim horizon, as
// Lambda's event source mapping would hand them to the processor.
func readStream(t *testing.T, client *dynamodbstreams.Client, streamARN string, n int) []events.DynamoDBEventRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(streamARN)})
	require.NoError(t, err)
	require.Len(t, stream.StreamDescription.Shards, 1, "one shard for one writer")
	it, err := client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn:         aws.String(streamARN),
		ShardId:           stream.StreamDescription.Shards[0].ShardId,
		ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
	})
	require.NoError(t, err)
	iter := it.ShardIterator
	var out []events.DynamoDBEventRecord
	for len(out) < n && iter != nil {
		page, err := client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
		require.NoError(t, err)
		for _, r := range page.Records {
			rec, err := dynamostore.EventRecord(r, streamARN)
			require.NoError(t, err)
			out = append(out, rec)
		}
		iter = page.NextShardIterator
		if len(page.Records) == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("read %d of %d stream records: %v", len(out), n, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	require.Len(t, out, n)
	return out
}

// shape describes an image by attribute name and type, with the values of attributes
// that do not depend on the clock.
func shape(img map[string]events.DynamoDBAttributeValue) map[string]string {
	clock := map[string]bool{
		contract.AttrCreatedAt: true, contract.AttrUpdatedAt: true, contract.AttrLeaseUntil: true,
		contract.AttrStartedAt: true, contract.AttrEndedAt: true, contract.AttrTTL: true,
	}
	out := make(map[string]string, len(img))
	for name, v := range img {
		out[name] = fmt.Sprint(v.DataType())
		if !clock[name] {
			b, _ := json.Marshal(v)
			out[name] += " " + string(b)
		}
	}
	return out
}
