package streamerapi

// The tests in this file call into jsii, whose Go runtime is not safe for concurrent use,
// so none of them is parallel; they share two synthesized stacks instead (fixture_test.go).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/stretchr/testify/require"
)

func TestResourceCounts(t *testing.T) {
	f := defaultFixture()
	for typ, n := range map[string]int{
		"AWS::ApiGatewayV2::Api":           1,
		"AWS::ApiGatewayV2::Stage":         1,
		"AWS::ApiGatewayV2::Route":         3,
		"AWS::ApiGatewayV2::RouteResponse": 1,
		"AWS::ApiGatewayV2::Integration":   3,
		"AWS::ApiGatewayV2::Authorizer":    1,
		"AWS::ApiGateway::Account":         1,
		"AWS::DynamoDB::Table":             3,
		"AWS::Lambda::Function":            7,
		"AWS::Lambda::EventSourceMapping":  1,
		"AWS::Lambda::EventInvokeConfig":   1,
		"AWS::Lambda::Permission":          5, // three integrations, the authorizer and the re-drive schedule
		"AWS::IAM::Role":                   8, // seven functions and API Gateway's logging role
		"AWS::Logs::LogGroup":              8, // seven functions and the access log
		"AWS::Events::Rule":                1,
		"AWS::SQS::Queue":                  1,
		"AWS::CloudWatch::Alarm":           16,
		"AWS::Logs::MetricFilter":          1, // the authorizer's failures
	} {
		f.template.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n)))
	}
}

func TestRoutes(t *testing.T) {
	f := defaultFixture()
	api := f.byName(t, "Api").Properties
	require.Equal(t, "WEBSOCKET", api["ProtocolType"])
	require.Equal(t, "$request.body.action", api["RouteSelectionExpression"])
	require.Equal(t, "Test-Streamer", api["Name"])

	routes := map[string]map[string]any{}
	for _, id := range f.ofType("AWS::ApiGatewayV2::Route") {
		p := f.resources[id].Properties
		routes[p["RouteKey"].(string)] = p
	}
	require.Len(t, routes, 3)
	require.Equal(t, "CUSTOM", routes["$connect"]["AuthorizationType"])
	require.Equal(t, "{ApiAuthorizer}", flat(routes["$connect"]["AuthorizerId"]))
	require.Equal(t, "integrations/{ApiconnectRouteConnectIntegration}", flat(routes["$connect"]["Target"]))
	require.Equal(t, "integrations/{ApidisconnectRouteDisconnectIntegration}", flat(routes["$disconnect"]["Target"]))
	require.Equal(t, "integrations/{ApidefaultRouteRouterIntegration}", flat(routes["$default"]["Target"]))
	require.Equal(t, "$default", routes["$default"]["RouteResponseSelectionExpression"], "the router's reply must reach the client")
	require.NotContains(t, routes["$default"], "AuthorizerId")

	resp := f.resources[f.ofType("AWS::ApiGatewayV2::RouteResponse")[0]].Properties
	require.Equal(t, "$default", resp["RouteResponseKey"])
	require.Equal(t, "{ApidefaultRoute}", flat(resp["RouteId"]))

	for _, integration := range f.ofType("AWS::ApiGatewayV2::Integration") {
		require.Equal(t, "AWS_PROXY", f.resources[integration].Properties["IntegrationType"])
	}
}

func TestAuthorizer(t *testing.T) {
	f := defaultFixture()
	p := f.byName(t, "ApiAuthorizer").Properties
	require.Equal(t, "REQUEST", p["AuthorizerType"])
	require.Equal(t, "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/{AuthorizerFunction}.Arn/invocations", flat(p["AuthorizerUri"]))
	// Required by the API Gateway v2 service model for CreateAuthorizer: a $connect without
	// ?token= gets 401 from API Gateway before the authorizer runs.
	require.Equal(t, []any{contract.IdentitySourceQueryToken}, p["IdentitySource"])

	custom := customFixture().byName(t, "ApiAuthorizer").Properties
	require.Equal(t, []any{contract.IdentitySourceAuthorizationHeader}, custom["IdentitySource"])
}

