package streamerapi

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// Names of the stack outputs a StreamerApi adds (StreamerApiProps.StackOutputs).
const (
	// OutputWebSocketURL is the wss:// URL clients connect to.
	OutputWebSocketURL = "WebSocketUrl"
	// OutputCallbackURL is the https:// @connections endpoint of the stage.
	OutputCallbackURL = "CallbackUrl"
	// OutputConnectionsTable is the name of the Connections table.
	OutputConnectionsTable = "ConnectionsTableName"
	// OutputRequestsTable is the name of the Requests table.
	OutputRequestsTable = "RequestsTableName"
	// OutputDeadLetterQueueURL is the URL of the dead-letter queue.
	OutputDeadLetterQueueURL = "DeadLetterQueueUrl"
	// OutputHMACSecretARN is the ARN of the HmacSecret (only with HmacSecret): `streamer
	// token --secret-arn` mints tokens with it.
	OutputHMACSecretARN = "HmacSecretArn"
	// OutputJWKSURL is the JwksUrl tokens are verified against (only with JwksUrl): clients
	// get tokens from that identity provider.
	OutputJWKSURL = "JwksUrl"
)

// addOutputs adds the stack outputs. They are children of the stack, so that their
// logical IDs, which name them in `cdk deploy` and describe-stacks, are exactly the
// names above, wherever the construct sits in the tree.
func (a *streamerApi) addOutputs() {
	stack := awscdk.Stack_Of(a.Construct)
	if stack.Node().TryFindChild(jsii.String(OutputWebSocketURL)) != nil {
		awscdk.Annotations_Of(a.Construct).AddError(jsii.String("streamerapi: the stack already has the outputs of another StreamerApi (or an output named " +
			OutputWebSocketURL + "): set stackOutputs to false on this one"))
		return
	}
	add := func(id string, value *string, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	add(OutputWebSocketURL, a.WebSocketUrl(), "wss:// URL clients connect to (add ?token=<JWT>)")
	add(OutputCallbackURL, a.CallbackUrl(), "https:// @connections endpoint of the stage")
	add(OutputConnectionsTable, a.connections.TableName(), "Connections table")
	add(OutputRequestsTable, a.requests.TableName(), "Requests table")
	add(OutputDeadLetterQueueURL, a.dlq.QueueUrl(), "Dead-letter queue of failed stream batches and worker events")
	p := a.s.props
	switch {
	case p.HmacSecret != nil:
		add(OutputHMACSecretARN, p.HmacSecret.SecretArn(), "Secret holding the HS256 key tokens are signed with (streamer token --secret-arn)")
	case p.JwksUrl != nil:
		add(OutputJWKSURL, p.JwksUrl, "JWKS of the identity provider whose tokens are accepted")
	}
}
