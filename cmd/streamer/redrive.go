package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
)

// Settings of `streamer redrive`.
const (
	// redriveBatch is how many messages one ReceiveMessage asks for (SQS's maximum).
	redriveBatch = 10
	// redriveVisibility hides a message being replayed from other readers meanwhile.
	redriveVisibility = 120
)

// runRedrive implements `streamer redrive`: it replays the dead-letter queue of a
// deployed stack, so that requests whose dispatch failed run after all.
func runRedrive(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "redrive", "redrive --queue-url URL --worker-function NAME [--region REGION] [--max N] [--dry-run]")
	queueURL := fs.String("queue-url", "", "the stack's dead-letter queue (the DeadLetterQueue's URL)")
	worker := fs.String("worker-function", "", "the stack's worker function (name or ARN) to dispatch the requests to")
	region := fs.String("region", "", "AWS region; default: from the environment or the shared config")
	limit := fs.Int("max", 0, "replay at most this many messages; 0: until the queue is empty")
	dry := fs.Bool("dry-run", false, "list the requests each message holds; dispatch and delete nothing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || *queueURL == "" || (*worker == "" && !*dry) || *limit < 0 {
		fmt.Fprintln(e.stderr, "streamer redrive: --queue-url and --worker-function are required (both are outputs of the stack: DeadLetterQueue and the worker function)")
		fs.Usage()
		return exitUsage
	}
	var opts []func(*config.LoadOptions) error
	if *region != "" {
		opts = append(opts, config.WithRegion(*region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer redrive: AWS configuration:", err)
		return exitError
	}
	r := &deadLetters{
		queue:    sqs.NewFromConfig(cfg),
		streams:  dynamodbstreams.NewFromConfig(cfg),
		invoker:  executor.NewLambdaInvoker(lambda.NewFromConfig(cfg), *worker),
		dryRun:   *dry,
		out:      e.stdout,
		queueURL: *queueURL,
	}
	rep, err := r.replay(ctx, *limit)
	fmt.Fprintf(e.stdout, "%d messages replayed and deleted, %d requests dispatched, %d messages left in the queue\n", rep.replayed, rep.dispatched, rep.kept)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer redrive:", err)
		return exitError
	}
	return exitOK
}

// queueAPI is the part of the SQS client redrive uses.
type queueAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// streamsAPI is the part of the DynamoDB Streams client redrive uses.
type streamsAPI interface {
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var (
	_ queueAPI   = (*sqs.Client)(nil)
	_ streamsAPI = (*dynamodbstreams.Client)(nil)
)

// deadLetters replays a stack's dead-letter queue. It holds two kinds of message (see
// docs/ARCHITECTURE.md): the on-failure record of a worker invocation that failed all its
// retries (its requestPayload is the WorkerEvent), and the on-failure record of a stream
// batch the processor could not dispatch (DDBStreamBatchInfo: the shard and the range of
// sequence numbers, whose records are read back from the stream). Each request is
// dispatched to the worker again, as the processor would; the worker's conditional
// claim makes a request that finished meanwhile a no-op. A message is deleted once
// everything it holds was dispatched.
type deadLetters struct {
	queue    queueAPI
	streams  streamsAPI
	invoker  executor.Invoker
	dryRun   bool
	out      io.Writer
	queueURL string
}

// deadLetter is the body of a message of the dead-letter queue (both kinds).
type deadLetter struct {
	RequestContext struct {
		FunctionArn string `json:"functionArn"`
		Condition   string `json:"condition"`
	} `json:"requestContext"`
	RequestPayload *executor.WorkerEvent `json:"requestPayload"`
	StreamBatch    *streamBatch          `json:"DDBStreamBatchInfo"`
}

// streamBatch locates a failed stream batch.
type streamBatch struct {
	ShardID             string `json:"shardId"`
	StartSequenceNumber string `json:"startSequenceNumber"`
	EndSequenceNumber   string `json:"endSequenceNumber"`
	StreamArn           string `json:"streamArn"`
}

// replayReport counts what a replay did.
type replayReport struct {
	replayed, dispatched, kept int
}

// replay reads the queue until it is empty (or limit messages were handled) and
// replays each message. A message that cannot be replayed is kept (it becomes visible
// again) and reported; the others go on.
func (d *deadLetters) replay(ctx context.Context, limit int) (replayReport, error) {
	var rep replayReport
	var errs []error
	seen := map[string]bool{}
	for limit == 0 || rep.replayed+rep.kept < limit {
		out, err := d.queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(d.queueURL),
			MaxNumberOfMessages: redriveBatch,
			WaitTimeSeconds:     1,
			VisibilityTimeout:   redriveVisibility,
		})
		if err != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("receive from %s: %w", d.queueURL, err))...)
		}
		fresh := 0
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] { // a kept message came back: done with this pass
				continue
			}
			seen[id], fresh = true, fresh+1
			n, err := d.replayOne(ctx, aws.ToString(m.Body))
			if err == nil && !d.dryRun {
				_, err = d.queue.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.queueURL), ReceiptHandle: m.ReceiptHandle})
			}
			if err != nil || d.dryRun {
				rep.kept++
				if err != nil {
					errs = append(errs, fmt.Errorf("message %s: %w", id, err))
				}
				continue
			}
			rep.replayed++
			rep.dispatched += n
		}
		if fresh == 0 {
			break
		}
	}
	return rep, errors.Join(errs...)
}