func TestTables(t *testing.T) {
	f := defaultFixture()
	common := func(p map[string]any, pk string) {
		require.Equal(t, []any{map[string]any{"AttributeName": pk, "KeyType": "HASH"}}, p["KeySchema"])
		require.Equal(t, "PAY_PER_REQUEST", p["BillingMode"])
		require.Equal(t, map[string]any{"AttributeName": contract.AttrTTL, "Enabled": true}, p["TimeToLiveSpecification"])
		require.Equal(t, map[string]any{"PointInTimeRecoveryEnabled": true}, p["PointInTimeRecoverySpecification"])
		require.Equal(t, map[string]any{"SSEEnabled": true}, p["SSESpecification"], "SSEEnabled without a key: the AWS managed key aws/dynamodb")
	}
	gsis := func(p map[string]any) map[string]string {
		out := map[string]string{}
		for _, g := range p["GlobalSecondaryIndexes"].([]any) {
			g := g.(map[string]any)
			var keys []string
			for _, k := range g["KeySchema"].([]any) {
				k := k.(map[string]any)
				keys = append(keys, k["AttributeName"].(string)+":"+k["KeyType"].(string))
			}
			out[g["IndexName"].(string)] = flat(toAny(keys)) + " " + g["Projection"].(map[string]any)["ProjectionType"].(string)
		}
		return out
	}

	conns := f.byName(t, "Connections")
	common(conns.Properties, contract.AttrConnectionID)
	require.Equal(t, "Retain", conns.DeletionPolicy)
	require.NotContains(t, conns.Properties, "StreamSpecification")
	require.NotContains(t, conns.Properties, "GlobalSecondaryIndexes", "the runtime reads connections by key only")

	reqs := f.byName(t, "Requests")
	common(reqs.Properties, contract.AttrRequestID)
	require.Equal(t, "Retain", reqs.DeletionPolicy)
	require.Equal(t, map[string]any{"StreamViewType": "NEW_IMAGE"}, reqs.Properties["StreamSpecification"])
	// The re-driver's index, the only one: sparse (only unfinished requests carry its key),
	// spread over 16 partitions, keys only, so a checkpoint writes nothing to it.
	require.Equal(t, map[string]string{
		contract.IndexUnfinished: "unfinished_shard:HASH,created_at:RANGE KEYS_ONLY",
	}, gsis(reqs.Properties))

	// Nothing else: an index nothing reads costs a write per item change (a status-keyed
	// one was a hot partition).
	for _, table := range []cfnResource{conns, reqs} {
		require.NotContains(t, table.Properties, "LocalSecondaryIndexes")
	}
	require.Len(t, conns.Properties["AttributeDefinitions"], 1, "only the partition key is declared")
	require.Len(t, reqs.Properties["AttributeDefinitions"], 3, "the partition key and the unfinished index's keys")
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestLimitsTable: one item per tenant keyed by the tenant id, no index, no stream; TTL
// removes the items of idle tenants.
func TestLimitsTable(t *testing.T) {
	f := defaultFixture()
	l := f.byName(t, "Limits")
	require.Equal(t, []any{map[string]any{"AttributeName": contract.AttrLimitKey, "KeyType": "HASH"}}, l.Properties["KeySchema"])
	require.Equal(t, "PAY_PER_REQUEST", l.Properties["BillingMode"])
	require.Equal(t, map[string]any{"AttributeName": contract.AttrTTL, "Enabled": true}, l.Properties["TimeToLiveSpecification"])
	require.NotContains(t, l.Properties, "GlobalSecondaryIndexes")
	require.NotContains(t, l.Properties, "StreamSpecification")
}

// TestRedriveSchedule: an EventBridge rule runs the re-driver every five minutes, without
// retries (the next run comes soon), and may invoke nothing else.
func TestRedriveSchedule(t *testing.T) {
	f := defaultFixture()
	p := f.byName(t, "RedriveSchedule").Properties
	require.Equal(t, "rate(5 minutes)", p["ScheduleExpression"])
	require.Equal(t, "ENABLED", p["State"])
	targets := p["Targets"].([]any)
	require.Len(t, targets, 1)
	target := targets[0].(map[string]any)
	require.Equal(t, "{RedriverFunction}.Arn", flat(target["Arn"]))
	require.Equal(t, map[string]any{"MaximumRetryAttempts": 0.0}, target["RetryPolicy"])

	var invokers []string
	for _, id := range f.ofType("AWS::Lambda::Permission") {
		p := f.resources[id].Properties
		if p["Principal"] == "events.amazonaws.com" {
			invokers = append(invokers, flat(p["FunctionName"])+" from "+flat(p["SourceArn"]))
		}
	}
	require.Equal(t, []string{"{RedriverFunction}.Arn from {RedriveSchedule}.Arn"}, invokers)
}

func TestStreamEventSourceMapping(t *testing.T) {
	f := defaultFixture()
	p := f.byName(t, "RequestsStream").Properties
	require.Equal(t, "{RequestsStream}", "{"+name(f.ofType("AWS::Lambda::EventSourceMapping")[0])+"}")
	require.Equal(t, "{Requests}.StreamArn", flat(p["EventSourceArn"]))
	require.Equal(t, "{ProcessorFunction}", flat(p["FunctionName"]))
	require.Equal(t, []any{"ReportBatchItemFailures"}, p["FunctionResponseTypes"])
	require.Equal(t, true, p["BisectBatchOnFunctionError"])
	require.EqualValues(t, 3, p["MaximumRetryAttempts"])
	require.EqualValues(t, 3600, p["MaximumRecordAgeInSeconds"])
	require.EqualValues(t, 10, p["BatchSize"])
	require.Equal(t, "TRIM_HORIZON", p["StartingPosition"])
	require.Equal(t, "{DeadLetterQueue}.Arn", flat(p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]))

	filters := p["FilterCriteria"].(map[string]any)["Filters"].([]any)
	require.Len(t, filters, 1)
	var pattern map[string]any
	require.NoError(t, json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &pattern))
	require.Equal(t, map[string]any{
		"eventName": []any{"INSERT", "MODIFY"},
		"dynamodb":  map[string]any{"NewImage": map[string]any{"status": map[string]any{"S": []any{"PENDING"}}}},
	}, pattern)
}

