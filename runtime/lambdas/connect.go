package lambdas

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// websocketFunc is the handler type of the $connect, $disconnect and $default routes.
type websocketFunc = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

func connectFunc(deps Deps) (websocketFunc, error) {
	if deps.Connections == nil {
		return nil, fmt.Errorf("%w: connect needs Connections", ErrMissingDependency)
	}
	return func(ctx context.Context, e events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := e.RequestContext
		log := deps.Logger.With(slog.String("connection_id", rc.ConnectionID))
		user, tenant, ok := identity(rc.Authorizer)
		if !ok {
			// Only a misconfigured API (no authorizer on $connect) gets here.
			log.ErrorContext(ctx, "connect without a verified identity: is the authorizer attached to $connect?")
			return status(http.StatusForbidden), nil
		}
		now := deps.Now()
		conn := &store.Connection{
			ConnectionID: rc.ConnectionID,
			UserID:       user,
			TenantID:     tenant,
			Endpoint:     endpoint(deps.CallbackURL, rc),
			ConnectedAt:  now,
			LastSeen:     now,
			TTL:          now.Add(contract.ConnectionTTL).Unix(),
		}
		log = log.With(slog.String("tenant_id", tenant), slog.String("user_id", user))
		if err := deps.Connections.Save(ctx, conn); err != nil {
			log.ErrorContext(ctx, "connect: saving the connection failed", slog.String("error", err.Error()))
			return status(http.StatusInternalServerError), fmt.Errorf("lambdas: connect: %w", err)
		}
		log.InfoContext(ctx, "connected")
		return status(http.StatusOK), nil
	}, nil
}

func disconnectFunc(deps Deps) (websocketFunc, error) {
	if deps.Connections == nil {
		return nil, fmt.Errorf("%w: disconnect needs Connections", ErrMissingDependency)
	}
	return func(ctx context.Context, e events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := e.RequestContext
		log := deps.Logger.With(slog.String("connection_id", rc.ConnectionID))
		if user, tenant, ok := identity(rc.Authorizer); ok {
			log = log.With(slog.String("tenant_id", tenant), slog.String("user_id", user))
		}
		if err := deps.Connections.Delete(ctx, rc.ConnectionID); err != nil {
			// The record expires with its TTL anyway; the error is for the alarms.
			log.ErrorContext(ctx, "disconnect: deleting the connection failed", slog.String("error", err.Error()))
			return status(http.StatusInternalServerError), fmt.Errorf("lambdas: disconnect: %w", err)
		}
		attrs := []any{slog.Int64("close_code", rc.DisconnectStatusCode)}
		if rc.DisconnectReason != nil {
			attrs = append(attrs, slog.String("close_reason", *rc.DisconnectReason))
		}
		log.InfoContext(ctx, "disconnected", attrs...)
		return status(http.StatusOK), nil
	}, nil
}

// identity reads the verified user and tenant the authorizer put in the context. API
// Gateway delivers it as a JSON object; the local stack may hand over a map of strings.
func identity(authorizer any) (user, tenant string, ok bool) {
	switch m := authorizer.(type) {
	case map[string]any:
		user, _ = m[contract.AuthUserID].(string)
		tenant, _ = m[contract.AuthTenantID].(string)
	case map[string]string:
		user, tenant = m[contract.AuthUserID], m[contract.AuthTenantID]
	}
	return user, tenant, user != "" && tenant != ""
}

// endpoint is the @connections URL recorded on the connection.
func endpoint(callbackURL string, rc events.APIGatewayWebsocketProxyRequestContext) string {
	if callbackURL != "" {
		return callbackURL
	}
	return "https://" + rc.DomainName + "/" + rc.Stage
}

func status(code int) events.APIGatewayProxyResponse {
	return events.APIGatewayProxyResponse{StatusCode: code}
}
