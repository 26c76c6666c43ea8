package template

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const doc = `{
  "Parameters": {
    "Env": {"Type": "String", "Default": "dev"},
    "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/v"}
  },
  "Mappings": {"Sizes": {"dev": {"Memory": 256}}},
  "Conditions": {
    "IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]},
    "InUSEast": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
    "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Not": [{"Condition": "InUSEast"}]}]}
  },
  "Resources": {
    "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"KeySchema": []}},
    "Named": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Fn::Sub": "${AWS::StackName}-named"}}},
    "Fn": {
      "Type": "AWS::Lambda::Function",
      "DependsOn": "Table",
      "Properties": {
        "MemorySize": {"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]},
        "Environment": {"Variables": {
          "TABLE": {"Ref": "Table"},
          "ARN": {"Fn::GetAtt": ["Table", "Arn"]},
          "STREAM": {"Fn::GetAtt": "Table.StreamArn"},
          "URL": {"Fn::Join": ["", ["https://", {"Ref": "Api"}, ".execute-api.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}, "/prod"]]},
          "SUB": {"Fn::Sub": ["${Name}:${Table.Arn}:${!Literal}", {"Name": {"Ref": "Named"}}]},
          "PICK": {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]},
          "MODE": {"Fn::If": ["IsDev", "debug", "info"]},
          "GONE": {"Fn::If": ["Both", "x", {"Ref": "AWS::NoValue"}]}
        }}
      }
    },
    "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "WEBSOCKET"}},
    "Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"StageName": "prod", "ApiId": {"Ref": "Api"}}},
    "Queue": {"Type": "AWS::SQS::Queue"},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/service/"}},
    "Secret": {"Type": "AWS::SecretsManager::Secret"},
    "OnlyOutsideUSEast": {"Type": "AWS::SNS::Topic", "Condition": "Both"}
  }
}`

func setup(t *testing.T) (*Template, *Resolver) {
	t.Helper()
	tmpl, err := Parse([]byte(doc))
	require.NoError(t, err)
	r, err := NewResolver(tmpl, Env{StackName: "Demo", Region: "us-east-1", AccountID: "000000000000"}, nil)
	require.NoError(t, err)
	n := 0
	require.NoError(t, AssignNames(tmpl, r, func(k int) string {
		n++
		s := ""
		for range k {
			s += string(rune('A' + n%26))
		}
		return s
	}))
	r.SetAttr("Table", "StreamArn", "arn:aws:dynamodb:us-east-1:000000000000:table/x/stream/1")
	return tmpl, r
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tmpl, r := setup(t)
	require.Equal(t, []string{"Table"}, tmpl.Resources["Fn"].DependsOn)

	table, _ := r.Physical("Table")
	require.Regexp(t, `^Demo-Table-[A-Z]{12}$`, table.Ref, "a generated name")
	named, _ := r.Physical("Named")
	require.Equal(t, "Demo-named", named.Ref, "the name the properties give")

	props, err := r.Properties(tmpl.Resources["Fn"])
	require.NoError(t, err)
	require.EqualValues(t, 256, props["MemorySize"])
	vars := props["Environment"].(map[string]any)["Variables"].(map[string]any)
	api, _ := r.Physical("Api")
	require.Equal(t, map[string]any{
		"TABLE":  table.Ref,
		"ARN":    "arn:aws:dynamodb:us-east-1:000000000000:table/" + table.Ref,
		"STREAM": "arn:aws:dynamodb:us-east-1:000000000000:table/x/stream/1",
		"URL":    "https://" + api.Ref + ".execute-api.us-east-1.amazonaws.com/prod",
		"SUB":    "Demo-named:arn:aws:dynamodb:us-east-1:000000000000:table/" + table.Ref + ":${Literal}",
		"PICK":   "b",
		"MODE":   "debug",
	}, vars, "GONE is AWS::NoValue: removed")
}

func TestNamesAndAttributes(t *testing.T) {
	t.Parallel()
	_, r := setup(t)
	queue, _ := r.Physical("Queue")
	require.Regexp(t, `^https://sqs\.us-east-1\.amazonaws\.com/000000000000/Demo-Queue-\w+$`, queue.Ref)
	require.Equal(t, "arn:aws:sqs:us-east-1:000000000000:"+queue.Attrs["QueueName"].(string), queue.Attrs["Arn"])
	role, _ := r.Physical("Role")
	require.Regexp(t, `^arn:aws:iam::000000000000:role/service/Demo-Role-\w+$`, role.Attrs["Arn"])
	secret, _ := r.Physical("Secret")
	require.Regexp(t, `^arn:aws:secretsmanager:us-east-1:000000000000:secret:Demo-Secret-\w+-\w{6}$`, secret.Ref)
	stage, _ := r.Physical("Stage")
	require.Equal(t, "prod", stage.Ref)
	api, _ := r.Physical("Api")
	require.Regexp(t, `^[a-z]{10}$`, api.Ref)
	require.Equal(t, "wss://"+api.Ref+".execute-api.us-east-1.amazonaws.com", api.Attrs["ApiEndpoint"])
	_, assigned := r.Physical("OnlyOutsideUSEast")
	require.False(t, assigned, "a resource whose condition is false is not part of the stack")

	require.Len(t, generatedName("AVeryLongStackNameIndeed", "AnEvenLongerLogicalIdThanTheStackName1234ABCD", "XXXXXXXXXXXX", 64), 64)
}

func TestConditions(t *testing.T) {
	t.Parallel()
	_, r := setup(t)
	for name, want := range map[string]bool{"IsDev": true, "InUSEast": true, "Both": false} {
		got, ok := r.Condition(name)
		require.True(t, ok)
		require.Equal(t, want, got, name)
	}
	tmpl, _ := setup(t)
	r2, err := NewResolver(tmpl, Env{StackName: "Demo", Region: "eu-west-1", AccountID: "1"}, map[string]string{"Env": "prod"})
	require.NoError(t, err)
	got, _ := r2.Condition("IsDev")
	require.False(t, got, "a parameter value replaces the default")
}

func TestUnresolvable(t *testing.T) {
	t.Parallel()
	_, r := setup(t)
	for _, v := range []any{
		map[string]any{"Ref": "Nope"},
		map[string]any{"Ref": "BootstrapVersion"},
		map[string]any{"Fn::GetAtt": []any{"Table", "Nope"}},
		map[string]any{"Fn::ImportValue": "x"},
		map[string]any{"Fn::Select": []any{5, []any{"a"}}},
		map[string]any{"Fn::Sub": "${Missing}"},
	} {
		_, err := r.Resolve(v)
		require.ErrorIs(t, err, ErrUnresolvable, "%v", v)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, d := range []string{
		`not json`,
		`{"Resources": {}}`,
		`{"Resources": {"A": {"Properties": {}}}}`,
		`{"Resources": {"A": {"Type": "X", "DependsOn": "B"}}}`,
		`{"Resources": {"A": {"Type": "X", "Condition": "C"}}}`,
	} {
		_, err := Parse([]byte(d))
		require.ErrorIs(t, err, ErrInvalid, d)
	}
}
