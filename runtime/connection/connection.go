// Package connection pushes messages to WebSocket clients through the API Gateway
// Management API (the @connections callback API), with the real AWS SDK client.
//
// A Manager deletes the record of a connection API Gateway reports gone (410), retries
// throttling (429) and server errors (5xx) with jittered exponential backoff inside the
// caller's context, splits result messages over the 128 KiB message limit into parts
// (PROTOCOL.md) and refuses any other oversized message, so nothing is silently dropped.
// It counts what it does (Manager.Stats) at the cost of a few atomic adds per call.
package connection

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
)

// Errors returned by the Manager. They wrap the underlying cause; test with errors.Is.
var (
	// ErrGone: the connection no longer exists (410). Its record has been deleted; stop
	// sending to it.
	ErrGone = errors.New("connection: gone")
	// ErrPayloadTooLarge: the message is over the 128 KiB limit and is not a result
	// message that can be split, or API Gateway refused it (413).
	ErrPayloadTooLarge = errors.New("connection: payload too large")
	// ErrForbidden: API Gateway refused the call (403); the caller's IAM policy must allow
	// execute-api:ManageConnections on the API's @connections resource.
	ErrForbidden = errors.New("connection: forbidden (check IAM execute-api:ManageConnections)")
	// ErrThrottled: still throttled (429, LimitExceededException) after every retry.
	ErrThrottled = errors.New("connection: throttled")
	// ErrUnavailable: API Gateway kept failing (5xx or network errors) after every retry.
	ErrUnavailable = errors.New("connection: service unavailable")
)

// ConnectionManager sends messages to connected WebSocket clients: the interface for
// application code, which *Manager implements. The runtime's own components depend on a
// one-method port instead (router.Sender, progress.Sender). A message is any value that
// marshals to JSON, or a []byte / json.RawMessage sent as it is.
type ConnectionManager interface {
	// Send delivers one message to one connection.
	Send(ctx context.Context, connectionID string, message any) error
	// IsActive reports whether the connection still exists.
	IsActive(ctx context.Context, connectionID string) bool
	// Broadcast delivers one message to many connections and returns the failures joined.
	Broadcast(ctx context.Context, connectionIDs []string, message any) error
	// GetMetrics returns counters and latency figures as a map, cheap to call.
	GetMetrics() map[string]any
}

// API is the part of the API Gateway Management API the Manager calls; the SDK client
// (*apigatewaymanagementapi.Client, see NewAPIClient) implements it.
type API interface {
	PostToConnection(ctx context.Context, params *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	GetConnection(ctx context.Context, params *apigatewaymanagementapi.GetConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.GetConnectionOutput, error)
}

// Deleter removes connection records; the connection stores of packages dynamostore and
// memstore implement it.
type Deleter interface {
	Delete(ctx context.Context, connectionID string) error
}

var (
	_ API               = (*apigatewaymanagementapi.Client)(nil)
	_ ConnectionManager = (*Manager)(nil)
)

// defaultRegion signs requests when the configuration has no region, as with the local
// stack; in AWS the Lambda environment always sets one.
const defaultRegion = "us-east-1"

// NewAPIClient returns the SDK client for the @connections API at endpoint:
// https://{api-id}.execute-api.{region}.amazonaws.com/{stage} in AWS, or the local
// stack's http://127.0.0.1:{port}. The SDK's own retries are off, because the Manager
// retries with its own budget and counts the retries; a configuration without region or
// credentials (the local stack) gets us-east-1 and anonymous credentials.
func NewAPIClient(cfg aws.Config, endpoint string) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.Retryer = aws.NopRetryer{}
		if o.Region == "" {
			o.Region = defaultRegion
		}
		if o.Credentials == nil {
			o.Credentials = aws.AnonymousCredentials{}
		}
	})
}
