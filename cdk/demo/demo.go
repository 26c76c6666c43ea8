// Package demo defines StreamerDemo, the example stack: the StreamerApi construct with the
// repository's demo handlers and, unless tokens come from an identity provider, the HS256
// key in Secrets Manager. The construct adds the stack outputs (streamerapi.Output*).
package demo

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"github.com/streamer-go/streamer/constructs/streamerapi"
)

// StackName is the name of the example stack (and of its template in cdk.out).
const StackName = "StreamerDemo"

// StackProps configures the demo stack.
type StackProps struct {
	awscdk.StackProps
	// JwksUrl, Issuer and Audience configure JWT verification against your identity
	// provider; with JwksUrl, Audience is required. Default: no JWKS; the stack creates an
	// HS256 key in Secrets Manager that only this stack's authorizer verifies with, so its
	// tokens carry no audience (the construct's AcceptTokensForAnyAudience).
	JwksUrl, Issuer, Audience *string
	// Code replaces the go build of the demo bootstrap (tests). Default: built from
	// streamerapi.DefaultEntry.
	Code awslambda.Code
}

// NewStack creates the StreamerDemo stack.
func NewStack(scope constructs.Construct, id string, props *StackProps) awscdk.Stack {
	if props == nil {
		props = &StackProps{}
	}
	sp := props.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("Streamer demo: WebSocket API with streaming long-running Lambda handlers")
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sp)

	apiProps := &streamerapi.StreamerApiProps{
		Code:     props.Code,
		JwksUrl:  props.JwksUrl,
		Issuer:   props.Issuer,
		Audience: props.Audience,
	}
	if props.Code == nil {
		apiProps.Entry = jsii.String(streamerapi.DefaultEntry)
	}
	if props.JwksUrl == nil {
		secret := awssecretsmanager.NewSecret(stack, jsii.String("TokenKey"), &awssecretsmanager.SecretProps{
			Description: jsii.String("Streamer demo HS256 token key"),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				PasswordLength:     jsii.Number(64),
				ExcludePunctuation: jsii.Bool(true),
			},
		})
		cdknag.NagSuppressions_AddResourceSuppressions(secret, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-SMG4"),
			Reason: jsii.String("Demo signing key for development tokens; rotating it would invalidate issued tokens. Production deployments verify tokens against their IdP's JWKS (-c jwksUrl=...) instead."),
		}}, nil)
		apiProps.HmacSecret = secret
		// The key is this stack's own: no other application's tokens are signed with it.
		apiProps.AcceptTokensForAnyAudience = jsii.Bool(props.Audience == nil)
	}
	streamerapi.NewStreamerApi(stack, jsii.String("Streamer"), apiProps)
	return stack
}
