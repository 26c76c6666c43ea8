package bench

import (
	"math"

	"github.com/streamer-go/streamer/runtime/local"
)

// PricesAsOf dates ListPrices. Check them against the AWS pricing pages before relying
// on the figures: https://aws.amazon.com/api-gateway/pricing/,
// https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/dynamodb/pricing/on-demand/.
const PricesAsOf = "2026-11"

// Prices are AWS list prices in USD for us-east-1.
type Prices struct {
	AsOf string `json:"as_of"`
	// APIGatewayMessage is per WebSocket message (32 KB units), first billion a month:
	// $1.00 per million.
	APIGatewayMessage float64 `json:"apigateway_message"`
	// APIGatewayConnectionMinute is per connection minute: $0.25 per million.
	APIGatewayConnectionMinute float64 `json:"apigateway_connection_minute"`
	// LambdaRequest is per invocation: $0.20 per million.
	LambdaRequest float64 `json:"lambda_request"`
	// LambdaGBSecond is per GB-second on arm64 (Graviton), first 7.5 billion a month:
	// $0.0000133334.
	LambdaGBSecond float64 `json:"lambda_gb_second"`
	// WriteUnit is per on-demand write request unit (1 KB of item): $0.625 per million,
	// after the November 2024 price cut.
	WriteUnit float64 `json:"dynamodb_write_unit"`
	// ReadUnit is per on-demand read request unit (a strongly consistent read of up to
	// 4 KB): $0.125 per million.
	ReadUnit float64 `json:"dynamodb_read_unit"`
	// StreamRead is per DynamoDB Streams GetRecords call made by your own reader: $0.02
	// per 100,000. Reads by a Lambda event source mapping (Streamer's processor) are free,
	// so the cost figures price the measured stream reads at StreamReadLambda.
	StreamRead       float64 `json:"dynamodb_stream_read"`
	StreamReadLambda float64 `json:"dynamodb_stream_read_lambda"`
}

// ListPrices returns the us-east-1 list prices as of PricesAsOf.
func ListPrices() Prices {
	return Prices{
		AsOf:                       PricesAsOf,
		APIGatewayMessage:          1.00 / 1e6,
		APIGatewayConnectionMinute: 0.25 / 1e6,
		LambdaRequest:              0.20 / 1e6,
		LambdaGBSecond:             0.0000133334,
		WriteUnit:                  0.625 / 1e6,
		ReadUnit:                   0.125 / 1e6,
		StreamRead:                 0.02 / 1e5,
		StreamReadLambda:           0,
	}
}

// Usage is the AWS usage of one request, measured by the local stack's call counters.
type Usage struct {
	DynamoDBWrites    float64            `json:"dynamodb_writes"`      // PutItem, UpdateItem, DeleteItem calls
	WriteUnits        float64            `json:"dynamodb_write_units"` // WRU: a write per 1 KB of item
	DynamoDBReads     float64            `json:"dynamodb_reads"`       // GetItem and Query calls (1 RRU each: items under 4 KB)
	StreamGetRecords  float64            `json:"stream_get_records"`   // the event source mapping's polls in the window
	PostToConnection  float64            `json:"post_to_connection"`   // @connections posts (progress, results)
	LambdaInvocations float64            `json:"lambda_invocations"`   // every function
	Invocations       map[string]float64 `json:"invocations_by_function"`
	LambdaGBSeconds   float64            `json:"lambda_gb_seconds"` // billed duration x memory
	APIMessages       float64            `json:"apigateway_messages"`
	ConnectionMinutes float64            `json:"connection_minutes"`
}

// CostBreakdown is a cost in USD, by priced dimension.
type CostBreakdown struct {
	APIMessages       float64 `json:"apigateway_messages"`
	ConnectionMinutes float64 `json:"apigateway_connection_minutes"`
	LambdaRequests    float64 `json:"lambda_requests"`
	LambdaCompute     float64 `json:"lambda_compute"`
	WriteUnits        float64 `json:"dynamodb_writes"`
	ReadUnits         float64 `json:"dynamodb_reads"`
	Streams           float64 `json:"dynamodb_streams"`
	Total             float64 `json:"total"`
}