// replayOne dispatches the requests of one message and returns how many.
func (d *deadLetters) replayOne(ctx context.Context, body string) (int, error) {
	var dl deadLetter
	if err := json.Unmarshal([]byte(body), &dl); err != nil {
		return 0, fmt.Errorf("not an on-failure record: %w", err)
	}
	switch {
	case dl.RequestPayload != nil && dl.RequestPayload.RequestID != "":
		fmt.Fprintf(d.out, "worker event (%s): %s\n", dl.RequestContext.Condition, dl.RequestPayload.RequestID)
		if d.dryRun {
			return 1, nil
		}
		return 1, d.invoker.Invoke(ctx, *dl.RequestPayload)
	case dl.StreamBatch != nil:
		return d.replayBatch(ctx, dl.StreamBatch)
	}
	return 0, errors.New("neither a worker event nor a stream batch")
}

// replayBatch reads the records of a failed stream batch back from the stream and hands
// them to a processor, which dispatches those of PENDING requests as the deployed one
// does.
func (d *deadLetters) replayBatch(ctx context.Context, b *streamBatch) (int, error) {
	recs, err := d.readBatch(ctx, b)
	if err != nil {
		return 0, err
	}
	counter := &countingInvoker{next: d.invoker, dry: d.dryRun, out: d.out}
	p, err := executor.NewProcessor(counter, executor.ProcessorConfig{})
	if err != nil {
		return 0, err
	}
	resp, err := p.Handle(ctx, events.DynamoDBEvent{Records: recs})
	if err != nil {
		return counter.count(), err
	}
	if len(resp.BatchItemFailures) > 0 {
		return counter.count(), fmt.Errorf("%d of the batch's records could not be dispatched", len(resp.BatchItemFailures))
	}
	return counter.count(), nil
}

// readBatch reads the records from b's start to its end sequence number.
func (d *deadLetters) readBatch(ctx context.Context, b *streamBatch) ([]events.DynamoDBEventRecord, error) {
	it, err := d.streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn:         aws.String(b.StreamArn),
		ShardId:           aws.String(b.ShardID),
		ShardIteratorType: streamtypes.ShardIteratorTypeAtSequenceNumber,
		SequenceNumber:    aws.String(b.StartSequenceNumber),
	})
	if err != nil {
		var trimmed *streamtypes.TrimmedDataAccessException
		if errors.As(err, &trimmed) {
			return nil, fmt.Errorf("the batch's records are past the stream's 24 h retention (the re-driver hands out those requests that are still unfinished): %w", err)
		}
		return nil, fmt.Errorf("read the stream batch: %w", err)
	}
	var recs []events.DynamoDBEventRecord
	iterator := it.ShardIterator
	for iterator != nil {
		out, err := d.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iterator})
		if err != nil {
			return nil, fmt.Errorf("read the stream batch: %w", err)
		}
		for _, r := range out.Records {
			if r.Dynamodb != nil && sequenceAfter(aws.ToString(r.Dynamodb.SequenceNumber), b.EndSequenceNumber) {
				return recs, nil
			}
			rec, err := dynamostore.EventRecord(r, b.StreamArn)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
		if len(out.Records) == 0 {
			return recs, nil // the end of what the shard holds now
		}
		iterator = out.NextShardIterator
	}
	return recs, nil
}

// sequenceAfter reports whether sequence number a comes after b (both decimal strings of
// any length).
func sequenceAfter(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// countingInvoker counts (and, in a dry run, only lists) the dispatches of a replayed
// batch; the processor calls it from several goroutines.
type countingInvoker struct {
	next executor.Invoker
	dry  bool
	out  io.Writer

	mu sync.Mutex
	n  int
}

func (c *countingInvoker) Invoke(ctx context.Context, ev executor.WorkerEvent) error {
	c.mu.Lock()
	fmt.Fprintf(c.out, "stream record: %s\n", ev.RequestID)
	c.n++
	c.mu.Unlock()
	if c.dry {
		return nil
	}
	return c.next.Invoke(ctx, ev)
}

func (c *countingInvoker) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
