// Command fn is a Lambda function for the runtimeapi tests: its event says what to do.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Do    string `json:"do"`    // echo, fail, sleep, exit, alloc, env, deadline
	Value string `json:"value"` // echoed; the variable to read; MB to allocate
	MS    int    `json:"ms"`
}

var keep [][]byte

func handle(ctx context.Context, ev event) (map[string]any, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	switch ev.Do {
	case "fail":
		return nil, errors.New("failed: " + ev.Value)
	case "sleep":
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	case "exit":
		fmt.Println("exiting now")
		os.Exit(3)
	case "alloc":
		var n int
		fmt.Sscan(ev.Value, &n)
		for range n {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "env":
		return map[string]any{"value": os.Getenv(ev.Value)}, nil
	}
	deadline, _ := ctx.Deadline()
	fmt.Println("handled", ev.Do, lc.AwsRequestID)
	return map[string]any{"echo": ev.Value, "request_id": lc.AwsRequestID, "arn": lc.InvokedFunctionArn,
		"deadline_ms": time.Until(deadline).Milliseconds(), "pid": os.Getpid()}, nil
}

func main() {
	if v := os.Getenv("FAIL_INIT"); v != "" {
		fmt.Fprintln(os.Stderr, strings.ToUpper("init failed: "+v))
		os.Exit(1)
	}
	lambda.Start(handle)
}
