package main

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
	"github.com/streamer-go/streamer/runtime/store/dynamostore/dynamotest"
)

// TestRedriveReplaysTheDeadLetterQueue runs `streamer redrive` against a dead-letter
// queue holding both kinds of on-failure record: a worker event that failed its retries,
// and a stream batch the processor could not dispatch, whose records are read back from
// DynamoDB Local's stream. SQS and Lambda are real HTTP servers speaking their APIs (the
// SDK reaches them through AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_LAMBDA). Every
// PENDING request is dispatched to the worker once, the replayed messages are deleted,
// and one whose dispatch fails stays in the queue.
func TestRedriveReplaysTheDeadLetterQueue(t *testing.T) {
	db := dynamotest.DB(t)
	tables := dynamotest.Tables(t, db, "redrive")
	queue := dynamostore.New(db, tables).Requests()
	ctx := t.Context()
	enqueue := func(clientID string) string {
		id := store.ScopedID("acme", "alice", clientID)
		require.NoError(t, queue.Enqueue(ctx, &store.AsyncRequest{
			RequestID: id, ClientID: clientID, ConnectionID: "c-1", Action: "process_data", UserID: "alice", TenantID: "acme",
		}))
		return id
	}
	first, second := enqueue("first"), enqueue("second")
	now := time.Now()
	_, err := queue.Claim(ctx, second, "worker-1", now, now.Add(time.Minute)) // a MODIFY PROCESSING record: not dispatched again
	require.NoError(t, err)
	third := enqueue("third")
	batch := streamBatchOf(t, tables.Requests, 4)

	sqsFake := newFakeSQS(t,
		`{"version":"1.0","requestContext":{"condition":"RetriesExhausted","approximateInvokeCount":3},"requestPayload":{"request_id":"acme#alice#lost"},"responseContext":{"statusCode":200,"functionError":"Unhandled"}}`,
		`{"version":"1.0","requestContext":{"condition":"RetryAttemptsExhausted","approximateInvokeCount":4},"DDBStreamBatchInfo":`+batch+`}`,
		`{"version":"1.0","requestPayload":{"request_id":"acme#alice#poison"}}`,
		`not json`,
		`{"version":"1.0","requestContext":{"condition":"EventAgeExceeded"}}`,
	)
	lambdaFake := newFakeLambda(t, "acme#alice#poison")
	configureAWS(t, map[string]string{"AWS_ENDPOINT_URL_SQS": sqsFake.URL, "AWS_ENDPOINT_URL_LAMBDA": lambdaFake.URL,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": os.Getenv(dynamotest.EnvEndpoint)})

	code, out, errOut := runCLI(t, "redrive", "--queue-url", sqsFake.URL+"/000000000000/dlq", "--dry-run")
	require.Equal(t, exitError, code, "two messages are not on-failure records of the stack")
	require.Contains(t, errOut, "not an on-failure record")
	require.Contains(t, errOut, "neither a worker event nor a stream batch")
	require.Contains(t, out, "worker event (RetriesExhausted): acme#alice#lost")
	require.Contains(t, out, "stream record: "+third)
	require.Contains(t, out, "0 messages replayed and deleted, 0 requests dispatched, 5 messages left in the queue")
	require.Empty(t, lambdaFake.invoked(), "a dry run dispatches nothing")
	require.Len(t, sqsFake.left(), 5, "and deletes nothing")

	code, out, errOut = runCLI(t, "redrive", "--queue-url", sqsFake.URL+"/000000000000/dlq", "--worker-function", "streamer-worker")
	require.Equal(t, exitError, code, "three messages cannot be replayed")
	require.Contains(t, out, "2 messages replayed and deleted, 4 requests dispatched, 3 messages left in the queue")
	require.Contains(t, errOut, "acme#alice#poison: operation error Lambda: Invoke")
	require.Equal(t, slices.Sorted(slices.Values([]string{"acme#alice#lost", "acme#alice#poison", first, second, third})), lambdaFake.invoked(),
		"the worker event, and the batch's records with a PENDING image (the INSERTs); the poison one was tried")
	require.Equal(t, []string{
		`{"version":"1.0","requestPayload":{"request_id":"acme#alice#poison"}}`, `not json`, `{"version":"1.0","requestContext":{"condition":"EventAgeExceeded"}}`,
	}, sqsFake.left(), "what could not be replayed stays")
	for _, fn := range lambdaFake.functions() {
		require.Equal(t, "streamer-worker", fn)
	}

	code, _, errOut = runCLI(t, "redrive", "--worker-function", "w")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "--queue-url and --worker-function are required")
}

// streamBatchOf reads the first n records of table's stream and returns the
// DDBStreamBatchInfo of a batch holding them, as Lambda writes it to the on-failure
// destination.
func streamBatchOf(t *testing.T, table string, n int) string {
	t.Helper()
	db := dynamotest.DB(t)
	desc, err := db.Table(table).Describe().Run(t.Context())
	require.NoError(t, err)
	api := dynamodbstreams.NewFromConfig(dynamotest.Config(t))
	ds, err := api.DescribeStream(t.Context(), &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(desc.LatestStreamARN)})
	require.NoError(t, err)
	shard := aws.ToString(ds.StreamDescription.Shards[0].ShardId)
	it, err := api.GetShardIterator(t.Context(), &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(desc.LatestStreamARN), ShardId: aws.String(shard), ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
	})
	require.NoError(t, err)
	var recs []streamtypes.Record
	iterator := it.ShardIterator
	for len(recs) < n {
		out, err := api.GetRecords(t.Context(), &dynamodbstreams.GetRecordsInput{ShardIterator: iterator})
		require.NoError(t, err)
		recs, iterator = append(recs, out.Records...), out.NextShardIterator
	}
	info, err := json.Marshal(map[string]any{
		"shardId":             shard,
		"startSequenceNumber": aws.ToString(recs[0].Dynamodb.SequenceNumber),
		"endSequenceNumber":   aws.ToString(recs[n-1].Dynamodb.SequenceNumber),
		"batchSize":           n,
		"streamArn":           desc.LatestStreamARN,
	})
	require.NoError(t, err)
	return string(info)
}

