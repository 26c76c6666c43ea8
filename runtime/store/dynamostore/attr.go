package dynamostore

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/store"
)

// The request codec is store.EncodeImage/DecodeImage over events.DynamoDBAttributeValue;
// these convert between that type and the SDK's, value for value, so the item written
// is exactly the image the stream carries.

// toItem converts an image to a DynamoDB item.
func toItem(img map[string]events.DynamoDBAttributeValue) dynamo.Item {
	item := make(dynamo.Item, len(img))
	for k, v := range img {
		item[k] = toAV(v)
	}
	return item
}

func toAV(v events.DynamoDBAttributeValue) types.AttributeValue {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}
	case events.DataTypeList:
		l := make([]types.AttributeValue, 0, len(v.List()))
		for _, e := range v.List() {
			l = append(l, toAV(e))
		}
		return &types.AttributeValueMemberL{Value: l}
	default: // events.DataTypeMap
		m := make(map[string]types.AttributeValue, len(v.Map()))
		for k, e := range v.Map() {
			m[k] = toAV(e)
		}
		return &types.AttributeValueMemberM{Value: m}
	}
}

// fromItem converts a DynamoDB item to an image.
func fromItem(item dynamo.Item) (map[string]events.DynamoDBAttributeValue, error) {
	img := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, v := range item {
		e, err := fromAV(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", store.ErrInvalidImage, k, err)
		}
		img[k] = e
	}
	return img, nil
}

func fromAV(v types.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), nil
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), nil
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), nil
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), nil
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), nil
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), nil
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), nil
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, 0, len(v.Value))
		for _, e := range v.Value {
			c, err := fromAV(e)
			if err != nil {
				return c, err
			}
			l = append(l, c)
		}
		return events.NewListAttribute(l), nil
	case *types.AttributeValueMemberM:
		m := make(map[string]events.DynamoDBAttributeValue, len(v.Value))
		for k, e := range v.Value {
			c, err := fromAV(e)
			if err != nil {
				return c, err
			}
			m[k] = c
		}
		return events.NewMapAttribute(m), nil
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported attribute value %T", v)
}

// streamImage converts an image of the DynamoDB Streams API to the events type, through
// the DynamoDB item type (the two SDK types hold the same values).
func streamImage(img map[string]streamtypes.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if img == nil {
		return nil, nil
	}
	item, err := attributevalue.FromDynamoDBStreamsMap(img)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalidImage, err)
	}
	return fromItem(item)
}