func TestWorkerAsyncInvokeConfig(t *testing.T) {
	f := defaultFixture()
	p := f.resources[f.ofType("AWS::Lambda::EventInvokeConfig")[0]].Properties
	require.Equal(t, "{WorkerFunction}", flat(p["FunctionName"]))
	require.EqualValues(t, 2, p["MaximumRetryAttempts"])
	require.EqualValues(t, 6*3600, p["MaximumEventAgeInSeconds"])
	require.Equal(t, "{DeadLetterQueue}.Arn", flat(p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]))
}

func TestFunctions(t *testing.T) {
	f := defaultFixture()
	want := map[string][2]float64{ // memory MB, timeout s
		contract.RoleAuthorizer: {256, 10}, contract.RoleConnect: {256, 10}, contract.RoleDisconnect: {256, 10},
		contract.RoleRouter: {512, 29}, contract.RoleProcessor: {256, 60}, contract.RoleWorker: {1024, 900},
		contract.RoleRedriver: {256, 300},
	}
	keys := map[string]bool{}
	for _, role := range contract.Roles {
		p := f.byName(t, title(role)+"Function").Properties
		require.Equal(t, "provided.al2023", p["Runtime"], role)
		require.Equal(t, "bootstrap", p["Handler"], role)
		require.Equal(t, []any{"arm64"}, p["Architectures"], role)
		require.Equal(t, map[string]any{"Mode": "Active"}, p["TracingConfig"], role)
		require.Equal(t, want[role][0], p["MemorySize"], role)
		require.Equal(t, want[role][1], p["Timeout"], role)
		require.Equal(t, "{"+title(role)+"Role}.Arn", flat(p["Role"]), role)
		require.Equal(t, "JSON", p["LoggingConfig"].(map[string]any)["LogFormat"], role)
		require.Equal(t, "{"+title(role)+"Logs}", flat(p["LoggingConfig"].(map[string]any)["LogGroup"]), role)
		keys[flat(p["Code"].(map[string]any)["S3Key"])] = true
	}
	require.Len(t, keys, 1, "all seven functions share one asset")
	for _, role := range contract.Roles {
		// What `streamer local --template` rebuilds the arm64 asset from on another
		// machine: the package, and its module directory relative to the app's.
		md := f.byName(t, title(role)+"Function").Metadata
		require.Equal(t, map[string]any{
			"package":   "github.com/streamer-go/streamer/constructs/streamerapi/testdata/hello",
			"moduleDir": "..",
		}, md[contract.GoEntryMetadata], role)
	}
	require.NotContains(t, customFixture().byName(t, "WorkerFunction").Metadata, contract.GoEntryMetadata, "a prebuilt Code has no Go package to record")
	for _, role := range contract.Roles {
		require.NotContains(t, f.byName(t, title(role)+"Function").Properties, "ReservedConcurrentExecutions",
			"%s: reserving concurrency fails in accounts with low limits, so it is opt-in", role)
	}

	for _, id := range f.ofType("AWS::Logs::LogGroup") {
		require.EqualValues(t, 30, f.resources[id].Properties["RetentionInDays"], id)
		require.Equal(t, "Retain", f.resources[id].DeletionPolicy, id)
	}
}

func TestAssetHashIsTheBinaryHash(t *testing.T) {
	f := defaultFixture()
	asset, err := BuildAsset(t.Context(), BuildOptions{Entry: testEntry})
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(asset.Dir) })
	key := flat(f.byName(t, "WorkerFunction").Properties["Code"].(map[string]any)["S3Key"])
	// A custom asset hash is hashed once more by the CDK.
	sum := sha256.Sum256([]byte(asset.Hash))
	require.Equal(t, hex.EncodeToString(sum[:])+".zip", key, "the template's asset is the binary go build produces")
}

