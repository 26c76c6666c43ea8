package local

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/local/template"
	"github.com/streamer-go/streamer/runtime/store"
)

// support says, per resource type, which properties the template mode acts on; other
// properties of the type are listed at start as not modelled, with the reason in noEffect
// when they have no local counterpart. A type not in it is listed whole.
var support = map[string]struct {
	used     []string
	noEffect map[string]string
}{
	"AWS::DynamoDB::Table": {
		used: []string{"TableName", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode", "ProvisionedThroughput", "StreamSpecification", "TimeToLiveSpecification"},
		noEffect: map[string]string{"PointInTimeRecoverySpecification": "backups", "SSESpecification": "encryption at rest", "Tags": "tags",
			"DeletionProtectionEnabled": "deletion protection", "TableClass": "storage class", "ContributorInsightsSpecification": "CloudWatch Contributor Insights"},
	},
	"AWS::Lambda::Function": {
		used: []string{"FunctionName", "Code", "Handler", "Runtime", "Architectures", "Environment", "MemorySize", "Timeout", "Role", "LoggingConfig", "ReservedConcurrentExecutions"},
		noEffect: map[string]string{"Description": "a description", "TracingConfig": "X-Ray tracing", "Tags": "tags",
			"EphemeralStorage": "the /tmp size is not limited"},
	},
	"AWS::Lambda::EventSourceMapping": {
		used: []string{"EventSourceArn", "FunctionName", "Enabled", "BatchSize", "StartingPosition", "FilterCriteria", "MaximumRetryAttempts",
			"BisectBatchOnFunctionError", "MaximumRecordAgeInSeconds", "FunctionResponseTypes", "DestinationConfig", "ParallelizationFactor",
			"MaximumBatchingWindowInSeconds", "TumblingWindowInSeconds", "ScalingConfig", "MetricsConfig"},
	},
	"AWS::Lambda::EventInvokeConfig": {used: []string{"FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"}},
	"AWS::Lambda::Permission":        {used: []string{"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"}},
	"AWS::IAM::Role": {
		used:     []string{"RoleName", "Path", "Policies", "ManagedPolicyArns", "PermissionsBoundary"},
		noEffect: map[string]string{"AssumeRolePolicyDocument": "the trust policy; each function runs as its role", "Description": "a description", "MaxSessionDuration": "session length", "Tags": "tags"},
	},
	"AWS::IAM::Policy":                 {used: []string{"PolicyName", "PolicyDocument", "Roles"}, noEffect: map[string]string{"Users": "users", "Groups": "groups"}},
	"AWS::IAM::ManagedPolicy":          {used: []string{"ManagedPolicyName", "Path", "PolicyDocument", "Roles"}, noEffect: map[string]string{"Description": "a description", "Users": "users", "Groups": "groups"}},
	"AWS::SQS::Queue":                  {used: []string{"QueueName", "VisibilityTimeout", "FifoQueue"}, noEffect: map[string]string{"MessageRetentionPeriod": "messages do not expire", "SqsManagedSseEnabled": "encryption at rest", "KmsMasterKeyId": "encryption at rest", "RedrivePolicy": "no redrive", "Tags": "tags"}},
	"AWS::SQS::QueuePolicy":            {used: []string{"PolicyDocument", "Queues"}},
	"AWS::SecretsManager::Secret":      {used: []string{"Name", "SecretString", "GenerateSecretString"}, noEffect: map[string]string{"Description": "a description", "KmsKeyId": "encryption at rest", "Tags": "tags"}},
	"AWS::ApiGatewayV2::Api":           {used: []string{"Name", "ProtocolType", "RouteSelectionExpression"}, noEffect: map[string]string{"Description": "a description", "Tags": "tags"}},
	"AWS::ApiGatewayV2::Stage":         {used: []string{"ApiId", "StageName", "DefaultRouteSettings", "RouteSettings", "AutoDeploy"}, noEffect: map[string]string{"AccessLogSettings": "access logs are not written", "Description": "a description"}},
	"AWS::ApiGatewayV2::Route":         {used: []string{"ApiId", "RouteKey", "Target", "AuthorizationType", "AuthorizerId", "RouteResponseSelectionExpression"}},
	"AWS::ApiGatewayV2::Integration":   {used: []string{"ApiId", "IntegrationType", "IntegrationUri"}},
	"AWS::ApiGatewayV2::Authorizer":    {used: []string{"ApiId", "AuthorizerType", "AuthorizerUri", "IdentitySource", "Name"}},
	"AWS::ApiGatewayV2::RouteResponse": {used: []string{"ApiId", "RouteId", "RouteResponseKey"}},
}

// noLocalEffect are resource types the mode accepts without modelling, and why.
var noLocalEffect = map[string]string{
	"AWS::Logs::LogGroup":      "function logs go to the stack's output",
	"AWS::Logs::MetricFilter":  "no CloudWatch",
	"AWS::CloudWatch::Alarm":   "no CloudWatch",
	"AWS::ApiGateway::Account": "an account setting",
	"AWS::CDK::Metadata":       "CDK usage data",
	"AWS::SNS::Topic":          "no SNS",
	"AWS::KMS::Key":            "no encryption at rest",
	"AWS::Events::Rule":        "schedules do not fire: the functions they target run only when something else invokes them",
}

// inventory lists what the template holds that the mode does not model: whole resource
// types, properties, template sections. Each line is logged once at start.
func inventory(t *template.Template, r *template.Resolver) []string {
	var out []string
	if len(t.Transform) > 0 {
		out = append(out, "Transform "+strings.Join(t.Transform, ", ")+": the template is used as it is, unexpanded")
	}
	if len(t.Rules) > 0 {
		out = append(out, "Rules "+strings.Join(slices.Sorted(maps.Keys(t.Rules)), ", ")+": deploy-time checks, not evaluated")
	}
	for _, name := range slices.Sorted(maps.Keys(t.Parameters)) {
		if p := t.Parameters[name]; strings.HasPrefix(p.Type, "AWS::SSM::Parameter::") {
			out = append(out, "parameter "+name+" ("+p.Type+"): SSM is not consulted, so it has no value")
		}
	}
	byType := map[string][]string{} // whole types not modelled
	byProp := map[string][]string{} // "type: property (why)" -> resources
	for _, res := range t.Sorted() {
		if !r.Exists(res) {
			continue
		}
		sup, modelled := support[res.Type]
		if !modelled {
			byType[res.Type] = append(byType[res.Type], res.LogicalID)
			continue
		}
		for prop := range res.Properties {
			if slices.Contains(sup.used, prop) {
				continue
			}
			why := sup.noEffect[prop]
			if why == "" {
				why = "not understood"
			}
			key := fmt.Sprintf("%s %s (%s)", res.Type, prop, why)
			byProp[key] = append(byProp[key], res.LogicalID)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(byProp)) {
		out = append(out, key+": "+strings.Join(byProp[key], ", "))
	}
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		why, ok := noLocalEffect[typ]
		if !ok {
			why = "resource type not understood"
		}
		out = append(out, fmt.Sprintf("%s x%d (%s): %s", typ, len(byType[typ]), why, strings.Join(byType[typ], ", ")))
	}
	return out
}

// check runs the start-up checks that catch a stack which would deploy but not work:
// STREAMER_ variables the runtime does not read, and an event source mapping on the
// requests table whose filter rejects the records the runtime writes.
func (ts *tmplStack) check() error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(ts.functions)) {
		f := ts.functions[id]
		for _, name := range slices.Sorted(maps.Keys(f.env)) {
			if strings.HasPrefix(name, "STREAMER_") && !slices.Contains(contract.EnvVars, name) {
				hint := "the runtime reads " + strings.Join(contract.EnvVars, ", ")
				if near := closest(name, contract.EnvVars); near != "" {
					hint = "did you mean " + near + "?"
				}
				errs = append(errs, fmt.Errorf("function %s (%s): environment variable %s is not one the runtime reads (%s)", f.key, id, name, hint))
			}
		}
	}
	if err := ts.checkRequestsFilter(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("local: the template would deploy, but not work: %w", errors.Join(errs...))
	}
	return nil
}

