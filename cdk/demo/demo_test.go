package demo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/constructs/streamerapi"
)

// The tests call into jsii, whose Go runtime is not safe for concurrent use: not parallel.

// stubCode stands in for the demo bootstrap: these tests check the stack, not the build
// (the construct's own tests cover go build).
func stubCode(t *testing.T) awslambda.Code {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("stub"), 0o755))
	return awslambda.Code_FromAsset(jsii.String(dir), nil)
}

// TestAwsSolutionsChecks runs cdk-nag's AwsSolutions pack on the example stack: no error
// may remain unsuppressed, and every suppression must say why.
func TestAwsSolutionsChecks(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := NewStack(app, StackName, &StackProps{Code: stubCode(t)})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	template := assertions.Template_FromStack(stack, nil) // synthesises, which runs the checks

	errs := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		raw, err := json.Marshal(e) // id and message, without the deprecated field accessors
		require.NoError(t, err)
		t.Errorf("unsuppressed: %s", raw)
	}

	// Suppressions live in each resource's metadata; every one carries a real reason.
	suppressed := 0
	for id, r := range *template.ToJSON() {
		if id != "Resources" {
			continue
		}
		for logicalID, res := range r.(map[string]any) {
			meta, _ := res.(map[string]any)["Metadata"].(map[string]any)
			nag, _ := meta["cdk_nag"].(map[string]any)
			rules, _ := nag["rules_to_suppress"].([]any)
			for _, rule := range rules {
				reason, _ := rule.(map[string]any)["reason"].(string)
				require.GreaterOrEqual(t, len(reason), 40, "%s: suppression %v needs a reason", logicalID, rule)
				suppressed++
			}
		}
	}
	require.Positive(t, suppressed)
}

func TestOutputs(t *testing.T) {
	stack := NewStack(awscdk.NewApp(nil), StackName, &StackProps{Code: stubCode(t)})
	template := assertions.Template_FromStack(stack, nil)
	for _, name := range []string{streamerapi.OutputWebSocketURL, streamerapi.OutputCallbackURL, streamerapi.OutputConnectionsTable,
		streamerapi.OutputRequestsTable, streamerapi.OutputDeadLetterQueueURL, streamerapi.OutputHMACSecretARN} {
		outputs := template.FindOutputs(jsii.String(name), nil)
		require.Len(t, *outputs, 1, name)
	}
}

func TestJWKSContextReplacesTheDemoKey(t *testing.T) {
	stack := NewStack(awscdk.NewApp(nil), StackName, &StackProps{
		Code:     stubCode(t),
		JwksUrl:  jsii.String("https://idp.example.com/.well-known/jwks.json"),
		Issuer:   jsii.String("https://idp.example.com/"),
		Audience: jsii.String("streamer"),
	})
	template := assertions.Template_FromStack(stack, nil)
	template.ResourceCountIs(jsii.String("AWS::SecretsManager::Secret"), jsii.Number(0))
	require.Empty(t, *template.FindOutputs(jsii.String(streamerapi.OutputHMACSecretARN), nil))
	require.Len(t, *template.FindOutputs(jsii.String(streamerapi.OutputJWKSURL), nil), 1)
	template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
			"STREAMER_JWKS_URL": "https://idp.example.com/.well-known/jwks.json",
			"STREAMER_ISSUER":   "https://idp.example.com/",
			"STREAMER_AUDIENCE": "streamer",
		})},
	})
}
