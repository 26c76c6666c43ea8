// Command cdk is the example CDK app: it deploys the Streamer demo (the StreamerDemo stack).
// Run it through the CDK CLI from the repository root: `npx cdk synth` or `npx cdk deploy`.
// Context values (-c key=value) configure token verification: jwksUrl, issuer, audience;
// without jwksUrl the stack creates an HS256 key in Secrets Manager.
package main

import (
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/cdk/demo"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	demo.NewStack(app, demo.StackName, &demo.StackProps{
		StackProps: awscdk.StackProps{Env: environment()},
		JwksUrl:    contextString(app, "jwksUrl"),
		Issuer:     contextString(app, "issuer"),
		Audience:   contextString(app, "audience"),
	})
	app.Synth(nil)
}

// environment pins the stack to the CLI's account and Region when it knows them (deploy)
// and leaves it environment-agnostic otherwise, so synth needs no AWS credentials.
func environment() *awscdk.Environment {
	account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}

// contextString returns a context value given with -c key=value, nil when unset.
func contextString(app awscdk.App, key string) *string {
	v, ok := app.Node().TryGetContext(jsii.String(key)).(string)
	if !ok || v == "" {
		return nil
	}
	return jsii.String(v)
}
