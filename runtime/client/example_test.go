package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Call a long-running action, show its progress, and tell a protocol error from any
// other failure. (Not run: it needs a stack; `streamer local` gives you one.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	c, err := client.Dial(ctx, "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod", "<JWT>", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	call, err := c.Call(ctx, "generate_report", map[string]string{"start_date": "2026-01-01", "end_date": "2026-01-31"},
		client.WithID("report-2026-01"), // sending it again never runs the report twice
		client.OnProgress(func(p protocol.ProgressMessage) {
			fmt.Printf("%3.0f%% %s\n", p.Percentage, p.Message)
		}))
	if err != nil {
		log.Fatal(err)
	}
	res, err := call.Wait(ctx)
	var se *streamer.Error
	switch {
	case errors.As(err, &se):
		fmt.Println("refused:", se.Code, se.Message, "retryable:", se.Retryable())
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(string(res.Data))
	}
}
