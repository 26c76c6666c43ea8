package streamer_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// A router with one synchronous action. In a Lambda, pass router.Route to lambda.Start;
// here events are built by hand.
func ExampleDefaultRouter_Route() {
	router := streamer.NewRouter(memstore.New(memstore.Options{}).Requests(), nil)
	_ = router.Handle("echo", streamer.HandlerFunc(func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
		return &streamer.Result{Data: req.Payload}, nil
	}))

	send := func(body string) string {
		e := events.APIGatewayWebsocketProxyRequest{Body: body}
		e.RequestContext.ConnectionID = "conn-1"
		e.RequestContext.Authorizer = map[string]any{contract.AuthUserID: "user-7", contract.AuthTenantID: "acme"}
		resp, _ := router.Route(context.Background(), e)
		return resp.Body
	}

	var result streamer.ResultMessage
	_ = json.Unmarshal([]byte(send(`{"action":"echo","id":"r-1","payload":{"hello":"world"}}`)), &result)
	fmt.Println(result.Type, result.RequestID, string(result.Data))
	fmt.Println(send(`{"action":"streamer.ping"}`))
	fmt.Println(send(`{"action":"nope","id":"r-2"}`))
	// Output:
	// result r-1 {"hello":"world"}
	// {"type":"pong"}
	// {"type":"error","request_id":"r-2","error":{"code":"INVALID_ACTION","message":"unknown action","details":{"action":"nope"},"retry":{"retryable":false}}}
}
