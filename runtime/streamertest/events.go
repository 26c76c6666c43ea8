package streamertest

import (
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
)

// MessageEvent returns the $default event API Gateway hands the router when the client
// on connectionID, identified by the $connect authorizer as userID of tenantID, sends
// message: a string, []byte or json.RawMessage is the frame's text as it is; anything
// else (a protocol.ClientMessage, a map) is marshalled to JSON.
func MessageEvent(tb testing.TB, connectionID, userID, tenantID string, message any) events.APIGatewayWebsocketProxyRequest {
	tb.Helper()
	var body string
	switch v := message.(type) {
	case string:
		body = v
	case []byte:
		body = string(v)
	case json.RawMessage:
		body = string(v)
	default:
		b, err := json.Marshal(message)
		if err != nil {
			tb.Fatalf("streamertest: encode message: %v", err)
		}
		body = string(b)
	}
	now := time.Now()
	id := rand.Text()
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey:         "$default",
			EventType:        "MESSAGE",
			MessageDirection: "IN",
			MessageID:        id,
			RequestID:        id,
			ConnectionID:     connectionID,
			Stage:            "test",
			APIID:            "streamertest",
			DomainName:       "streamertest.execute-api.us-east-1.amazonaws.com",
			RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: now.UnixMilli(),
			Authorizer: map[string]any{
				"principalId":         userID,
				contract.AuthUserID:   userID,
				contract.AuthTenantID: tenantID,
			},
		},
	}
}
