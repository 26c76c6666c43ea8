package local

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/local/template"
)

// apiGatewayPrincipal is the service principal API Gateway invokes functions as.
const apiGatewayPrincipal = "apigateway.amazonaws.com"

// errNoPermission is API Gateway's "Invalid permissions on Lambda function": the function
// has no AWS::Lambda::Permission for the API.
var errNoPermission = errors.New("local: execution failed due to configuration error: invalid permissions on Lambda function")

// webSocketAPI builds the gateway's API from the template's AWS::ApiGatewayV2 resources:
// the WebSocket API, its stage, routes, integrations, authorizer and route responses. It
// returns the API's id and stage name too.
func (ts *tmplStack) webSocketAPI(s *Stack) (*webSocketAPI, string, string, error) {
	var api *template.Resource
	for _, res := range ts.t.OfType("AWS::ApiGatewayV2::Api") {
		if pt, _ := res.Properties["ProtocolType"].(string); pt == "WEBSOCKET" && ts.r.Exists(res) {
			if api != nil {
				ts.findings = append(ts.findings, "WebSocket API "+res.LogicalID+": only one WebSocket API is served ("+api.LogicalID+")")
				continue
			}
			api = res
		}
	}
	if api == nil {
		return nil, "", "", errors.New("local: the template has no WebSocket API (AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET)")
	}
	apiProps, err := ts.r.Properties(api)
	if err != nil {
		return nil, "", "", fmt.Errorf("local: %w", err)
	}
	p, _ := ts.r.Physical(api.LogicalID)
	apiID := p.Ref
	ws := &webSocketAPI{routes: map[string]apiRoute{}}
	sel, _ := apiProps["RouteSelectionExpression"].(string)
	if field, ok := strings.CutPrefix(sel, "$request.body."); ok && !strings.ContainsAny(field, ".[") {
		ws.selectionField = field
	} else if sel != "" {
		ts.findings = append(ts.findings, "WebSocket API "+api.LogicalID+": route selection expression "+sel+" (only $request.body.<field>): every message goes to $default")
	}

	// Each resource of the API, resolved, by type.
	of := func(typ string) ([]*template.Resource, []map[string]any, error) {
		var rs []*template.Resource
		var ps []map[string]any
		for _, res := range ts.t.OfType(typ) {
			if !ts.r.Exists(res) {
				continue
			}
			props, err := ts.r.Properties(res)
			if err != nil {
				return nil, nil, fmt.Errorf("local: %w", err)
			}
			if id, _ := props["ApiId"].(string); id == apiID {
				rs, ps = append(rs, res), append(ps, props)
			}
		}
		return rs, ps, nil
	}
	stage := ""
	stages, stageProps, err := of("AWS::ApiGatewayV2::Stage")
	if err != nil {
		return nil, "", "", err
	}
	for i, props := range stageProps {
		if stage != "" {
			ts.findings = append(ts.findings, "stage "+stages[i].LogicalID+": only one stage is served ("+stage+")")
			continue
		}
		stage, _ = props["StageName"].(string)
		if rs, ok := props["DefaultRouteSettings"].(map[string]any); ok {
			rate, hasRate := rs["ThrottlingRateLimit"].(float64)
			burst, hasBurst := rs["ThrottlingBurstLimit"].(float64)
			if hasRate || hasBurst {
				ws.throttle = newTokenBucket(rate, int(burst))
			}
		}
		if _, ok := props["RouteSettings"]; ok {
			ts.findings = append(ts.findings, "stage "+stages[i].LogicalID+": per-route RouteSettings (the stage's DefaultRouteSettings apply)")
		}
	}
	if stage == "" {
		return nil, "", "", fmt.Errorf("local: WebSocket API %s has no stage", api.LogicalID)
	}

	integrations := map[string]*tmplFunction{} // by integration id
	ints, intProps, err := of("AWS::ApiGatewayV2::Integration")
	if err != nil {
		return nil, "", "", err
	}
	for i, props := range intProps {
		typ, _ := props["IntegrationType"].(string)
		uri, _ := props["IntegrationUri"].(string)
		f := ts.function(functionOfURI(uri))
		if typ != "AWS_PROXY" || f == nil {
			ts.findings = append(ts.findings, fmt.Sprintf("integration %s: %s %s (only Lambda proxy integrations of the template's functions): its routes answer as if the integration failed", ints[i].LogicalID, typ, uri))
			continue
		}
		ip, _ := ts.r.Physical(ints[i].LogicalID)
		integrations[ip.Ref] = f
	}

	authorizers := map[string]*apiAuthorizer{} // by authorizer id
	auths, authProps, err := of("AWS::ApiGatewayV2::Authorizer")
	if err != nil {
		return nil, "", "", err
	}
	for i, props := range authProps {
		typ, _ := props["AuthorizerType"].(string)
		uri, _ := props["AuthorizerUri"].(string)
		f := ts.function(functionOfURI(uri))
		if typ != "REQUEST" || f == nil {
			ts.findings = append(ts.findings, fmt.Sprintf("authorizer %s: %s %s (only Lambda REQUEST authorizers of the template's functions)", auths[i].LogicalID, typ, uri))
			continue
		}
		ap, _ := ts.r.Physical(auths[i].LogicalID)
		var identity []string
		list, _ := props["IdentitySource"].([]any)
		for _, v := range list {
			if src, ok := v.(string); ok {
				identity = append(identity, src)
			}
		}
		if err := checkIdentitySource(identity); err != nil {
			return nil, "", "", err
		}
		source := "arn:aws:execute-api:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + apiID + "/authorizers/" + ap.Ref
		authorizers[ap.Ref] = &apiAuthorizer{function: f.key, handler: authorizerHandler(f, source), timeout: f.timeout, identity: identity}
	}

	routeKeys := map[string]string{} // route id -> key
	routes, routeProps, err := of("AWS::ApiGatewayV2::Route")
	if err != nil {
		return nil, "", "", err
	}
	for i, props := range routeProps {
		key, _ := props["RouteKey"].(string)
		rp, _ := ts.r.Physical(routes[i].LogicalID)
		routeKeys[rp.Ref] = key
		route := apiRoute{}
		target, _ := props["Target"].(string)
		if f := integrations[strings.TrimPrefix(target, "integrations/")]; f != nil {
			source := "arn:aws:execute-api:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + apiID + "/" + stage + "/" + key
			route = apiRoute{function: f.key, handler: routeHandler(f, source), timeout: f.timeout}
		} else if target != "" {
			ts.findings = append(ts.findings, "route "+key+": target "+target+" is not a served integration")
		}
		switch auth, _ := props["AuthorizationType"].(string); auth {
		case "", "NONE":
		case "CUSTOM":
			id, _ := props["AuthorizerId"].(string)
			a := authorizers[id]
			switch {
			case key != routeConnect:
				ts.findings = append(ts.findings, "route "+key+": an authorizer on a route other than $connect (API Gateway runs it on $connect only)")
			case a == nil:
				return nil, "", "", fmt.Errorf("local: route %s names authorizer %q, which the template does not define as a Lambda REQUEST authorizer", key, id)
			default:
				ws.authorizer = a
			}
		default:
			ts.findings = append(ts.findings, "route "+key+": authorization "+auth+" is not checked")
		}
		ws.routes[key] = route
	}
	_, respProps, err := of("AWS::ApiGatewayV2::RouteResponse")
	if err != nil {
		return nil, "", "", err
	}
	for _, props := range respProps {
		id, _ := props["RouteId"].(string)
		if k, _ := props["RouteResponseKey"].(string); k != "$default" {
			ts.findings = append(ts.findings, "route response "+k+" of route "+routeKeys[id]+" (only $default route responses)")
			continue
		}
		if key, ok := routeKeys[id]; ok {
			rt := ws.routes[key]
			rt.response = true
			ws.routes[key] = rt
		}
	}
	return ws, apiID, stage, nil
}

