package streamerapi

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"
)

// outputs returns the template's outputs by logical ID.
func outputs(template assertions.Template) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, o := range *template.FindOutputs(jsii.String("*"), nil) {
		out[id] = *o
	}
	return out
}

func TestStackOutputsNameEverythingAScriptNeeds(t *testing.T) {
	got := outputs(defaultFixture().template)
	require.ElementsMatch(t, []string{OutputWebSocketURL, OutputCallbackURL, OutputConnectionsTable, OutputRequestsTable, OutputDeadLetterQueueURL, OutputJWKSURL},
		keys(got), "named exactly, whatever the stack and construct are called")
	require.Equal(t, "https://idp.example.com/.well-known/jwks.json", got[OutputJWKSURL]["Value"])
	require.Equal(t, map[string]any{"Ref": name2id(t, defaultFixture(), "Connections")}, got[OutputConnectionsTable]["Value"])
	require.Equal(t, map[string]any{"Ref": name2id(t, defaultFixture(), "DeadLetterQueue")}, got[OutputDeadLetterQueueURL]["Value"], "a queue's Ref is its URL")
	for id, o := range got {
		require.NotEmpty(t, o["Description"], id)
	}

	custom := outputs(customFixture().template)
	require.Contains(t, custom, OutputHMACSecretARN, "with an HMAC secret, its ARN for streamer token --secret-arn")
	require.NotContains(t, custom, OutputJWKSURL)
}

func TestStackOutputsOptOut(t *testing.T) {
	code := awslambda.Code_FromAsset(jsii.String(testEntry), nil)
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Two"), nil)
	jwks, aud := jsii.String("https://idp.example.com/.well-known/jwks.json"), jsii.String("streamer")
	NewStreamerApi(stack, jsii.String("First"), &StreamerApiProps{Code: code, JwksUrl: jwks, Audience: aud})
	NewStreamerApi(stack, jsii.String("Second"), &StreamerApiProps{Code: code, JwksUrl: jwks, Audience: aud, StackOutputs: jsii.Bool(false)})
	require.Len(t, outputs(assertions.Template_FromStack(stack, nil)), 6, "the first construct's outputs only")
	require.Empty(t, *assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_AnyValue()))

	// Forgetting the opt-out is a synth error that says what to do, not a name clash.
	NewStreamerApi(stack, jsii.String("Third"), &StreamerApiProps{Code: code, JwksUrl: jwks, Audience: aud})
	errs := assertions.Annotations_FromStack(stack).FindError(jsii.String("/Two/Third"), assertions.Match_StringLikeRegexp(jsii.String("set stackOutputs to false")))
	require.Len(t, *errs, 1)
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// name2id returns the logical ID of the resource whose readable name is n.
func name2id(t *testing.T, f *fixture, n string) string {
	t.Helper()
	for id := range f.resources {
		if name(id) == n {
			return id
		}
	}
	require.Failf(t, "resource not found", "no resource named %s", n)
	return ""
}
