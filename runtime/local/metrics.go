package local

import (
	"errors"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/local/awsapi"
	"github.com/streamer-go/streamer/runtime/store"
)

// Table names used as keys of the DynamoDB counters (the logical tables, whatever their
// physical names are).
const (
	TableConnections = "connections"
	TableRequests    = "requests"
	TableLimits      = "limits"
)

// DynamoDB operations counted per table. A store method counts as the one DynamoDB call
// dynamostore makes for it; a conditional write that fails still counts (DynamoDB bills
// it) and also counts as OpConditionalCheckFailed.
const (
	OpPutItem                = "PutItem"
	OpGetItem                = "GetItem"
	OpUpdateItem             = "UpdateItem"
	OpDeleteItem             = "DeleteItem"
	OpBatchGetItem           = "BatchGetItem"
	OpQuery                  = "Query"
	OpConditionalCheckFailed = "ConditionalCheckFailed"
)

// Stream counters: the DynamoDB Streams API calls of the event source mapping and what
// happened to the records it read.
const (
	StreamDescribeStream   = "DescribeStream"
	StreamGetShardIterator = "GetShardIterator"
	StreamGetRecords       = "GetRecords"
	StreamRecordsRead      = "records_read"      // records returned by GetRecords
	StreamRecordsFiltered  = "records_filtered"  // dropped by the filter: cost no invocation
	StreamRecordsDelivered = "records_delivered" // handed to the processor (retries included)
	StreamRecordsRetried   = "records_retried"   // redelivered after a failure
	StreamRecordsDiscarded = "records_discarded" // retries exhausted: sent to the on-failure destination
)

// @connections API operations and outcomes.
const (
	APIPostToConnection = "PostToConnection"
	APIGetConnection    = "GetConnection"
	APIDeleteConnection = "DeleteConnection"
	APIGoneException    = "GoneException"
	APIPayloadTooLarge  = "PayloadTooLargeException"
	APILimitExceeded    = "LimitExceededException"
	APIPostedBytes      = "posted_bytes"
)

// Billing units.
const (
	// apiBilledMessageBytes: API Gateway bills WebSocket messages in 32 KB units.
	apiBilledMessageBytes = 32 * 1024
	// lambdaBillingGranularity: Lambda bills duration rounded up to the millisecond.
	lambdaBillingGranularity = time.Millisecond
)

// counterSet is a fixed set of named counters; the map is never written after
// construction, so reads need no lock.
type counterSet map[string]*atomic.Int64

func newCounterSet(names []string) counterSet {
	s := make(counterSet, len(names))
	for _, n := range names {
		s[n] = new(atomic.Int64)
	}
	return s
}

func (s counterSet) add(name string, n int64) { s[name].Add(n) }

func (s counterSet) snapshot() map[string]int64 {
	out := make(map[string]int64, len(s))
	for k, v := range s {
		out[k] = v.Load()
	}
	return out
}

// lambdaCounters are the counters of one function.
type lambdaCounters struct {
	invocations, errors, timeouts atomic.Int64
	durationNS, billedMS          atomic.Int64
	memoryMB                      int
}

// counters holds the count of every AWS-equivalent call of the local stack: DynamoDB
// operations per table, DynamoDB Streams polls, Lambda invocations with their durations,
// @connections calls, and API Gateway connections and messages. It is safe for
// concurrent use.
type counters struct {
	start   time.Time
	dynamo  dynamoCounters
	streams counterSet
	lambda  map[string]*lambdaCounters
	connAPI counterSet

	connects, rejected, disconnects, open atomic.Int64
	messagesIn, messagesOut, billedMsgs   atomic.Int64
	integrationTimeouts, closedConnNS     atomic.Int64
}

// newCounters returns zeroed counters for the functions in memoryMB (function name ->
// memory size: GB-seconds are billed duration x memory).
func newCounters(memoryMB map[string]int) *counters {
	m := &counters{
		start:  time.Now(),
		dynamo: dynamoCounters{tables: make(map[string]map[string]int64)},
		streams: newCounterSet([]string{StreamDescribeStream, StreamGetShardIterator, StreamGetRecords, StreamRecordsRead,
			StreamRecordsFiltered, StreamRecordsDelivered, StreamRecordsRetried, StreamRecordsDiscarded}),
		lambda:  make(map[string]*lambdaCounters, len(memoryMB)),
		connAPI: newCounterSet([]string{APIPostToConnection, APIGetConnection, APIDeleteConnection, APIGoneException, APIPayloadTooLarge, APILimitExceeded, APIPostedBytes}),
	}
	for f, mb := range memoryMB {
		m.lambda[f] = &lambdaCounters{memoryMB: mb}
	}
	return m
}

