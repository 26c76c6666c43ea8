package local

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/local/iam"
)

// API Gateway's WebSocket route keys and event types.
const (
	routeConnect    = "$connect"
	routeDisconnect = "$disconnect"
	routeDefault    = "$default"

	eventConnect    = "CONNECT"
	eventDisconnect = "DISCONNECT"
	eventMessage    = "MESSAGE"

	// requestTimeLayout is the format of requestContext.requestTime.
	requestTimeLayout = "02/Jan/2006:15:04:05 -0700"
	// localAccountID is the account id in the ARNs the local stack makes up.
	localAccountID = "000000000000"
)

// randomID returns an id in the shape API Gateway uses for connection and request ids:
// 11 random bytes in URL-safe base64 ("Ty2-Rc1iIAMCJ0Q=").
func randomID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.URLEncoding.EncodeToString(b[:])
}

// apiIdentity is what the emulated API knows about itself: its id, stage, region,
// account and the domain clients reach it on.
type apiIdentity struct {
	apiID, stage, region, account, domain string
}

// methodARN returns the execute-api ARN of a route, as the authorizer sees it.
func (a apiIdentity) methodARN(route string) string {
	return "arn:aws:execute-api:" + a.region + ":" + a.account + ":" + a.apiID + "/" + a.stage + "/" + route
}

// singleValues flattens multi-value maps the way API Gateway fills the single-value
// fields: the last value wins.
func singleValues(mv map[string][]string) map[string]string {
	out := make(map[string]string, len(mv))
	for k, v := range mv {
		if len(v) > 0 {
			out[k] = v[len(v)-1]
		}
	}
	return out
}

// sourceIP returns the client's address without the port.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authorizerRequest builds the REQUEST authorizer event of a $connect: the upgrade
// request's headers and query string, and the $connect method ARN.
func (a apiIdentity) authorizerRequest(r *http.Request, requestID string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	headers := map[string][]string(r.Header.Clone())
	query := map[string][]string(r.URL.Query())
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       a.methodARN(routeConnect),
		Headers:                         singleValues(headers),
		MultiValueHeaders:               headers,
		QueryStringParameters:           singleValues(query),
		MultiValueQueryStringParameters: query,
		StageVariables:                  map[string]string{},
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			AccountID: a.account,
			Stage:     a.stage,
			RequestID: requestID,
			APIID:     a.apiID,
			Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{
				SourceIP: sourceIP(r),
			},
		},
	}
}

// authorizerContext is requestContext.authorizer of every later event: the authorizer's
// context plus its principalId, as API Gateway passes them on.
func authorizerContext(resp events.APIGatewayCustomAuthorizerResponse) map[string]any {
	out := make(map[string]any, len(resp.Context)+1)
	for k, v := range resp.Context {
		out[k] = v
	}
	out["principalId"] = resp.PrincipalID
	return out
}

// allows reports whether the authorizer's policy allows invoking arn: an Allow statement
// on execute-api:Invoke whose resource matches, and no matching Deny.
func allows(resp events.APIGatewayCustomAuthorizerResponse, arn string) bool {
	allowed := false
	for _, st := range resp.PolicyDocument.Statement {
		if !matchesAny(st.Action, "execute-api:Invoke") || !matchesAny(st.Resource, arn) {
			continue
		}
		switch strings.ToLower(st.Effect) {
		case "deny":
			return false
		case "allow":
			allowed = true
		}
	}
	return allowed
}

func matchesAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if iam.Match(p, s) {
			return true
		}
	}
	return false
}

// wsEvent builds the Lambda proxy event API Gateway sends for one route of a connection.
func (a apiIdentity) wsEvent(c *wsConn, route, eventType, body string, at time.Time) events.APIGatewayWebsocketProxyRequest {
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			AccountID:         a.account,
			Stage:             a.stage,
			RequestID:         randomID(),
			ExtendedRequestID: randomID(),
			Identity:          events.APIGatewayRequestIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
			Authorizer:        c.authorizer,
			APIID:             a.apiID,
			ConnectedAt:       c.connectedAt.UnixMilli(),
			ConnectionID:      c.id,
			DomainName:        a.domain,
			EventType:         eventType,
			MessageDirection:  "IN",
			RequestTime:       at.UTC().Format(requestTimeLayout),
			RequestTimeEpoch:  at.UnixMilli(),
			RouteKey:          route,
		},
	}
}
