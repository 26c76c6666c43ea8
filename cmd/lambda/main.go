// Command lambda is the Lambda bootstrap of the demo: one binary for every function role
// (STREAMER_FUNCTION), serving the demo actions. Build it for Lambda with
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/lambda
package main

import (
	"log"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/lambdas"
)

func main() {
	app := lambdas.New()
	if err := demo.Register(app); err != nil {
		log.Fatal(err)
	}
	lambdas.Start(app)
}