// addFunction adds the counters of a function; call it before the stack serves.
func (m *counters) addFunction(name string, memoryMB int) {
	m.lambda[name] = &lambdaCounters{memoryMB: memoryMB}
}

// dynamoCounters count DynamoDB calls per table and operation.
type dynamoCounters struct {
	mu     sync.Mutex
	tables map[string]map[string]int64
}

// dynamoCall counts one DynamoDB call on table, and a failed condition when err says so.
func (m *counters) dynamoCall(table, op string, err error) {
	m.dynamoOp(table, op, errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicate))
}

// dynamoOp counts one DynamoDB call on table; a call that failed its condition also
// counts as OpConditionalCheckFailed.
func (m *counters) dynamoOp(table, op string, conditionFailed bool) {
	d := &m.dynamo
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tables[table]
	if t == nil {
		t = make(map[string]int64)
		d.tables[table] = t
	}
	t[op]++
	if conditionFailed {
		t[OpConditionalCheckFailed]++
	}
}

// invocation records one Lambda invocation of fn that ran for d.
func (m *counters) invocation(fn string, d time.Duration, failed, timedOut bool) {
	c := m.lambda[fn]
	c.invocations.Add(1)
	c.durationNS.Add(int64(d))
	c.billedMS.Add(int64(math.Ceil(float64(d) / float64(lambdaBillingGranularity))))
	if failed {
		c.errors.Add(1)
	}
	if timedOut {
		c.timeouts.Add(1)
	}
}

// message counts one WebSocket message of n bytes through API Gateway.
func (m *counters) message(in bool, n int) {
	if in {
		m.messagesIn.Add(1)
	} else {
		m.messagesOut.Add(1)
	}
	m.billedMsgs.Add(int64(max(1, (n+apiBilledMessageBytes-1)/apiBilledMessageBytes)))
}

// LambdaStats are the counters of one function.
type LambdaStats struct {
	Invocations int64   `json:"invocations"`
	Errors      int64   `json:"errors"`
	Timeouts    int64   `json:"timeouts"`
	DurationMS  float64 `json:"duration_ms"` // summed run time
	BilledMS    int64   `json:"billed_ms"`   // summed, each invocation rounded up to 1 ms
	MemoryMB    int     `json:"memory_mb"`   // the memory size assumed for GB-seconds
	GBSeconds   float64 `json:"gb_seconds"`  // BilledMS x MemoryMB, in GB-seconds
}

// APIGatewayStats are the WebSocket API's counters.
type APIGatewayStats struct {
	Connects            int64   `json:"connects"`             // connections established
	Rejected            int64   `json:"rejected"`             // refused at $connect (authorizer or connect)
	Disconnects         int64   `json:"disconnects"`          // connections closed
	Open                int64   `json:"open"`                 // connections open now
	MessagesIn          int64   `json:"messages_in"`          // client-to-server messages
	MessagesOut         int64   `json:"messages_out"`         // server-to-client messages (route responses and posts)
	BilledMessages      int64   `json:"billed_messages"`      // messages in 32 KB billing units
	ConnectionMinutes   float64 `json:"connection_minutes"`   // summed connection time
	IntegrationTimeouts int64   `json:"integration_timeouts"` // router calls past the 29 s limit
}

// Snapshot is a copy of every counter at one time; GET /metrics serves it as JSON.
// Subtract two snapshots to get the calls of one run.
type Snapshot struct {
	At              time.Time                   `json:"at"`
	UptimeSeconds   float64                     `json:"uptime_seconds"`
	DynamoDB        map[string]map[string]int64 `json:"dynamodb"`         // table -> operation -> calls
	DynamoDBStreams map[string]int64            `json:"dynamodb_streams"` // API calls and record counts
	Lambda          map[string]LambdaStats      `json:"lambda"`           // function -> stats
	ConnectionsAPI  map[string]int64            `json:"connections_api"`  // @connections calls and outcomes
	APIGateway      APIGatewayStats             `json:"apigateway"`
	// ConnectionManager is the functions' side of the @connections calls: deliveries,
	// split results, retries and the latency of each call (in-process functions only).
	ConnectionManager connection.Stats `json:"connection_manager"`
	// Queues are the SQS stand-in's queues (template mode): messages sent to each (a
	// dead-letter queue's failures) and held now.
	Queues map[string]awsapi.QueueStats `json:"sqs,omitempty"`
}