// checkRequestsFilter requires that a mapping on the requests table's stream (the table
// a function's STREAMER_REQUESTS_TABLE names) admits the records that must reach the
// processor: a new request (INSERT) and a request released for a retry (MODIFY), both
// PENDING, as store.EncodeImage writes them.
func (ts *tmplStack) checkRequestsFilter() error {
	var table string
	for _, f := range ts.functions {
		if t := f.env[contract.EnvRequestsTable]; t != "" {
			table = t
		}
	}
	if table == "" {
		return nil
	}
	req := &store.AsyncRequest{
		RequestID: "tenant#user#check", ClientID: "check", ConnectionID: "Ty2-Rc1iIAMCJ0Q=", UserID: "user", TenantID: "tenant",
		Action: "check", Status: store.StatusPending, Attempt: 1, MaxAttempts: 3,
		CreatedAt: time.Now(), UpdatedAt: time.Now(), TTL: time.Now().Add(contract.RequestTTL).Unix(),
	}
	img, err := store.EncodeImage(req)
	if err != nil {
		return fmt.Errorf("the check record: %w", err)
	}
	found := false
	for _, m := range ts.maps {
		if !strings.Contains(m.streamARN, ":table/"+table+"/stream/") {
			continue
		}
		found = true
		for _, event := range []string{"INSERT", "MODIFY"} {
			rec := events.DynamoDBEventRecord{
				EventName: event, EventSource: "aws:dynamodb", EventVersion: "1.1", EventSourceArn: m.streamARN,
				Change: events.DynamoDBStreamRecord{
					Keys:           map[string]events.DynamoDBAttributeValue{contract.AttrRequestID: img[contract.AttrRequestID]},
					NewImage:       img,
					StreamViewType: "NEW_IMAGE",
					SequenceNumber: "1",
				},
			}
			if !m.admits(&rec) {
				return fmt.Errorf("event source mapping %s: its filter rejects the %s record the runtime writes for a PENDING request on %s: requests would never reach %s (filters: %s)",
					m.logicalID, event, table, m.f.key, patterns(m))
			}
		}
	}
	if !found {
		return fmt.Errorf("no event source mapping reads the stream of the requests table %s: queued requests would never run", table)
	}
	return nil
}

func patterns(m *mapping) string {
	var out []string
	for _, p := range m.filters {
		out = append(out, p.String())
	}
	return strings.Join(out, " OR ")
}

// closest returns the name in names nearest to s by edit distance, "" when none is within
// three edits (a typo, not another name).
func closest(s string, names []string) string {
	best, bestDist := "", 4
	for _, n := range names {
		if d := editDistance(s, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