// functionOfURI returns the function ARN an integration or authorizer URI
// (arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function ARN}/invocations)
// invokes.
func functionOfURI(uri string) string {
	_, rest, ok := strings.Cut(uri, ":lambda:path/2015-03-31/functions/")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(rest, "/invocations")
}

// routeHandler invokes f for a route, as API Gateway does: only with a permission for the
// route's source ARN.
func routeHandler(f *tmplFunction, sourceARN string) wsHandler {
	return func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if !f.allows(apiGatewayPrincipal, sourceARN) {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("%w %s (no AWS::Lambda::Permission for %s)", errNoPermission, f.key, sourceARN)
		}
		return invokeJSON[events.APIGatewayWebsocketProxyRequest, events.APIGatewayProxyResponse](ctx, f, ev)
	}
}

// authorizerHandler invokes f as the $connect authorizer, with the same permission check.
func authorizerHandler(f *tmplFunction, sourceARN string) authHandler {
	return func(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		if !f.allows(apiGatewayPrincipal, sourceARN) {
			return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("%w %s (no AWS::Lambda::Permission for %s)", errNoPermission, f.key, sourceARN)
		}
		return invokeJSON[events.APIGatewayCustomAuthorizerRequestTypeRequest, events.APIGatewayCustomAuthorizerResponse](ctx, f, ev)
	}
}