// snapshot copies the counters; openConnNS is the summed age of the open connections.
func (m *counters) snapshot(openConnNS int64) Snapshot {
	now := time.Now()
	s := Snapshot{
		At:              now,
		UptimeSeconds:   now.Sub(m.start).Seconds(),
		DynamoDB:        make(map[string]map[string]int64),
		DynamoDBStreams: m.streams.snapshot(),
		Lambda:          make(map[string]LambdaStats, len(m.lambda)),
		ConnectionsAPI:  m.connAPI.snapshot(),
		APIGateway: APIGatewayStats{
			Connects:            m.connects.Load(),
			Rejected:            m.rejected.Load(),
			Disconnects:         m.disconnects.Load(),
			Open:                m.open.Load(),
			MessagesIn:          m.messagesIn.Load(),
			MessagesOut:         m.messagesOut.Load(),
			BilledMessages:      m.billedMsgs.Load(),
			ConnectionMinutes:   time.Duration(m.closedConnNS.Load() + openConnNS).Minutes(),
			IntegrationTimeouts: m.integrationTimeouts.Load(),
		},
	}
	m.dynamo.mu.Lock()
	for t, c := range m.dynamo.tables {
		s.DynamoDB[t] = maps.Clone(c)
	}
	m.dynamo.mu.Unlock()
	for f, c := range m.lambda {
		billed := c.billedMS.Load()
		s.Lambda[f] = LambdaStats{
			Invocations: c.invocations.Load(),
			Errors:      c.errors.Load(),
			Timeouts:    c.timeouts.Load(),
			DurationMS:  float64(c.durationNS.Load()) / float64(time.Millisecond),
			BilledMS:    billed,
			MemoryMB:    c.memoryMB,
			GBSeconds:   gbSeconds(billed, c.memoryMB),
		}
	}
	return s
}

func gbSeconds(billedMS int64, memoryMB int) float64 {
	return float64(billedMS) / 1000 * float64(memoryMB) / 1024
}

// Sub returns the calls made between prev and s (s - prev, counter by counter); Open and
// the connection manager's slowest call are s's.
func (s Snapshot) Sub(prev Snapshot) Snapshot {
	d := Snapshot{
		At:                s.At,
		UptimeSeconds:     s.At.Sub(prev.At).Seconds(),
		DynamoDB:          make(map[string]map[string]int64, len(s.DynamoDB)),
		DynamoDBStreams:   subCounts(s.DynamoDBStreams, prev.DynamoDBStreams),
		Lambda:            make(map[string]LambdaStats, len(s.Lambda)),
		ConnectionsAPI:    subCounts(s.ConnectionsAPI, prev.ConnectionsAPI),
		ConnectionManager: s.ConnectionManager.Sub(prev.ConnectionManager),
		APIGateway: APIGatewayStats{
			Connects:            s.APIGateway.Connects - prev.APIGateway.Connects,
			Rejected:            s.APIGateway.Rejected - prev.APIGateway.Rejected,
			Disconnects:         s.APIGateway.Disconnects - prev.APIGateway.Disconnects,
			Open:                s.APIGateway.Open,
			MessagesIn:          s.APIGateway.MessagesIn - prev.APIGateway.MessagesIn,
			MessagesOut:         s.APIGateway.MessagesOut - prev.APIGateway.MessagesOut,
			BilledMessages:      s.APIGateway.BilledMessages - prev.APIGateway.BilledMessages,
			ConnectionMinutes:   s.APIGateway.ConnectionMinutes - prev.APIGateway.ConnectionMinutes,
			IntegrationTimeouts: s.APIGateway.IntegrationTimeouts - prev.APIGateway.IntegrationTimeouts,
		},
	}
	for t, c := range s.DynamoDB {
		d.DynamoDB[t] = subCounts(c, prev.DynamoDB[t])
	}
	if s.Queues != nil {
		d.Queues = make(map[string]awsapi.QueueStats, len(s.Queues))
		for q, c := range s.Queues {
			d.Queues[q] = awsapi.QueueStats{Sent: c.Sent - prev.Queues[q].Sent, Messages: c.Messages}
		}
	}
	for f, c := range s.Lambda {
		p := prev.Lambda[f]
		billed := c.BilledMS - p.BilledMS
		d.Lambda[f] = LambdaStats{
			Invocations: c.Invocations - p.Invocations,
			Errors:      c.Errors - p.Errors,
			Timeouts:    c.Timeouts - p.Timeouts,
			DurationMS:  c.DurationMS - p.DurationMS,
			BilledMS:    billed,
			MemoryMB:    c.MemoryMB,
			GBSeconds:   gbSeconds(billed, c.MemoryMB),
		}
	}
	return d
}

func subCounts(cur, prev map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(cur))
	maps.Copy(out, cur)
	for k, v := range prev {
		out[k] -= v
	}
	return out
}
