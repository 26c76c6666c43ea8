package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/streamer-go/streamer/runtime/local/awsapi"
	"github.com/streamer-go/streamer/runtime/local/runtimeapi"
)

// Lambda's limits and defaults for asynchronous invocations.
const (
	// maxAsyncPayload is the largest event an asynchronous invocation accepts.
	maxAsyncPayload = 256 * 1024
	// defaultAsyncRetries and defaultAsyncMaxAge apply without an EventInvokeConfig.
	defaultAsyncRetries = 2
	defaultAsyncMaxAge  = 6 * time.Hour
)

// lambdaService is the stack's Lambda in template mode: the Invoke API (synchronous,
// and asynchronous with the function's event invoke config: retries, maximum event age,
// destinations) over the functions' environments. It implements awsapi.LambdaService.
type lambdaService struct {
	functions  map[string]*tmplFunction // by ARN
	rt         *lambdaRuntime
	base       context.Context
	endpoint   *awsapi.Endpoint
	retryDelay time.Duration // before the first retry of a failed asynchronous invocation
	log        *slog.Logger
}

var _ awsapi.LambdaService = (*lambdaService)(nil)

// FunctionARN finds a function by name, ARN or partial ARN.
func (l *lambdaService) FunctionARN(nameOrARN string) (string, bool) {
	id := strings.TrimSuffix(nameOrARN, ":$LATEST")
	for arn, f := range l.functions {
		if id == arn || id == f.name || strings.HasSuffix(arn, ":"+id) {
			return arn, true
		}
	}
	return "", false
}

// Invoke runs a function for the Invoke API.
func (l *lambdaService) Invoke(ctx context.Context, caller *awsapi.Principal, functionARN, invocationType string, payload []byte) (*awsapi.InvokeResult, error) {
	f := l.functions[functionARN]
	switch invocationType {
	case "DryRun":
		return &awsapi.InvokeResult{Status: 204}, nil
	case "Event":
		if len(payload) > maxAsyncPayload {
			return nil, fmt.Errorf("%w: %d bytes, the limit of an asynchronous invocation is %d", awsapi.ErrPayloadTooLarge, len(payload), maxAsyncPayload)
		}
		l.queue(f, payload, caller.Name)
		return &awsapi.InvokeResult{Status: 202}, nil
	}
	resp, err := l.run(ctx, f, payload, false)
	if errors.Is(err, runtimeapi.ErrThrottled) {
		return nil, awsapi.ErrTooManyRequests
	}
	if err != nil {
		return nil, err
	}
	return &awsapi.InvokeResult{Status: 200, Payload: resp.Payload, FunctionError: resp.FunctionError}, nil
}

// run is one counted invocation of f.
func (l *lambdaService) run(ctx context.Context, f *tmplFunction, payload []byte, wait bool) (*runtimeapi.Response, error) {
	begun := time.Now()
	resp, err := f.pool.Invoke(ctx, newRequestID(), payload, wait)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(begun)
	l.rt.m.invocation(f.key, min(elapsed, f.timeout), resp.Failed(), resp.ErrorType == runtimeapi.ErrorTypeTimeout)
	return resp, nil
}

// queue accepts an asynchronous invocation: it runs on its own goroutine, waiting for a
// free environment when the function is at its concurrency, and is retried after a
// failure as the function's event invoke config says, then sent to its on-failure
// destination.
func (l *lambdaService) queue(f *tmplFunction, payload []byte, caller string) {
	l.rt.running.Add(1)
	go func() {
		defer l.rt.running.Done()
		l.runAsync(f, payload, caller, time.Now())
	}()
}

func (l *lambdaService) runAsync(f *tmplFunction, payload []byte, caller string, queued time.Time) {
	log := l.log.With("function", f.key, "invoked_by", caller)
	delay := l.retryDelay
	for attempt := 1; ; attempt++ {
		if age := time.Since(queued); age > f.async.maxAge {
			log.Error("asynchronous event older than the maximum event age: dropped to the on-failure destination", "age", age)
			l.destination(f, f.async.onFailure, payload, nil, "EventAgeExceeded", attempt-1)
			return
		}
		resp, err := l.run(l.base, f, payload, true)
		if err != nil {
			log.Warn("asynchronous invocation not run", "error", err)
			return
		}
		if !resp.Failed() {
			if f.async.onSuccess != "" {
				l.destination(f, f.async.onSuccess, payload, resp, "Success", attempt)
			}
			return
		}
		if attempt > f.async.retries || l.base.Err() != nil {
			log.Error("asynchronous invocation failed after its retries: sent to the on-failure destination",
				"attempts", attempt, "error_type", resp.ErrorType, "error", resp.ErrorMessage, "destination", f.async.onFailure)
			l.destination(f, f.async.onFailure, payload, resp, "RetriesExhausted", attempt)
			return
		}
		log.Warn("asynchronous invocation failed; Lambda retries it", "attempt", attempt, "error_type", resp.ErrorType, "error", resp.ErrorMessage, "retry_in", delay)
		sleep(l.base, delay)
		delay *= 2
	}
}

// destinationRecord is what Lambda sends to an asynchronous invocation's destination.
type destinationRecord struct {
	Version         string          `json:"version"`
	Timestamp       string          `json:"timestamp"`
	RequestContext  map[string]any  `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext map[string]any  `json:"responseContext"`
	ResponsePayload json.RawMessage `json:"responsePayload,omitempty"`
}

// destination sends an invocation record to arn (an SQS queue) with the function's role,
// as Lambda does; without one it is only logged.
func (l *lambdaService) destination(f *tmplFunction, arn string, payload []byte, resp *runtimeapi.Response, condition string, attempts int) {
	if arn == "" {
		return
	}
	rc := map[string]any{"statusCode": 200, "executedVersion": "$LATEST"}
	var out json.RawMessage
	if resp != nil {
		out = resp.Payload
		if resp.Failed() {
			rc["functionError"] = resp.FunctionError
		}
	}
	if !json.Valid(payload) {
		payload, _ = json.Marshal(string(payload)) // a string always marshals
	}
	rec := destinationRecord{
		Version:   "1.0",
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		RequestContext: map[string]any{
			"requestId": newRequestID(), "functionArn": f.arn + ":$LATEST", "condition": condition, "approximateInvokeCount": attempts,
		},
		RequestPayload:  payload,
		ResponseContext: rc,
		ResponsePayload: out,
	}
	body, _ := json.Marshal(rec) // valid JSON parts always marshal
	l.send(f, arn, string(body))
}

// send writes one destination message to the queue arn with f's role.
func (l *lambdaService) send(f *tmplFunction, arn, body string) {
	if !strings.Contains(arn, ":sqs:") {
		l.log.Warn("destination is not an SQS queue: not delivered locally", "function", f.key, "destination", arn)
		return
	}
	if err := l.endpoint.SendMessage(f.principal, arn, body); err != nil {
		l.log.Error("destination not written", "function", f.key, "destination", arn, "error", err)
	}
}
