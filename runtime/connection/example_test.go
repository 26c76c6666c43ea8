package connection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// In a Lambda function: the SDK client for the stage's @connections endpoint, and a
// Manager that deletes the records of gone connections from the store.
func ExampleNewManager() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	api := connection.NewAPIClient(cfg, "https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
	var conns connection.Deleter // your store.ConnectionStore
	mgr := connection.NewManager(conns, api, connection.Options{})
	_ = mgr.Send(ctx, "conn-1", &protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: "r-1", Percentage: 50})
}

// A result over API Gateway's 128 KiB limit goes out in ordered parts; the client puts
// them back together.
func ExampleManager_Send() {
	api := streamertest.NewAPIGateway(nil) // in a test, pass t: it closes the server
	defer api.Close()
	api.AddConnection("conn-1", nil)
	mgr := connection.NewManager(nil, api.Client(), connection.Options{BaseDelay: time.Millisecond})

	data, _ := json.Marshal(map[string]string{"report": strings.Repeat("row;", 75_000)}) // 300 KB
	err := mgr.Send(context.Background(), "conn-1", &protocol.ResultMessage{Type: protocol.TypeResult, RequestID: "r-1", Success: true, Data: data})
	fmt.Println(err)

	var parts protocol.Reassembler
	for _, m := range api.GetMessages("conn-1") {
		var part protocol.ResultMessage
		_ = m.Decode(&part)
		fmt.Println("part", part.Part.Index, "of", part.Part.Count, "fits:", len(m.JSON) <= protocol.MaxMessageBytes)
		if whole, done, _ := parts.Add(part); done {
			fmt.Println("reassembled:", string(whole.Data) == string(data))
		}
	}

	api.SimulateGoneError("conn-1")
	fmt.Println(errors.Is(mgr.Send(context.Background(), "conn-1", []byte(`{"type":"pong"}`)), connection.ErrGone))
	// Output:
	// <nil>
	// part 0 of 3 fits: true
	// part 1 of 3 fits: true
	// part 2 of 3 fits: true
	// reassembled: true
	// true
}
