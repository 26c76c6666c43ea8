package dynamostore

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// EventRecord converts a record read with the DynamoDB Streams API (GetRecords) into the
// record Lambda's event source mapping delivers, so a poller (the local stack, a test)
// can feed real stream records to the processor. streamARN becomes its eventSourceARN,
// which GetRecords does not return.
func EventRecord(r streamtypes.Record, streamARN string) (events.DynamoDBEventRecord, error) {
	rec := events.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(r.AwsRegion),
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		EventSource:    aws.ToString(r.EventSource),
		EventVersion:   aws.ToString(r.EventVersion),
		EventSourceArn: streamARN,
	}
	if r.UserIdentity != nil {
		rec.UserIdentity = &events.DynamoDBUserIdentity{
			Type:        aws.ToString(r.UserIdentity.Type),
			PrincipalID: aws.ToString(r.UserIdentity.PrincipalId),
		}
	}
	sr := r.Dynamodb
	if sr == nil {
		return rec, fmt.Errorf("dynamostore: stream record %s has no dynamodb part", rec.EventID)
	}
	var err error
	if rec.Change.Keys, err = streamImage(sr.Keys); err != nil {
		return rec, err
	}
	if rec.Change.NewImage, err = streamImage(sr.NewImage); err != nil {
		return rec, err
	}
	if rec.Change.OldImage, err = streamImage(sr.OldImage); err != nil {
		return rec, err
	}
	if sr.ApproximateCreationDateTime != nil {
		rec.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *sr.ApproximateCreationDateTime}
	}
	rec.Change.SequenceNumber = aws.ToString(sr.SequenceNumber)
	rec.Change.SizeBytes = aws.ToInt64(sr.SizeBytes)
	rec.Change.StreamViewType = string(sr.StreamViewType)
	return rec, nil
}
