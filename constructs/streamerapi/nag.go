package streamerapi

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"github.com/streamer-go/streamer/runtime/contract"
)

// addNagSuppressions records, for cdk-nag's AwsSolutions pack, why each finding this
// construct causes on purpose is acceptable. Each applies to the resources that cause it
// only, so a finding a user's change introduces still shows.
func (a *streamerApi) addNagSuppressions() {
	suppress := func(target any, id, reason string, appliesTo ...any) {
		s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			s.AppliesTo = &appliesTo
		}
		cdknag.NagSuppressions_AddResourceSuppressions(target, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
	}
	for _, role := range contract.Roles {
		suppress(a.roles[role], "AwsSolutions-IAM5",
			"X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; Resource \"*\" is the only form AWS accepts.",
			"Resource::*")
	}
	connections := &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<[A-Za-z0-9]+>\/[A-Za-z0-9_-]+\/(POST|GET)\/@connections\/\*$/g`)}
	for _, role := range []string{contract.RoleRouter, contract.RoleWorker, contract.RoleRedriver} {
		suppress(a.roles[role], "AwsSolutions-IAM5",
			"Connection ids exist only at run time; the grant is scoped to this API, this stage and one HTTP method of @connections.",
			connections)
	}
	suppress(a.roles[contract.RoleProcessor], "AwsSolutions-IAM5",
		"dynamodb:ListStreams is authorized on the table's streams (table/<name>/stream/*, the resource AWS documents for Lambda stream consumers); the stream label changes when the stream is re-enabled.",
		&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<[A-Za-z0-9]+\.Arn>\/stream\/\*$/g`)})
	for _, route := range []awsapigatewayv2.WebSocketRoute{a.disconnectRoute, a.defaultRoute} {
		suppress(route, "AwsSolutions-APIG4",
			"WebSocket APIs authorize only on $connect (Lambda REQUEST authorizer); later messages travel on the authorized connection and carry its identity in requestContext.authorizer.")
	}
	suppress(a.dlq, "AwsSolutions-SQS3",
		"This queue is the dead-letter destination of the stream mapping and the worker's async invocations; it has no consumer whose failures would need another DLQ.")
	if a.apiGatewayRole != nil {
		suppress(a.apiGatewayRole, "AwsSolutions-IAM4",
			"AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy for API Gateway's account-level logging role, which must write to log groups of every API in the account.",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
	}
}