// ActionCost is the measured usage and the cost of one action.
type ActionCost struct {
	Action     string        `json:"action"`
	Requests   int           `json:"requests"`
	PerRequest Usage         `json:"per_request"`
	PerMillion CostBreakdown `json:"usd_per_million_requests"`
}

// UsageOf turns the counters of a window (a Snapshot difference) in which n requests ran
// into the usage of one request. extraWriteUnits are the write units above one per write
// of the whole window (items over 1 KB, such as a stored result).
func UsageOf(d local.Snapshot, n int, extraWriteUnits float64) Usage {
	if n <= 0 {
		return Usage{}
	}
	per := 1 / float64(n)
	var u Usage
	for _, ops := range d.DynamoDB {
		u.DynamoDBWrites += float64(ops[local.OpPutItem] + ops[local.OpUpdateItem] + ops[local.OpDeleteItem])
		u.DynamoDBReads += float64(ops[local.OpGetItem])
	}
	u.WriteUnits = u.DynamoDBWrites + extraWriteUnits
	u.StreamGetRecords = float64(d.DynamoDBStreams[local.StreamGetRecords])
	u.PostToConnection = float64(d.ConnectionsAPI[local.APIPostToConnection])
	u.Invocations = make(map[string]float64, len(d.Lambda))
	for fn, l := range d.Lambda {
		if l.Invocations == 0 {
			continue
		}
		u.Invocations[fn] = float64(l.Invocations) * per
		u.LambdaInvocations += float64(l.Invocations)
		u.LambdaGBSeconds += l.GBSeconds
	}
	u.APIMessages = float64(d.APIGateway.BilledMessages)
	u.ConnectionMinutes = d.APIGateway.ConnectionMinutes

	u.DynamoDBWrites *= per
	u.WriteUnits *= per
	u.DynamoDBReads *= per
	u.StreamGetRecords *= per
	u.PostToConnection *= per
	u.LambdaInvocations *= per
	u.LambdaGBSeconds *= per
	u.APIMessages *= per
	u.ConnectionMinutes *= per
	return u
}

// Cost prices one request's usage, scaled to a million requests.
func (p Prices) Cost(u Usage) CostBreakdown {
	const million = 1e6
	c := CostBreakdown{
		APIMessages:       u.APIMessages * p.APIGatewayMessage * million,
		ConnectionMinutes: u.ConnectionMinutes * p.APIGatewayConnectionMinute * million,
		LambdaRequests:    u.LambdaInvocations * p.LambdaRequest * million,
		LambdaCompute:     u.LambdaGBSeconds * p.LambdaGBSecond * million,
		WriteUnits:        u.WriteUnits * p.WriteUnit * million,
		ReadUnits:         u.DynamoDBReads * p.ReadUnit * million,
		Streams:           u.StreamGetRecords * p.StreamReadLambda * million,
	}
	c.Total = c.APIMessages + c.ConnectionMinutes + c.LambdaRequests + c.LambdaCompute + c.WriteUnits + c.ReadUnits + c.Streams
	return c
}

// itemOverheadBytes is the size of a Requests item without its payload and result: keys,
// status, timestamps, lease, progress (about 0.5 KB as dynamostore writes it).
const itemOverheadBytes = 512

// ExtraWriteUnits returns the write units a request's last write costs above one: a
// write costs one WRU per started KB of the item (the larger of its old and new image),
// and the finishing write carries the payload and the result.
func ExtraWriteUnits(payloadBytes, resultBytes int) float64 {
	units := math.Ceil(float64(itemOverheadBytes+payloadBytes+resultBytes) / 1024)
	return max(units-1, 0)
}