func TestEnvironment(t *testing.T) {
	f := defaultFixture()
	base := func(role string, extra map[string]string) map[string]string {
		m := map[string]string{
			contract.EnvFunction:         role,
			contract.EnvLogLevel:         "info",
			contract.EnvMetricsNamespace: "Streamer",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	callback := "https://{Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"
	want := map[string]map[string]string{
		contract.RoleAuthorizer: base(contract.RoleAuthorizer, map[string]string{
			contract.EnvJWKSURL:        "https://idp.example.com/.well-known/jwks.json",
			contract.EnvIssuer:         "https://idp.example.com/",
			contract.EnvAudience:       "streamer",
			contract.EnvAllowedTenants: "acme,globex",
		}),
		contract.RoleConnect:    base(contract.RoleConnect, map[string]string{contract.EnvConnectionsTable: "{Connections}"}),
		contract.RoleDisconnect: base(contract.RoleDisconnect, map[string]string{contract.EnvConnectionsTable: "{Connections}"}),
		contract.RoleRouter: base(contract.RoleRouter, map[string]string{
			contract.EnvConnectionsTable:  "{Connections}",
			contract.EnvRequestsTable:     "{Requests}",
			contract.EnvCallbackURL:       callback,
			contract.EnvAsyncThreshold:    "5s",
			contract.EnvSyncBudget:        "25s",
			contract.EnvMaxAttempts:       "3",
			contract.EnvLimitsTable:       "{Limits}",
			contract.EnvUserMaxInFlight:   "10",
			contract.EnvUserRate:          "1",
			contract.EnvUserBurst:         "20",
			contract.EnvTenantMaxInFlight: "100",
			contract.EnvTenantRate:        "10",
			contract.EnvTenantBurst:       "100",
			contract.EnvDirectDispatch:    "true",
			contract.EnvWorkerFunction:    "{WorkerFunction}",
		}),
		contract.RoleProcessor: base(contract.RoleProcessor, map[string]string{
			contract.EnvWorkerFunction: "{WorkerFunction}",
		}),
		contract.RoleWorker: base(contract.RoleWorker, map[string]string{
			contract.EnvConnectionsTable: "{Connections}",
			contract.EnvRequestsTable:    "{Requests}",
			contract.EnvCallbackURL:      callback,
		}),
		contract.RoleRedriver: base(contract.RoleRedriver, map[string]string{
			contract.EnvConnectionsTable: "{Connections}",
			contract.EnvRequestsTable:    "{Requests}",
			contract.EnvCallbackURL:      callback,
			contract.EnvRedriveAfter:     "15m0s",
		}),
	}
	for _, role := range contract.Roles {
		vars := f.byName(t, title(role)+"Function").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		got := map[string]string{}
		for k, v := range vars {
			got[k] = flat(v)
		}
		require.Equal(t, want[role], got, role)
	}
}

func TestIAMPolicies(t *testing.T) {
	f := defaultFixture()
	logs := func(role string) []string {
		return []string{
			"Allow logs:CreateLogStream on {" + title(role) + "Logs}.Arn",
			"Allow logs:PutLogEvents on {" + title(role) + "Logs}.Arn",
		}
	}
	xray := []string{"Allow xray:PutTelemetryRecords on *", "Allow xray:PutTraceSegments on *"}
	connections := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:{Api}/prod/"
	dlq := []string{
		"Allow sqs:GetQueueAttributes on {DeadLetterQueue}.Arn",
		"Allow sqs:GetQueueUrl on {DeadLetterQueue}.Arn",
		"Allow sqs:SendMessage on {DeadLetterQueue}.Arn",
	}
	want := map[string][]string{
		contract.RoleAuthorizer: nil,
		contract.RoleConnect:    {"Allow dynamodb:PutItem on {Connections}.Arn"},
		contract.RoleDisconnect: {"Allow dynamodb:DeleteItem on {Connections}.Arn"},
		contract.RoleRouter: {
			"Allow dynamodb:DeleteItem on {Connections}.Arn", // connection.Manager on 410 Gone
			"Allow dynamodb:GetItem on {Requests}.Arn",
			"Allow dynamodb:PutItem on {Requests}.Arn",
			"Allow dynamodb:UpdateItem on {Requests}.Arn",
			"Allow dynamodb:BatchGetItem on {Requests}.Arn", // the limiter prunes finished requests
			"Allow dynamodb:GetItem on {Limits}.Arn",
			"Allow dynamodb:PutItem on {Limits}.Arn", // conditional on the item's version
			"Allow execute-api:ManageConnections on " + connections + "POST/@connections/*",
			"Allow lambda:InvokeFunction on {WorkerFunction}.Arn", // direct dispatch, on by default
		},
		contract.RoleProcessor: append([]string{
			"Allow dynamodb:DescribeStream on {Requests}.StreamArn",
			"Allow dynamodb:GetRecords on {Requests}.StreamArn",
			"Allow dynamodb:GetShardIterator on {Requests}.StreamArn",
			"Allow dynamodb:ListStreams on {Requests}.Arn/stream/*",
			"Allow lambda:InvokeFunction on {WorkerFunction}.Arn",
		}, dlq...),
		contract.RoleWorker: append([]string{
			"Allow dynamodb:DeleteItem on {Connections}.Arn", // connection.Manager on 410 Gone
			"Allow dynamodb:GetItem on {Requests}.Arn",
			"Allow dynamodb:UpdateItem on {Requests}.Arn",
			"Allow execute-api:ManageConnections on " + connections + "POST/@connections/*",
		}, dlq...),
		contract.RoleRedriver: {
			"Allow dynamodb:Query on {Requests}.Arn/index/" + contract.IndexUnfinished,
			"Allow dynamodb:BatchGetItem on {Requests}.Arn",
			"Allow dynamodb:GetItem on {Requests}.Arn",
			"Allow dynamodb:UpdateItem on {Requests}.Arn",
			"Allow dynamodb:DeleteItem on {Connections}.Arn", // connection.Manager on 410 Gone
			"Allow execute-api:ManageConnections on " + connections + "POST/@connections/*",
		},
	}
	for _, role := range contract.Roles {
		expected := append(append(logs(role), xray...), want[role]...)
		require.ElementsMatch(t, expected, f.grants(title(role)+"Role"), role)
	}
	require.Empty(t, f.grants("ApiGatewayCloudWatchRole"), "API Gateway's role has only the AWS managed policy")

	// No statement anywhere grants a wildcard resource, except X-Ray, which has no
	// resource-level permissions.
	for _, id := range f.ofType("AWS::IAM::Policy") {
		for _, s := range statements(f.resources[id].Properties["PolicyDocument"]) {
			if s[len(s)-5:] == " on *" {
				require.Regexp(t, `^Allow xray:\w+ on \*$`, s, id)
			}
		}
	}
}

func TestStage(t *testing.T) {
	f := defaultFixture()
	stage := f.byName(t, "Stage")
	p := stage.Properties
	require.Equal(t, "prod", p["StageName"])
	require.Equal(t, true, p["AutoDeploy"])
	require.Equal(t, map[string]any{"ThrottlingRateLimit": 500.0, "ThrottlingBurstLimit": 1000.0}, p["DefaultRouteSettings"])
	logs := p["AccessLogSettings"].(map[string]any)
	require.Equal(t, "{AccessLogs}.Arn", flat(logs["DestinationArn"]))
	var format map[string]string
	require.NoError(t, json.Unmarshal([]byte(logs["Format"].(string)), &format), "access logs are JSON")
	require.Equal(t, "$context.connectionId", format["connectionId"])
	require.Equal(t, "$context.routeKey", format["routeKey"])
	require.Equal(t, "$context.authorizer.user_id", format["userId"])

	account := f.byName(t, "ApiGatewayAccount")
	require.Equal(t, "{ApiGatewayCloudWatchRole}.Arn", flat(account.Properties["CloudWatchRoleArn"]))
	require.Equal(t, "Retain", account.DeletionPolicy)
}

func TestDeadLetterQueue(t *testing.T) {
	f := defaultFixture()
	q := f.byName(t, "DeadLetterQueue").Properties
	require.Equal(t, true, q["SqsManagedSseEnabled"])
	require.EqualValues(t, 14*24*3600, q["MessageRetentionPeriod"])
	policy := f.resources[f.ofType("AWS::SQS::QueuePolicy")[0]].Properties["PolicyDocument"]
	raw, err := json.Marshal(policy)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"aws:SecureTransport":"false"`, "TLS only")
}

func TestAlarms(t *testing.T) {
	f := defaultFixture()
	metrics := map[string]float64{}
	for _, id := range f.ofType("AWS::CloudWatch::Alarm") {
		p := f.resources[id].Properties
		require.Equal(t, "{Alarms}", flat(p["AlarmActions"]), id)
		metrics[name(id)] = p["Threshold"].(float64)
	}
	want := map[string]float64{"ProcessorIteratorAge": 60000, "DeadLetterQueueDepth": 1}
	for _, role := range contract.Roles {
		want[title(role)+"Errors"] = 1
		want[title(role)+"Throttles"] = 1
	}
	require.Equal(t, want, metrics)
	require.Len(t, f.api.Alarms(), len(want))

	for _, role := range contract.Roles {
		p := f.byName(t, title(role)+"Errors").Properties
		if role != contract.RoleAuthorizer {
			require.Equal(t, "AWS/Lambda", p["Namespace"], role)
			require.Equal(t, "Errors", p["MetricName"], role)
		}
	}
}

// TestAuthorizerAlarmIgnoresRefusedTokens: the authorizer answers a bad or expired token
// with the error "Unauthorized" (API Gateway's 401), which Lambda counts in Errors; its
// alarm counts failures from its logs instead.
func TestAuthorizerAlarmIgnoresRefusedTokens(t *testing.T) {
	f := defaultFixture()
	alarm := f.byName(t, "AuthorizerErrors").Properties
	require.NotEqual(t, "AWS/Lambda", alarm["Namespace"], "Lambda's Errors metric counts every refused token")
	require.Equal(t, "Streamer", alarm["Namespace"])
	require.Equal(t, "AuthorizerFailures-{AuthorizerFunction}", flat(alarm["MetricName"]))
	require.Equal(t, "Sum", alarm["Statistic"])

	filter := f.byName(t, "AuthorizerFailureFilter").Properties
	require.Equal(t, "{AuthorizerLogs}", flat(filter["LogGroupName"]))
	require.Equal(t, authorizerFailurePattern, filter["FilterPattern"])
	transform := filter["MetricTransformations"].([]any)[0].(map[string]any)
	require.Equal(t, "Streamer", transform["MetricNamespace"])
	require.Equal(t, flat(alarm["MetricName"]), flat(transform["MetricName"]), "the alarm watches the filter's metric")
	require.Equal(t, "1", transform["MetricValue"])

	// What the pattern matches, record by record: CloudWatch's JSON filter semantics for
	// the records the authorizer and Lambda write.
	for _, tc := range []struct {
		record string
		fails  bool
	}{
		{`{"level":"WARN","msg":"auth: connection refused","reason":"auth: invalid token: expired"}`, false},
		{`{"level":"INFO","msg":"auth: connection allowed"}`, false},
		{`{"type":"platform.report","record":{"status":"error","errorType":"errorString"}}`, false},
		{`{"level":"ERROR","msg":"auth: token could not be verified"}`, true},
		{`{"level":"ERROR","msg":"lambdas: cannot start"}`, true},
		{`{"type":"platform.report","record":{"status":"timeout"}}`, true},
		{`{"type":"platform.report","record":{"status":"failure","errorType":"Runtime.ExitError"}}`, true},
	} {
		require.Equal(t, tc.fails, matchesFailure(t, tc.record), tc.record)
	}
}

// matchesFailure evaluates authorizerFailurePattern, whose terms are `($.path = "value")`
// joined by ||, on one JSON record.
func matchesFailure(t *testing.T, record string) bool {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(record), &doc))
	terms := regexp.MustCompile(`\(\$\.([\w.]+) = "([^"]*)"\)`).FindAllStringSubmatch(authorizerFailurePattern, -1)
	require.Len(t, terms, strings.Count(authorizerFailurePattern, "||")+1, "every term is understood")
	for _, term := range terms {
		var v any = doc
		for _, key := range strings.Split(term[1], ".") {
			m, _ := v.(map[string]any)
			v = m[key]
		}
		if v == term[2] {
			return true
		}
	}
	return false
}

// TestLogicalIDsFrozen pins the logical ID of every resource the construct creates (the
// child construct IDs are a contract): renaming one replaces the resource on the next
// deploy (for a table: a new, empty table). Only the Lambda permissions of the authorizer
// and of the re-drive schedule are left out: the CDK names them after the stack.
func TestLogicalIDsFrozen(t *testing.T) {
	f := defaultFixture()
	frozen := []string{
		"StreamerAccessLogs88D6AC5A",
		"StreamerApiAuthorizerF4F9C0CD",
		"StreamerApiD28D2188",
		"StreamerApiGatewayAccount56BBF172",
		"StreamerApiGatewayCloudWatchRole3D821A58",
		"StreamerApiconnectRoute32A2BB55",
		"StreamerApiconnectRouteConnectIntegration6AB756ED",
		"StreamerApiconnectRouteConnectIntegrationPermissionE1F82123",
		"StreamerApidefaultRouteB42CA76E",
		"StreamerApidefaultRouteResponse80AA34BF",
		"StreamerApidefaultRouteRouterIntegration515340F5",
		"StreamerApidefaultRouteRouterIntegrationPermission9FF0E9D3",
		"StreamerApidisconnectRoute050141C5",
		"StreamerApidisconnectRouteDisconnectIntegration88DD4B01",
		"StreamerApidisconnectRouteDisconnectIntegrationPermission2E4D96A4",
		"StreamerAuthorizerErrorsF623183F",
		"StreamerAuthorizerFailureFilter5B346ADC",
		"StreamerAuthorizerFunctionB48C21BC",
		"StreamerAuthorizerLogs86016D7D",
		"StreamerAuthorizerRoleB0BB5BAA",
		"StreamerAuthorizerRoleDefaultPolicy6E5E97FD",
		"StreamerAuthorizerThrottlesE5D77495",
		"StreamerConnectErrors5C43E71F",
		"StreamerConnectFunction88D67F90",
		"StreamerConnectLogs12659ADB",
		"StreamerConnectRoleDE0E35C3",
		"StreamerConnectRoleDefaultPolicyDD5481E5",
		"StreamerConnectThrottles88F7147B",
		"StreamerConnections07D3B4FE",
		"StreamerDeadLetterQueue18512482",
		"StreamerDeadLetterQueueDepth0A3A4623",
		"StreamerDeadLetterQueuePolicyD870BC71",
		"StreamerDisconnectErrors2141B348",
		"StreamerDisconnectFunction90477AC5",
		"StreamerDisconnectLogs51FE2901",
		"StreamerDisconnectRole16A5FCD0",
		"StreamerDisconnectRoleDefaultPolicy997F1F19",
		"StreamerDisconnectThrottles8CF8CE7E",
		"StreamerLimits1BD034BC",
		"StreamerProcessorErrors542195BD",
		"StreamerProcessorFunction1A294FE9",
		"StreamerProcessorIteratorAge00F9CCD8",
		"StreamerProcessorLogsD8A56D07",
		"StreamerProcessorRole36ABFBC4",
		"StreamerProcessorRoleDefaultPolicyD9EBD2BA",
		"StreamerProcessorThrottles896759F3",
		"StreamerRedriveScheduleBC3F5A64",
		"StreamerRedriverErrorsF68B3F99",
		"StreamerRedriverFunction97FCAE50",
		"StreamerRedriverLogs7E562337",
		"StreamerRedriverRoleDefaultPolicy3FDD83E1",
		"StreamerRedriverRoleFCEA12E6",
		"StreamerRedriverThrottles2B85FF31",
		"StreamerRequestsB53A94EA",
		"StreamerRequestsStream851C3715",
		"StreamerRouterErrors60455A37",
		"StreamerRouterFunction90073239",
		"StreamerRouterLogsAB014166",
		"StreamerRouterRole84288E90",
		"StreamerRouterRoleDefaultPolicyCA4860CB",
		"StreamerRouterThrottles4ED20534",
		"StreamerStage8BD82E98",
		"StreamerWorkerErrors21BB63C8",
		"StreamerWorkerFunctionBEA1AAC8",
		"StreamerWorkerFunctionEventInvokeConfig1CC3953C",
		"StreamerWorkerLogs3BD18EEA",
		"StreamerWorkerRole2D1D1BD1",
		"StreamerWorkerRoleDefaultPolicy75266C25",
		"StreamerWorkerThrottles86FF315A",
	}
	for _, id := range frozen {
		require.Contains(t, f.resources, id)
	}
	namedAfterStack := regexp.MustCompile(`^(StreamerApi\w+StreamerApiAuthorizer[0-9A-F]{8}Permission|StreamerRedriveScheduleAllowEventRule\w+StreamerRedriverFunction)[0-9A-F]{8,16}$`)
	for id := range f.resources {
		if strings.HasPrefix(id, "Streamer") && !namedAfterStack.MatchString(id) {
			require.Contains(t, frozen, id, "a new resource: freeze its logical ID here")
		}
	}
}

func TestAccessors(t *testing.T) {
	f := defaultFixture()
	a := f.api
	resolve := func(v any) string { return flat(roundTrip(t, f.stack.Resolve(v))) }
	require.Equal(t, "wss://{Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod", resolve(a.WebSocketUrl()))
	require.Equal(t, "https://{Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod", resolve(a.CallbackUrl()))
	require.Equal(t, "{Connections}", resolve(a.ConnectionsTable().TableName()))
	require.Equal(t, "{Requests}", resolve(a.RequestsTable().TableName()))
	require.Equal(t, "{Limits}", resolve(a.LimitsTable().TableName()))
	require.Equal(t, "{RedriveSchedule}", resolve(a.RedriveSchedule().RuleName()))
	require.Equal(t, "{Api}", resolve(a.WebSocketApi().ApiId()))
	require.Equal(t, "prod", resolve(a.Stage().StageName()))
	require.Equal(t, "{DeadLetterQueue}", resolve(a.DeadLetterQueue().QueueUrl()))
	require.Equal(t, "{AccessLogs}", resolve(a.AccessLogGroup().LogGroupName()))
	require.Equal(t, "{RequestsStream}", resolve(a.StreamEventSource().EventSourceMappingId()))
	for role, fn := range map[string]any{
		contract.RoleAuthorizer: a.AuthorizerFunction(), contract.RoleConnect: a.ConnectFunction(),
		contract.RoleDisconnect: a.DisconnectFunction(), contract.RoleRouter: a.RouterFunction(),
		contract.RoleProcessor: a.ProcessorFunction(), contract.RoleWorker: a.WorkerFunction(),
		contract.RoleRedriver: a.RedriverFunction(),
	} {
		require.Equal(t, "{"+title(role)+"Function}", resolve(a.Function(role).FunctionName()))
		require.Same(t, fn, a.Function(role))
	}
	require.Nil(t, a.Function("nope"))
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func TestCustomProps(t *testing.T) {
	f := customFixture()
	for _, role := range contract.Roles {
		p := f.byName(t, title(role)+"Function").Properties
		require.Equal(t, []any{"x86_64"}, p["Architectures"], role)
		require.NotContains(t, p, "TracingConfig", role)
	}
	worker := f.byName(t, "WorkerFunction").Properties
	require.EqualValues(t, 2048, worker["MemorySize"])
	require.EqualValues(t, 50, worker["ReservedConcurrentExecutions"])
	for _, role := range contract.Roles {
		if role != contract.RoleWorker {
			require.NotContains(t, f.byName(t, title(role)+"Function").Properties, "ReservedConcurrentExecutions", role)
		}
	}
	require.EqualValues(t, 300, worker["Timeout"])
	stage := f.byName(t, "Stage").Properties
	require.Equal(t, "live", stage["StageName"])
	require.Equal(t, map[string]any{"ThrottlingRateLimit": 100.0, "ThrottlingBurstLimit": 200.0}, stage["DefaultRouteSettings"])
	require.EqualValues(t, 50, f.byName(t, "RequestsStream").Properties["BatchSize"])
	for _, id := range f.ofType("AWS::Logs::LogGroup") {
		require.EqualValues(t, 7, f.resources[id].Properties["RetentionInDays"], id)
		require.Equal(t, "Delete", f.resources[id].DeletionPolicy, id)
	}
	router := f.byName(t, "RouterFunction").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	require.Equal(t, "2s", router[contract.EnvAsyncThreshold])
	require.Equal(t, "5", router[contract.EnvMaxAttempts])
	require.Equal(t, "debug", router[contract.EnvLogLevel])
	for k, v := range map[string]string{
		contract.EnvUserMaxInFlight: "-1", contract.EnvUserRate: "0.5", contract.EnvUserBurst: "20",
		contract.EnvTenantMaxInFlight: "1000", contract.EnvTenantRate: "10", contract.EnvTenantBurst: "500",
	} {
		require.Equal(t, v, router[k], k)
	}
	redriver := f.byName(t, "RedriverFunction").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	require.Equal(t, "30m0s", redriver[contract.EnvRedriveAfter])
	require.Equal(t, "rate(10 minutes)", f.byName(t, "RedriveSchedule").Properties["ScheduleExpression"])
	require.Equal(t, "false", router[contract.EnvDirectDispatch])
	require.NotContains(t, router, contract.EnvWorkerFunction, "without direct dispatch the router needs no worker")
	for _, g := range f.grants("RouterRole") {
		require.NotContains(t, g, "lambda:InvokeFunction", "nor may it invoke one")
	}
	f.template.ResourceCountIs(jsii.String("AWS::ApiGateway::Account"), jsii.Number(0))

	for _, table := range []string{"Connections", "Requests", "Limits"} {
		r := f.byName(t, table)
		require.Equal(t, "Delete", r.DeletionPolicy, table)
		sse := r.Properties["SSESpecification"].(map[string]any)
		require.Equal(t, "{Cmk}.Arn", flat(sse["KMSMasterKeyId"]), table)
	}
	require.Equal(t, "{Cmk}.Arn", flat(f.byName(t, "DeadLetterQueue").Properties["KmsMasterKeyId"]))

	auth := f.byName(t, "AuthorizerFunction").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	require.Equal(t, "{Key}", flat(auth[contract.EnvHMACSecretARN]))
	require.NotContains(t, auth, contract.EnvJWKSURL)
	require.Contains(t, f.grants("AuthorizerRole"), "Allow secretsmanager:GetSecretValue on {Key}")

	for _, role := range []string{contract.RoleConnect, contract.RoleRouter, contract.RoleWorker, contract.RoleRedriver} {
		require.Contains(t, f.grants(title(role)+"Role"), "Allow kms:Decrypt on {Cmk}.Arn", role)
	}
	require.Contains(t, f.grants("ProcessorRole"), "Allow kms:Decrypt on {Cmk}.Arn", "reads the encrypted stream")
	for _, role := range []string{contract.RoleProcessor, contract.RoleWorker} {
		require.Contains(t, f.grants(title(role)+"Role"), "Allow kms:GenerateDataKey* on {Cmk}.Arn", "%s sends failures to the encrypted dead-letter queue", role)
	}
}

func TestGrantSendAndEnqueue(t *testing.T) {
	f := customFixture()
	connections := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:{Api}/live/"
	got := f.grants("Backend")
	for _, s := range []string{
		// GrantSend: connection.Manager's Send, IsActive, and the delete after a 410.
		"Allow execute-api:ManageConnections on " + connections + "POST/@connections/*",
		"Allow execute-api:ManageConnections on " + connections + "GET/@connections/*",
		"Allow dynamodb:DeleteItem on {Connections}.Arn",
		// GrantEnqueue: the conditional put, and the read of a duplicate.
		"Allow dynamodb:PutItem on {Requests}.Arn",
		"Allow dynamodb:GetItem on {Requests}.Arn",
		"Allow kms:Decrypt on {Cmk}.Arn",
	} {
		require.Contains(t, got, s)
	}
	for _, s := range got {
		require.NotRegexp(t, `on \*$`, s, "no wildcard resource")
		if strings.Contains(s, "{Connections}") {
			require.Equal(t, "Allow dynamodb:DeleteItem on {Connections}.Arn", s, "nothing reads the connection records through GrantSend")
		}
	}
}
