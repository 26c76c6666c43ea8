package streamerapi_test

import (
	"fmt"

	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/constructs/streamerapi"
)

func ExampleValidate() {
	err := streamerapi.Validate(&streamerapi.StreamerApiProps{Entry: jsii.String("./lambda")})
	fmt.Println(err)
	// Output: streamerapi: set jwksUrl or hmacSecret: the authorizer verifies the token of every connection with jwksUrl (the https URL of your identity provider's JWKS: clients get tokens from that provider) or hmacSecret (a Secrets Manager secret whose string is an HS256 key: `streamer token --secret-arn ARN` mints tokens with it)
}
