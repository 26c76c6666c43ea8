package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/streamer-go/streamer/runtime/local/eventfilter"
	"github.com/streamer-go/streamer/runtime/local/template"
)

// mapping is one AWS::Lambda::EventSourceMapping on a DynamoDB stream, read from the
// template.
type mapping struct {
	logicalID      string
	streamARN      string
	f              *tmplFunction
	filters        []*eventfilter.Pattern
	batchSize      int
	lanes          int
	retries        int
	bisect         bool
	reportFailures bool
	maxAge         time.Duration
	latest         bool
	onFailure      string
}

// readMappings reads the template's event source mappings on DynamoDB streams.
func (ts *tmplStack) readMappings() error {
	for _, res := range ts.t.OfType("AWS::Lambda::EventSourceMapping") {
		if !ts.r.Exists(res) {
			continue
		}
		m, err := ts.newMapping(res)
		if err != nil {
			return err
		}
		if m != nil {
			ts.maps = append(ts.maps, m)
		}
	}
	return nil
}

func (ts *tmplStack) newMapping(res *template.Resource) (*mapping, error) {
	props, err := ts.r.Properties(res)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	source, _ := props["EventSourceArn"].(string)
	if !strings.Contains(source, ":dynamodb:") || !strings.Contains(source, "/stream/") {
		ts.findings = append(ts.findings, "event source mapping "+res.LogicalID+": source "+source+" (only DynamoDB streams of the template's tables)")
		return nil, nil
	}
	if enabled, ok := props["Enabled"].(bool); ok && !enabled {
		ts.findings = append(ts.findings, "event source mapping "+res.LogicalID+" is disabled")
		return nil, nil
	}
	name, _ := props["FunctionName"].(string)
	f := ts.function(name)
	if f == nil {
		return nil, fmt.Errorf("local: %s: no function %q in the template", res.LogicalID, name)
	}
	num := func(k string, def int) int {
		if v, ok := props[k].(float64); ok {
			return int(v)
		}
		return def
	}
	m := &mapping{logicalID: res.LogicalID, streamARN: source, f: f,
		batchSize: num("BatchSize", 100), lanes: max(1, min(10, num("ParallelizationFactor", 1))),
		retries: num("MaximumRetryAttempts", -1), onFailure: destinationARN(props, "OnFailure"),
		maxAge: max(0, time.Duration(num("MaximumRecordAgeInSeconds", -1))*time.Second)}
	if fc, ok := props["FilterCriteria"].(map[string]any); ok {
		filters, _ := fc["Filters"].([]any)
		for i, raw := range filters {
			fm, _ := raw.(map[string]any)
			text, _ := fm["Pattern"].(string)
			pat, err := eventfilter.Parse(text)
			if err != nil {
				return nil, fmt.Errorf("local: %s: filter %d: %w (Lambda refuses the mapping)", res.LogicalID, i, err)
			}
			m.filters = append(m.filters, pat)
		}
	}
	responseTypes, _ := props["FunctionResponseTypes"].([]any)
	for _, t := range responseTypes {
		m.reportFailures = m.reportFailures || t == "ReportBatchItemFailures"
	}
	m.bisect, _ = props["BisectBatchOnFunctionError"].(bool)
	start, _ := props["StartingPosition"].(string)
	m.latest = start == "LATEST"
	for _, k := range []string{"MaximumBatchingWindowInSeconds", "TumblingWindowInSeconds", "ScalingConfig", "MetricsConfig"} {
		if _, ok := props[k]; ok {
			ts.findings = append(ts.findings, "event source mapping "+res.LogicalID+": "+k)
		}
	}
	return m, nil
}

// newPoller is the poller that runs the mapping. Lambda reads the stream with the
// function's execution role: through the endpoint, so the role's policies decide.
func (m *mapping) newPoller(s *Stack, ts *tmplStack) *poller {
	f := m.f
	cfg := aws.Config{
		Region:      s.cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(f.principal.AccessKeyID, f.principal.SecretAccessKey, f.principal.SessionToken),
		HTTPClient:  &http.Client{Transport: s.transport},
	}
	api := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(ts.endpoint.URL()) })
	return &poller{
		src:            &dynamoStream{api: api, streamARN: m.streamARN},
		m:              s.m,
		log:            s.cfg.Logger.With("mapping", m.logicalID, "function", f.key),
		interval:       s.cfg.PollInterval,
		batchSize:      m.batchSize,
		lanes:          m.lanes,
		retries:        m.retries,
		bisect:         m.bisect,
		reportFailures: m.reportFailures,
		maxAge:         m.maxAge,
		latest:         m.latest,
		filter:         m.admits,
		shards:         make(map[string]bool),
		process: func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return invoke(s.base, s.rt, f.key, f.timeout, f.timeout, func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return invokeJSON[events.DynamoDBEvent, events.DynamoDBEventResponse](ctx, f, ev)
			}, ev)
		},
		onFailure: func(recs []events.DynamoDBEventRecord, reason string) {
			if m.onFailure != "" {
				ts.lambda.send(f, m.onFailure, streamFailureRecord(f, m.streamARN, recs, reason))
			}
		},
	}
}

// admits reports whether a record passes the mapping's filters (every record, without
// filters), matched on the record as Lambda delivers it.
func (m *mapping) admits(rec *events.DynamoDBEventRecord) bool {
	if len(m.filters) == 0 {
		return true
	}
	doc, err := json.Marshal(rec)
	if err != nil {
		return false
	}
	ok, err := eventfilter.MatchAny(m.filters, doc)
	return err == nil && ok
}

// startMappings starts polling every mapping's stream.
func (ts *tmplStack) startMappings(s *Stack) {
	pollCtx, stop := context.WithCancel(s.base)
	s.stopPoll = stop
	for _, m := range ts.maps {
		p := m.newPoller(s, ts)
		p.begin(pollCtx)
		s.polling.Go(func() { p.run(pollCtx) })
	}
}

// streamFailureRecord is what Lambda sends to a stream mapping's on-failure destination:
// the batch's place in the stream, not its records.
func streamFailureRecord(f *tmplFunction, streamARN string, recs []events.DynamoDBEventRecord, reason string) string {
	condition := "RetryAttemptsExhausted"
	if strings.Contains(reason, "age") {
		condition = "RecordAgeExceeded"
	}
	first, last := recs[0], recs[len(recs)-1]
	doc := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{
			"requestId": newRequestID(), "functionArn": f.arn, "condition": condition, "approximateInvokeCount": 1,
		},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"DDBStreamBatchInfo": map[string]any{
			"shardId":                         "",
			"startSequenceNumber":             first.Change.SequenceNumber,
			"endSequenceNumber":               last.Change.SequenceNumber,
			"approximateArrivalOfFirstRecord": first.Change.ApproximateCreationDateTime.UTC().Format(time.RFC3339),
			"approximateArrivalOfLastRecord":  last.Change.ApproximateCreationDateTime.UTC().Format(time.RFC3339),
			"batchSize":                       len(recs),
			"streamArn":                       streamARN,
		},
	}
	b, _ := json.Marshal(doc) // plain values always marshal
	return string(b)
}
