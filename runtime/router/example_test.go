package router_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// A router over a registry with one synchronous action. In a Lambda, pass its Route to
// lambda.Start (package lambdas does); here events are built by hand.
func ExampleRouter_Route() {
	type greeting struct {
		Name string `json:"name"`
	}
	reg := streamer.NewRegistry()
	_ = reg.Handle("greet", streamer.Sync(func(_ context.Context, job *streamer.Job[greeting]) (string, error) {
		return "Hello, " + job.Payload.Name, nil
	}))
	r := router.New(reg, memstore.New(memstore.Options{}).Requests(), nil, router.Options{})

	send := func(body string) string {
		e := events.APIGatewayWebsocketProxyRequest{Body: body}
		e.RequestContext.ConnectionID = "conn-1"
		e.RequestContext.Authorizer = map[string]any{contract.AuthUserID: "user-7", contract.AuthTenantID: "acme"}
		resp, _ := r.Route(context.Background(), e)
		return resp.Body
	}

	var result protocol.ResultMessage
	_ = json.Unmarshal([]byte(send(`{"action":"greet","id":"r-1","payload":{"name":"Ada"}}`)), &result)
	fmt.Println(result.Type, result.RequestID, string(result.Data))
	fmt.Println(send(`{"action":"streamer.ping"}`))
	fmt.Println(send(`{"action":"greet","id":"r-2","payload":{"nom":"Ada"}}`))
	// Output:
	// result r-1 "Hello, Ada"
	// {"type":"pong"}
	// {"type":"error","request_id":"r-2","error":{"code":"VALIDATION_ERROR","message":"unknown field \"nom\"","details":{"field":"nom"},"retry":{"retryable":false}}}
}
