// Package streamerapi is the StreamerApi CDK construct: it deploys a Streamer backend (an API
// Gateway WebSocket API with a JWT authorizer on $connect, the Connections, Requests and
// Limits tables, the seven role functions built from one Go main package, the stream
// dispatch to the worker, the re-driver's schedule, least-privilege IAM, logs, tracing and
// alarms).
//
//	api := streamerapi.NewStreamerApi(stack, jsii.String("Streamer"), &streamerapi.StreamerApiProps{
//		Entry:    jsii.String("./lambda"), // your main: lambdas.New, app.Handle, lambdas.Start
//		JwksUrl:  jsii.String("https://idp.example.com/.well-known/jwks.json"),
//		Audience: jsii.String("my-app"), // required: the IdP signs other apps' tokens too
//	})
//	awscdk.NewCfnOutput(stack, jsii.String("Url"), &awscdk.CfnOutputProps{Value: api.WebSocketUrl()})
//
// The Lambda asset is built at synth time with the local Go toolchain (no Docker); see
// BuildAsset. Names shared with the runtime (environment variables, attributes, indexes)
// come from github.com/streamer-go/streamer/runtime/contract. docs/guides/deploy.md walks
// through deploying, tokens and extending.
package streamerapi
