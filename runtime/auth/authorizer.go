package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
)

// TokenVerifier turns a token into an identity; *Verifier implements it.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*Identity, error)
}

var _ TokenVerifier = (*Verifier)(nil)

// QueryParamToken is the query parameter that carries the token (browsers cannot set
// headers on a WebSocket handshake).
const QueryParamToken = "token"

// Authorizer is the $connect Lambda REQUEST authorizer of the WebSocket API.
//
// Outcomes, chosen for what API Gateway sends the client:
//   - valid token: an Allow policy for execute-api:Invoke on the event's MethodArn, with
//     PrincipalID = user and the context {user_id, tenant_id} that API Gateway hands to
//     every later event of the connection;
//   - missing or invalid token: the error ErrUnauthorized ("Unauthorized"), which API
//     Gateway answers with HTTP 401, as PROTOCOL.md promises (a Deny policy would give
//     403, which tells a client "you are known but not allowed" and is wrong here);
//   - valid token of a tenant outside the allow-list: a Deny policy (HTTP 403);
//   - the token could not be checked (JWKS unreachable): a plain error, so API Gateway
//     answers 500 and the client may retry, instead of a 401 that would make it drop a
//     good token.
//
// The reason of a refusal is logged, never returned: the client learns nothing about its
// token.
type Authorizer struct {
	verifier TokenVerifier
	logger   *slog.Logger
}

// NewAuthorizer returns an authorizer over verifier. A nil logger logs to slog.Default().
func NewAuthorizer(verifier TokenVerifier, logger *slog.Logger) *Authorizer {
	if logger == nil {
		logger = slog.Default()
	}
	return &Authorizer{verifier: verifier, logger: logger}
}

// Handle is the Lambda handler of the authorizer function.
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	log := a.logger.With(slog.String("request_id", req.RequestContext.RequestID))
	token := tokenFrom(req)
	id, err := a.verifier.Verify(ctx, token)
	switch {
	case err == nil:
		log.InfoContext(ctx, "auth: connection allowed",
			slog.String("user_id", id.UserID), slog.String("tenant", id.TenantID))
		return policy(id.UserID, "Allow", req.MethodArn, map[string]any{
			contract.AuthUserID:   id.UserID,
			contract.AuthTenantID: id.TenantID,
		}), nil
	case errors.Is(err, ErrTenantNotAllowed):
		log.WarnContext(ctx, "auth: connection denied", slog.String("reason", err.Error()))
		return policy("denied", "Deny", req.MethodArn, nil), nil
	case errors.Is(err, ErrInvalidToken):
		log.WarnContext(ctx, "auth: connection refused", slog.String("reason", err.Error()))
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	default:
		log.ErrorContext(ctx, "auth: token could not be verified", slog.String("error", err.Error()))
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("auth: authorizer: %w", err)
	}
}

// tokenFrom reads the token from the `token` query parameter, else from an
// `Authorization: Bearer` header (header name and scheme matched case-insensitively).
func tokenFrom(req events.APIGatewayCustomAuthorizerRequestTypeRequest) string {
	if t := req.QueryStringParameters[QueryParamToken]; t != "" {
		return t
	}
	if ts := req.MultiValueQueryStringParameters[QueryParamToken]; len(ts) > 0 && ts[0] != "" {
		return ts[0]
	}
	for name, value := range req.Headers {
		if strings.EqualFold(name, "Authorization") {
			if t, ok := bearer(value); ok {
				return t
			}
		}
	}
	for name, values := range req.MultiValueHeaders {
		if strings.EqualFold(name, "Authorization") {
			for _, value := range values {
				if t, ok := bearer(value); ok {
					return t
				}
			}
		}
	}
	return ""
}

// bearer extracts the credentials of a "Bearer <token>" header value.
func bearer(value string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// policy builds an authorizer response with one execute-api:Invoke statement.
func policy(principal, effect, resource string, context map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: []string{resource},
			}},
		},
		Context: context,
	}
}
