package streamerapi_test

import (
	"fmt"

	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/constructs/streamerapi"
)

func ExampleValidate() {
	err := streamerapi.Validate(&streamerapi.StreamerApiProps{Entry: jsii.String("./lambda")})
	fmt.Println(err)
	// Output: streamerapi: jwksUrl or hmacSecret is required
}
