package streamerapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
)

// fixture is one synthesized stack and its template as plain JSON.
type fixture struct {
	stack     awscdk.Stack
	api       StreamerApi
	template  assertions.Template
	resources map[string]cfnResource
}

// cfnResource is one resource of the template.
type cfnResource struct {
	Type           string         `json:"Type"`
	Properties     map[string]any `json:"Properties"`
	Metadata       map[string]any `json:"Metadata"`
	DeletionPolicy string         `json:"DeletionPolicy"`
}

// testEntry is the tiny main package the tests build instead of the demo bootstrap.
const testEntry = "./testdata/hello"

// Synthesising takes seconds, so the read-only tests share two stacks: the defaults (with
// JWKS auth) and one with every optional prop changed (HMAC auth, KMS, x86_64, ...).
var (
	defaultFixture = sync.OnceValue(func() *fixture {
		return synth(func(stack awscdk.Stack) *StreamerApiProps {
			return &StreamerApiProps{
				Entry:          jsii.String(testEntry),
				JwksUrl:        jsii.String("https://idp.example.com/.well-known/jwks.json"),
				Issuer:         jsii.String("https://idp.example.com/"),
				Audience:       jsii.String("streamer"),
				AllowedTenants: jsii.Strings("acme", "globex"),
				AlarmTopic:     awssns.NewTopic(stack, jsii.String("Alarms"), nil),
			}
		}, nil)
	})
	customFixture = sync.OnceValue(func() *fixture {
		return synth(func(stack awscdk.Stack) *StreamerApiProps {
			return &StreamerApiProps{
				Code:                       awslambda.Code_FromAsset(jsii.String(testEntry), nil),
				Architecture:               awslambda.Architecture_X86_64(),
				HmacSecret:                 awssecretsmanager.NewSecret(stack, jsii.String("Key"), nil),
				AcceptTokensForAnyAudience: jsii.Bool(true),
				UserMaxInFlight:            jsii.Number(-1),
				UserRequestsPerSecond:      jsii.Number(0.5),
				TenantMaxInFlight:          jsii.Number(1000),
				TenantBurst:                jsii.Number(500),
				RedriveAfter:               awscdk.Duration_Minutes(jsii.Number(30)),
				RedriveSchedule:            awscdk.Duration_Minutes(jsii.Number(10)),
				StageName:                  jsii.String("live"),
				WorkerMemorySize:           jsii.Number(2048),
				WorkerTimeout:              awscdk.Duration_Minutes(jsii.Number(5)),
				RemovalPolicy:              awscdk.RemovalPolicy_DESTROY,
				EncryptionKey:              awskms.NewKey(stack, jsii.String("Cmk"), &awskms.KeyProps{EnableKeyRotation: jsii.Bool(true)}),
				ApiGatewayCloudWatchRole:   jsii.Bool(false),
				Tracing:                    awslambda.Tracing_DISABLED,
				AsyncThreshold:             awscdk.Duration_Seconds(jsii.Number(2)),
				MaxAttempts:                jsii.Number(5),
				DirectDispatch:             jsii.Bool(false),
				BatchSize:                  jsii.Number(50),
				ThrottlingRateLimit:        jsii.Number(100),
				ThrottlingBurstLimit:       jsii.Number(200),
				LogRetention:               awslogs.RetentionDays_ONE_WEEK,
				LogLevel:                   jsii.String("debug"),
				WorkerReservedConcurrency:  jsii.Number(50),
				AuthorizerIdentitySource:   jsii.Strings(contract.IdentitySourceAuthorizationHeader),
			}
		}, func(stack awscdk.Stack, api StreamerApi) {
			backend := awsiam.NewRole(stack, jsii.String("Backend"), &awsiam.RoleProps{
				AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
			})
			api.GrantSend(backend)
			api.GrantEnqueue(backend)
		})
	})
)

// synth builds a stack "Test" with a StreamerApi "Streamer" and returns its template.
func synth(props func(awscdk.Stack) *StreamerApiProps, after func(awscdk.Stack, StreamerApi)) *fixture {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	api := NewStreamerApi(stack, jsii.String("Streamer"), props(stack))
	if after != nil {
		after(stack, api)
	}
	template := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(template.ToJSON())
	if err != nil {
		panic(err)
	}
	var doc struct {
		Resources map[string]cfnResource `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(err)
	}
	return &fixture{stack: stack, api: api, template: template, resources: doc.Resources}
}

// ofType returns the logical IDs of the resources of one type, sorted.
func (f *fixture) ofType(typ string) []string {
	var ids []string
	for id, r := range f.resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// byName returns the resource whose readable name (see name) is n.
func (f *fixture) byName(t *testing.T, n string) cfnResource {
	t.Helper()
	for id, r := range f.resources {
		if name(id) == n {
			return r
		}
	}
	require.Failf(t, "resource not found", "no resource named %s", n)
	return cfnResource{}
}

var logicalIDPattern = regexp.MustCompile(`^(?:Streamer|Test)?(.+?)[0-9A-F]{8}$`)

// name turns a logical ID such as StreamerConnections07D3B4FE into Connections.
func name(logicalID string) string {
	if m := logicalIDPattern.FindStringSubmatch(logicalID); m != nil {
		return m[1]
	}
	return logicalID
}

// flat renders a CloudFormation value readably: {"Ref": "StreamerApiD28D2188"} is {Api},
// GetAtt is {Name}.Attr, pseudo parameters are ${AWS::Region}, and Fn::Join is joined.
func flat(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64, bool:
		return fmt.Sprint(v)
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = flat(p)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if strings.HasPrefix(ref, "AWS::") {
				return "${" + ref + "}"
			}
			return "{" + name(ref) + "}"
		}
		if att, ok := v["Fn::GetAtt"].([]any); ok {
			return "{" + name(att[0].(string)) + "}." + att[1].(string)
		}
		if join, ok := v["Fn::Join"].([]any); ok {
			parts := join[1].([]any)
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = flat(p)
			}
			return strings.Join(out, join[0].(string))
		}
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// grants returns "action on resource" for every statement of every policy attached to the
// role with the given readable name.
func (f *fixture) grants(roleName string) []string {
	var out []string
	for _, id := range f.ofType("AWS::IAM::Policy") {
		p := f.resources[id].Properties
		attached := false
		for _, r := range p["Roles"].([]any) {
			attached = attached || flat(r) == "{"+roleName+"}"
		}
		if !attached {
			continue
		}
		out = append(out, statements(p["PolicyDocument"])...)
	}
	sort.Strings(out)
	return out
}

// statements flattens a policy document into sorted "action on resource" lines.
func statements(doc any) []string {
	var out []string
	for _, s := range doc.(map[string]any)["Statement"].([]any) {
		st := s.(map[string]any)
		for _, a := range list(st["Action"]) {
			for _, r := range list(st["Resource"]) {
				out = append(out, st["Effect"].(string)+" "+flat(a)+" on "+flat(r))
			}
		}
	}
	sort.Strings(out)
	return out
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
