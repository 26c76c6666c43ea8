package local

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamer-go/streamer/runtime/store/dynamostore"
)

// streamsAPI is the part of the DynamoDB Streams client the poller uses.
type streamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var (
	_ streamsAPI   = (*dynamodbstreams.Client)(nil)
	_ streamReader = (*dynamoStream)(nil)
)

// dynamoStream reads a table's stream through the real DynamoDB Streams API.
type dynamoStream struct {
	api       streamsAPI
	streamARN string
}

// Shards lists every shard of the stream, following DescribeStream's pages.
func (s *dynamoStream) Shards(ctx context.Context) ([]string, error) {
	var ids []string
	var start *string
	for {
		out, err := s.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn:             aws.String(s.streamARN),
			ExclusiveStartShardId: start,
		})
		if err != nil {
			return nil, fmt.Errorf("local: describe stream: %w", err)
		}
		for _, sh := range out.StreamDescription.Shards {
			ids = append(ids, aws.ToString(sh.ShardId))
		}
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return ids, nil
		}
	}
}

// Iterator returns a TRIM_HORIZON iterator, a LATEST one for latestPosition, or
// AFTER_SEQUENCE_NUMBER after.
func (s *dynamoStream) Iterator(ctx context.Context, shardID, after string) (string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{
		StreamArn:         aws.String(s.streamARN),
		ShardId:           aws.String(shardID),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	}
	switch after {
	case "":
	case latestPosition:
		in.ShardIteratorType = types.ShardIteratorTypeLatest
	default:
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = aws.String(after)
	}
	out, err := s.api.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("local: get shard iterator: %w", err)
	}
	return aws.ToString(out.ShardIterator), nil
}

// Records reads one page of records, converted to the shape Lambda delivers them in.
func (s *dynamoStream) Records(ctx context.Context, iterator string, limit int) ([]events.DynamoDBEventRecord, string, error) {
	out, err := s.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
		ShardIterator: aws.String(iterator),
		Limit:         aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, "", fmt.Errorf("local: get records: %w", err)
	}
	recs := make([]events.DynamoDBEventRecord, len(out.Records))
	for i, r := range out.Records {
		if recs[i], err = dynamostore.EventRecord(r, s.streamARN); err != nil {
			return nil, "", fmt.Errorf("local: get records: %w", err)
		}
	}
	return recs, aws.ToString(out.NextShardIterator), nil
}