// configureAWS points the SDK's default configuration at the test's endpoints, with
// dummy credentials and no shared files.
func configureAWS(t *testing.T, endpoints map[string]string) {
	dir := t.TempDir()
	vars := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	}
	for k, v := range endpoints {
		vars[k] = v
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// fakeSQS serves ReceiveMessage and DeleteMessage of the SQS JSON protocol for one queue.
type fakeSQS struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  map[string]string // receipt handle -> body, of the messages not deleted
	ordered []string          // receipt handles in the order the messages were sent
}

func newFakeSQS(t *testing.T, bodies ...string) *fakeSQS {
	f := &fakeSQS{bodies: map[string]string{}}
	for i, b := range bodies {
		h := fmt.Sprint("receipt-", i)
		f.bodies[h], f.ordered = b, append(f.ordered, h)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSQS) serve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		QueueURL            string `json:"QueueUrl"`
		MaxNumberOfMessages int
		ReceiptHandle       string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !strings.HasSuffix(in.QueueURL, "/dlq") {
		http.Error(w, `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no such queue"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSQS.ReceiveMessage":
		msgs := []map[string]string{}
		for _, h := range f.ordered {
			if body, ok := f.bodies[h]; ok && len(msgs) < in.MaxNumberOfMessages {
				sum := md5.Sum([]byte(body))
				msgs = append(msgs, map[string]string{"MessageId": "id-" + h, "ReceiptHandle": h, "Body": body, "MD5OfBody": hex.EncodeToString(sum[:])})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Messages": msgs})
	case "AmazonSQS.DeleteMessage":
		delete(f.bodies, in.ReceiptHandle)
		_, _ = w.Write([]byte(`{}`))
	default:
		http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
	}
}

// left returns the bodies of the messages not deleted, in order.
func (f *fakeSQS) left() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, h := range f.ordered {
		if b, ok := f.bodies[h]; ok {
			out = append(out, b)
		}
	}
	return out
}

// fakeLambda serves Lambda's Invoke for asynchronous invocations, failing those of the
// request ids it is given.
type fakeLambda struct {
	*httptest.Server
	fail map[string]bool
	mu   sync.Mutex
	ids  []string
	fns  []string
}

func newFakeLambda(t *testing.T, fail ...string) *fakeLambda {
	f := &fakeLambda{fail: map[string]bool{}}
	for _, id := range fail {
		f.fail[id] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		var ev executor.WorkerEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("X-Amz-Invocation-Type") != "Event" {
			http.Error(w, `{"message":"bad invocation"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.ids, f.fns = append(f.ids, ev.RequestID), append(f.fns, r.PathValue("name"))
		f.mu.Unlock()
		if f.fail[ev.RequestID] {
			w.Header().Set("X-Amzn-ErrorType", "ServiceException")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"Type":"Service","message":"throttled"}`))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// invoked returns the request ids invoked, sorted.
func (f *fakeLambda) invoked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(slices.Values(slices.Compact(slices.Sorted(slices.Values(f.ids)))))
}

func (f *fakeLambda) functions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.fns)
}
