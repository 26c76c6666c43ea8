package streamerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/streamer-go/streamer/runtime/contract"
)

// StreamerApi is the deployed Streamer backend: a WebSocket API whose $connect is guarded by
// a JWT authorizer, the Connections, Requests and Limits tables, the seven role
// functions, the stream dispatch to the worker, the re-driver's schedule, and its alarms.
type StreamerApi interface {
	constructs.Construct
	// WebSocketApi is the API Gateway WebSocket API.
	WebSocketApi() awsapigatewayv2.WebSocketApi
	// Stage is the API's stage (throttled, access-logged).
	Stage() awsapigatewayv2.WebSocketStage
	// AccessLogGroup receives the stage's JSON access logs.
	AccessLogGroup() awslogs.LogGroup
	// ConnectionsTable holds one item per open connection.
	ConnectionsTable() awsdynamodb.Table
	// RequestsTable holds the async requests; its stream feeds the processor.
	RequestsTable() awsdynamodb.Table
	// LimitsTable holds one item per tenant: the token buckets and the requests in
	// flight the router's limits count.
	LimitsTable() awsdynamodb.Table
	// AuthorizerFunction verifies the token on $connect.
	AuthorizerFunction() awslambda.Function
	// ConnectFunction records a new connection.
	ConnectFunction() awslambda.Function
	// DisconnectFunction deletes a connection record.
	DisconnectFunction() awslambda.Function
	// RouterFunction serves $default: runs short actions, queues long ones.
	RouterFunction() awslambda.Function
	// ProcessorFunction reads the Requests stream and invokes the worker per request.
	ProcessorFunction() awslambda.Function
	// WorkerFunction runs one queued request with progress.
	WorkerFunction() awslambda.Function
	// RedriverFunction hands out again, on a schedule, the requests nothing will
	// deliver any more.
	RedriverFunction() awslambda.Function
	// RedriveSchedule is the EventBridge rule that runs the re-driver.
	RedriveSchedule() awsevents.Rule
	// Function returns the function of a role (one of contract.Roles), nil for another name.
	Function(role string) awslambda.Function
	// StreamEventSource is the Requests stream -> processor event source mapping.
	StreamEventSource() awslambda.EventSourceMapping
	// DeadLetterQueue receives stream batches and worker events that exhausted retries.
	DeadLetterQueue() awssqs.Queue
	// Alarms are the alarms on errors, throttles, iterator age and dead-letter depth.
	Alarms() []awscloudwatch.Alarm
	// WebSocketUrl is the wss:// URL clients connect to.
	WebSocketUrl() *string
	// CallbackUrl is the https:// @connections endpoint of the stage.
	CallbackUrl() *string
	// GrantSend lets grantee do what connection.Manager does: push messages to connected
	// clients (PostToConnection), check a connection (GetConnection, Manager.IsActive),
	// and delete the record of a connection that is gone (DeleteItem on the Connections
	// table, after a 410).
	GrantSend(grantee awsiam.IGrantable) awsiam.Grant
	// GrantEnqueue lets grantee put new async requests into the Requests table (and read
	// back a duplicate), e.g. a backend that queues work for connected users.
	GrantEnqueue(grantee awsiam.IGrantable) awsiam.Grant
}

type streamerApi struct {
	constructs.Construct

	s           *settings
	api         awsapigatewayv2.WebSocketApi
	stage       awsapigatewayv2.WebSocketStage
	accessLogs  awslogs.LogGroup
	connections awsdynamodb.Table
	requests    awsdynamodb.Table
	limits      awsdynamodb.Table
	schedule    awsevents.Rule
	functions   map[string]awslambda.Function
	roles       map[string]awsiam.Role
	logGroups   map[string]awslogs.LogGroup
	mapping     awslambda.EventSourceMapping
	// goEntry is what the functions' metadata records of the Go package their asset was
	// built from (nil when props.Code is set).
	goEntry map[string]string
	// Kept for their cdk-nag suppressions.
	disconnectRoute awsapigatewayv2.WebSocketRoute
	defaultRoute    awsapigatewayv2.WebSocketRoute
	apiGatewayRole  awsiam.Role
	dlq             awssqs.Queue
	alarms          []awscloudwatch.Alarm
}

var _ StreamerApi = (*streamerApi)(nil)

// NewStreamerApi provisions a Streamer backend under scope. It validates props (see
// Validate) and builds the Lambda asset with `go build` unless props.Code is set; either
// failure panics with an error naming the prop or the entry, which is how a CDK app fails
// at synth. Props with neither JwksUrl nor HmacSecret fail synth with
// ErrNoTokenVerification as an error annotation instead.
func NewStreamerApi(scope constructs.Construct, id *string, props *StreamerApiProps) StreamerApi {
	s, err := resolve(props)
	if err != nil {
		panic(err)
	}
	a := &streamerApi{
		Construct: constructs.NewConstruct(scope, id),
		s:         s,
		functions: make(map[string]awslambda.Function, len(contract.Roles)),
		roles:     make(map[string]awsiam.Role, len(contract.Roles)),
		logGroups: make(map[string]awslogs.LogGroup, len(contract.Roles)),
	}
	code, cleanup, err := a.code()
	if err != nil {
		panic(err)
	}
	// The functions stage the asset into the cloud assembly as they are created; the build
	// directory goes afterwards, or on a panic.
	defer cleanup()
	a.addTables()
	a.addDeadLetterQueue()
	a.addAPI()
	for _, role := range contract.Roles {
		a.addFunction(role, code)
	}
	// Set once both exist: the processor (and, with direct dispatch, the router) invokes
	// the worker by name.
	a.ProcessorFunction().AddEnvironment(jsii.String(contract.EnvWorkerFunction), a.WorkerFunction().FunctionName(), nil)
	if a.s.directDispatch {
		a.RouterFunction().AddEnvironment(jsii.String(contract.EnvWorkerFunction), a.WorkerFunction().FunctionName(), nil)
	}
	a.addRoutes()
	a.grantRoles()
	a.addStreamMapping()
	a.addRedriveSchedule()
	a.addAlarms()
	a.addNagSuppressions()
	if s.stackOutputs {
		a.addOutputs()
	}
	if s.noTokenVerification {
		// A panic would bury the message under a Go stack trace; the CLI prints an error
		// annotation with the construct's path and stops.
		awscdk.Annotations_Of(a.Construct).AddError(jsii.String(ErrNoTokenVerification.Error()))
	}
	return a
}

// The accessors below are documented on the StreamerApi interface.

func (a *streamerApi) WebSocketApi() awsapigatewayv2.WebSocketApi {
	return a.api
}

func (a *streamerApi) Stage() awsapigatewayv2.WebSocketStage {
	return a.stage
}

func (a *streamerApi) AccessLogGroup() awslogs.LogGroup {
	return a.accessLogs
}

func (a *streamerApi) ConnectionsTable() awsdynamodb.Table {
	return a.connections
}

func (a *streamerApi) RequestsTable() awsdynamodb.Table {
	return a.requests
}

func (a *streamerApi) LimitsTable() awsdynamodb.Table {
	return a.limits
}

func (a *streamerApi) RedriverFunction() awslambda.Function {
	return a.functions[contract.RoleRedriver]
}

func (a *streamerApi) RedriveSchedule() awsevents.Rule {
	return a.schedule
}

func (a *streamerApi) AuthorizerFunction() awslambda.Function {
	return a.functions[contract.RoleAuthorizer]
}

func (a *streamerApi) ConnectFunction() awslambda.Function {
	return a.functions[contract.RoleConnect]
}

func (a *streamerApi) DisconnectFunction() awslambda.Function {
	return a.functions[contract.RoleDisconnect]
}

func (a *streamerApi) RouterFunction() awslambda.Function {
	return a.functions[contract.RoleRouter]
}

func (a *streamerApi) ProcessorFunction() awslambda.Function {
	return a.functions[contract.RoleProcessor]
}

func (a *streamerApi) WorkerFunction() awslambda.Function {
	return a.functions[contract.RoleWorker]
}

func (a *streamerApi) StreamEventSource() awslambda.EventSourceMapping {
	return a.mapping
}

func (a *streamerApi) DeadLetterQueue() awssqs.Queue {
	return a.dlq
}

func (a *streamerApi) Alarms() []awscloudwatch.Alarm {
	return a.alarms
}

func (a *streamerApi) WebSocketUrl() *string {
	return a.stage.Url()
}

func (a *streamerApi) CallbackUrl() *string {
	return a.stage.CallbackUrl()
}

func (a *streamerApi) Function(role string) awslambda.Function {
	return a.functions[role]
}

func (a *streamerApi) GrantSend(grantee awsiam.IGrantable) awsiam.Grant {
	a.grantKey(grantee)
	post := awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("execute-api:ManageConnections"),
		ResourceArns: &[]*string{a.connectionsArn("POST"), a.connectionsArn("GET")},
	})
	return post.Combine(awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("dynamodb:DeleteItem"),
		ResourceArns: &[]*string{a.connections.TableArn()},
	}))
}

func (a *streamerApi) GrantEnqueue(grantee awsiam.IGrantable) awsiam.Grant {
	a.grantKey(grantee)
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings("dynamodb:PutItem", "dynamodb:GetItem"),
		ResourceArns: &[]*string{a.requests.TableArn()},
	})
}

// code returns the Lambda code every function shares and a func that removes the build
// directory once the asset is staged.
func (a *streamerApi) code() (awslambda.Code, func(), error) {
	if a.s.props.Code != nil {
		return a.s.props.Code, func() {}, nil
	}
	goarch := "arm64"
	if *a.architecture().Name() == *awslambda.Architecture_X86_64().Name() {
		goarch = "amd64"
	}
	asset, err := BuildAsset(context.Background(), BuildOptions{Entry: deref(a.s.props.Entry), GOARCH: goarch})
	if err != nil {
		return nil, nil, err
	}
	a.goEntry = goEntry(asset)
	code := awslambda.Code_FromAsset(jsii.String(asset.Dir), &awss3assets.AssetOptions{
		AssetHash:     jsii.String(asset.Hash),
		AssetHashType: awscdk.AssetHashType_CUSTOM,
	})
	cleanup := func() {
		// With staging disabled (SAM local), the template points at the build directory.
		if a.Node().TryGetContext(jsii.String("aws:cdk:disable-asset-staging")) == nil {
			_ = os.RemoveAll(asset.Dir)
		}
	}
	return code, cleanup, nil
}

// goEntry is the streamer:go-entry metadata of the functions: the Go package the asset was
// built from and its module directory relative to the CDK app's working directory (so a
// checkout elsewhere can rebuild it), for `streamer local --template`, which rebuilds the
// asset when this machine's architecture differs from the functions'.
func goEntry(asset *Asset) map[string]string {
	entry := map[string]string{"package": asset.Package, "moduleDir": asset.ModuleDir}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, asset.ModuleDir); err == nil {
			entry["moduleDir"] = filepath.ToSlash(rel)
		}
	}
	return entry
}

func (a *streamerApi) architecture() awslambda.Architecture {
	if a.s.props.Architecture != nil {
		return a.s.props.Architecture
	}
	return awslambda.Architecture_ARM_64()
}

func (a *streamerApi) removalPolicy() awscdk.RemovalPolicy {
	if a.s.props.RemovalPolicy != "" {
		return a.s.props.RemovalPolicy
	}
	return awscdk.RemovalPolicy_RETAIN
}

func (a *streamerApi) logRetention() awslogs.RetentionDays {
	if a.s.props.LogRetention != "" {
		return a.s.props.LogRetention
	}
	return awslogs.RetentionDays_ONE_MONTH
}

// addTables creates the Connections, Requests and Limits tables with the contract's key
// schema.
func (a *streamerApi) addTables() {
	str := awsdynamodb.AttributeType_STRING
	table := func(id, pk string, stream awsdynamodb.StreamViewType) awsdynamodb.Table {
		props := &awsdynamodb.TableProps{
			PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(pk), Type: str},
			BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
			TimeToLiveAttribute: jsii.String(contract.AttrTTL),
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			Encryption:    awsdynamodb.TableEncryption_AWS_MANAGED,
			RemovalPolicy: a.removalPolicy(),
			Stream:        stream,
		}
		if key := a.s.props.EncryptionKey; key != nil {
			props.Encryption = awsdynamodb.TableEncryption_CUSTOMER_MANAGED
			props.EncryptionKey = key
		}
		return awsdynamodb.NewTable(a.Construct, jsii.String(id), props)
	}
	// Indexes only where the runtime queries: an index nothing queries costs a write per
	// item change (status-time, keyed by a five-valued status and rewritten by every
	// progress checkpoint, would have been one hot partition throttling the table at
	// about 1,000 running requests).
	a.connections = table("Connections", contract.AttrConnectionID, "")
	a.requests = table("Requests", contract.AttrRequestID, awsdynamodb.StreamViewType_NEW_IMAGE)
	// The re-driver's index: sparse (unfinished_shard is removed when a request ends), 16
	// partition key values (no status-keyed hot partition), keys only (a checkpoint
	// rewrites no index item).
	a.requests.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(contract.IndexUnfinished),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(contract.AttrUnfinishedShard), Type: str},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(contract.AttrCreatedAt), Type: str},
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	})

	// One item per tenant, written by the router's limiter; TTL removes idle tenants'.
	a.limits = table("Limits", contract.AttrLimitKey, "")
}

// addDeadLetterQueue creates the encrypted, TLS-only queue for exhausted stream batches
// and worker events.
func (a *streamerApi) addDeadLetterQueue() {
	props := &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	}
	if key := a.s.props.EncryptionKey; key != nil {
		props.Encryption = awssqs.QueueEncryption_KMS
		props.EncryptionMasterKey = key
	}
	a.dlq = awssqs.NewQueue(a.Construct, jsii.String("DeadLetterQueue"), props)
}

// addAPI creates the WebSocket API and its stage; routes come after the functions.
func (a *streamerApi) addAPI() {
	apiName := a.s.props.ApiName
	if apiName == nil {
		apiName = jsii.String(*awscdk.Stack_Of(a.Construct).StackName() + "-" + *a.Node().Id())
	}
	a.api = awsapigatewayv2.NewWebSocketApi(a.Construct, jsii.String("Api"), &awsapigatewayv2.WebSocketApiProps{
		ApiName:                  apiName,
		Description:              jsii.String("Streamer WebSocket API"),
		RouteSelectionExpression: jsii.String("$request.body.action"),
	})
	a.stage = awsapigatewayv2.NewWebSocketStage(a.Construct, jsii.String("Stage"), &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi: a.api,
		StageName:    jsii.String(a.s.stageName),
		AutoDeploy:   jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(a.s.rateLimit),
			BurstLimit: jsii.Number(float64(a.s.burstLimit)),
		},
	})
	a.accessLogs = awslogs.NewLogGroup(a.Construct, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     a.logRetention(),
		RemovalPolicy: a.removalPolicy(),
	})
	format, err := json.Marshal(accessLogFields)
	if err != nil {
		panic(fmt.Errorf("streamerapi: access log format: %w", err))
	}
	cfnStage := a.stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: a.accessLogs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})
	if a.s.cloudWatchRole {
		a.addAPIGatewayAccount(cfnStage)
	}
}

// accessLogFields is the JSON access log line of the stage.
var accessLogFields = map[string]string{
	"requestId":          "$context.requestId",
	"connectionId":       "$context.connectionId",
	"eventType":          "$context.eventType",
	"routeKey":           "$context.routeKey",
	"status":             "$context.status",
	"requestTime":        "$context.requestTimeEpoch",
	"ip":                 "$context.identity.sourceIp",
	"userId":             "$context.authorizer." + contract.AuthUserID,
	"tenantId":           "$context.authorizer." + contract.AuthTenantID,
	"authorizerError":    "$context.authorizer.error",
	"integrationLatency": "$context.integrationLatency",
	"integrationError":   "$context.integrationErrorMessage",
	"error":              "$context.error.message",
}

// addAPIGatewayAccount sets the account's API Gateway CloudWatch role, without which a
// WebSocket stage cannot write access logs. Both are retained: other APIs may rely on them.
func (a *streamerApi) addAPIGatewayAccount(stage awsapigatewayv2.CfnStage) {
	role := awsiam.NewRole(a.Construct, jsii.String("ApiGatewayCloudWatchRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AmazonAPIGatewayPushToCloudWatchLogs")),
		},
	})
	role.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN)
	a.apiGatewayRole = role
	account := awsapigateway.NewCfnAccount(a.Construct, jsii.String("ApiGatewayAccount"), &awsapigateway.CfnAccountProps{
		CloudWatchRoleArn: role.RoleArn(),
	})
	account.ApplyRemovalPolicy(awscdk.RemovalPolicy_RETAIN, nil)
	stage.Node().AddDependency(account)
}

// addFunction creates the function of one role with its own role and log group.
func (a *streamerApi) addFunction(role string, code awslambda.Code) {
	title := title(role)
	fs := a.s.functions[role]
	iamRole := awsiam.NewRole(a.Construct, jsii.String(title+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Streamer " + role + " function"),
	})
	logs := awslogs.NewLogGroup(a.Construct, jsii.String(title+"Logs"), &awslogs.LogGroupProps{
		Retention:     a.logRetention(),
		RemovalPolicy: a.removalPolicy(),
	})
	logs.GrantWrite(iamRole)
	tracing := a.s.props.Tracing
	if tracing == "" {
		tracing = awslambda.Tracing_ACTIVE
	}
	props := &awslambda.FunctionProps{
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Handler:       jsii.String("bootstrap"),
		Code:          code,
		Architecture:  a.architecture(),
		MemorySize:    jsii.Number(float64(fs.memoryMB)),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(fs.timeout.Seconds())),
		Environment:   a.environment(role),
		Role:          iamRole,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Tracing:       tracing,
		Description:   jsii.String("Streamer " + role),
	}
	if role == contract.RoleWorker {
		props.RetryAttempts = jsii.Number(float64(a.s.workerRetries))
		props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
		props.OnFailure = awslambdadestinations.NewSqsDestination(a.dlq)
		if a.s.workerReserved > 0 {
			props.ReservedConcurrentExecutions = jsii.Number(float64(a.s.workerReserved))
		}
	}
	a.functions[role] = awslambda.NewFunction(a.Construct, jsii.String(title+"Function"), props)
	if a.goEntry != nil {
		fn := a.functions[role].Node().DefaultChild().(awscdk.CfnResource)
		fn.AddMetadata(jsii.String(contract.GoEntryMetadata), a.goEntry)
	}
	a.roles[role] = iamRole
	a.logGroups[role] = logs
}

// environment returns the variables of one role: each role gets only the names it reads.
func (a *streamerApi) environment(role string) *map[string]*string {
	env := map[string]string{
		contract.EnvFunction:         role,
		contract.EnvLogLevel:         a.s.logLevel,
		contract.EnvMetricsNamespace: a.s.metricsNamespace,
	}
	tables := func() {
		env[contract.EnvConnectionsTable] = *a.connections.TableName()
		env[contract.EnvRequestsTable] = *a.requests.TableName()
	}
	switch role {
	case contract.RoleAuthorizer:
		p := a.s.props
		setIf(env, contract.EnvJWKSURL, p.JwksUrl)
		setIf(env, contract.EnvIssuer, p.Issuer)
		setIf(env, contract.EnvAudience, p.Audience)
		if p.HmacSecret != nil {
			env[contract.EnvHMACSecretARN] = *p.HmacSecret.SecretArn()
		}
		if p.AllowedTenants != nil {
			env[contract.EnvAllowedTenants] = strings.Join(jsiiStrings(*p.AllowedTenants), ",")
		}
	case contract.RoleConnect, contract.RoleDisconnect:
		env[contract.EnvConnectionsTable] = *a.connections.TableName()
	case contract.RoleRouter:
		tables()
		l := a.s.limits
		env[contract.EnvLimitsTable] = *a.limits.TableName()
		env[contract.EnvCallbackURL] = *a.stage.CallbackUrl()
		env[contract.EnvAsyncThreshold] = a.s.asyncThreshold.String()
		env[contract.EnvSyncBudget] = a.s.syncBudget.String()
		env[contract.EnvMaxAttempts] = strconv.Itoa(a.s.maxAttempts)
		env[contract.EnvUserMaxInFlight] = strconv.Itoa(l.userInFlight)
		env[contract.EnvUserRate] = strconv.FormatFloat(l.userRate, 'g', -1, 64)
		env[contract.EnvUserBurst] = strconv.Itoa(l.userBurst)
		env[contract.EnvTenantMaxInFlight] = strconv.Itoa(l.tenantInFlight)
		env[contract.EnvTenantRate] = strconv.FormatFloat(l.tenantRate, 'g', -1, 64)
		env[contract.EnvTenantBurst] = strconv.Itoa(l.tenantBurst)
		env[contract.EnvDirectDispatch] = strconv.FormatBool(a.s.directDispatch)
	case contract.RoleWorker:
		tables()
		env[contract.EnvCallbackURL] = *a.stage.CallbackUrl()
	case contract.RoleRedriver:
		tables()
		env[contract.EnvCallbackURL] = *a.stage.CallbackUrl()
		env[contract.EnvRedriveAfter] = a.s.redriveAfter.String()
	}
	out := make(map[string]*string, len(env))
	for k, v := range env {
		out[k] = jsii.String(v)
	}
	return &out
}

// title is the construct ID prefix of a role: "worker" -> "Worker".
func title(role string) string { return strings.ToUpper(role[:1]) + role[1:] }

func setIf(env map[string]string, key string, v *string) {
	if v != nil && *v != "" {
		env[key] = *v
	}
}

func jsiiStrings(in []*string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, *s)
	}
	return out
}

// addRoutes wires $connect (with the authorizer), $disconnect and $default (with a route
// response, so the router's reply reaches the client without a PostToConnection; Lambda
// proxy integrations pass the body through and take no integration response).
func (a *streamerApi) addRoutes() {
	integration := func(role string) awsapigatewayv2.WebSocketRouteIntegration {
		return awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String(title(role)+"Integration"), a.functions[role], nil)
	}
	// API Gateway answers 401 to a $connect without the identity source before it invokes
	// the authorizer, so missing tokens cost no invocation; the authorizer then reads the
	// token from the same place.
	authorizer := awsapigatewayv2authorizers.NewWebSocketLambdaAuthorizer(jsii.String("Authorizer"), a.functions[contract.RoleAuthorizer],
		&awsapigatewayv2authorizers.WebSocketLambdaAuthorizerProps{IdentitySource: jsii.Strings(a.s.identitySource...)})
	a.api.AddRoute(jsii.String("$connect"), &awsapigatewayv2.WebSocketRouteOptions{
		Integration: integration(contract.RoleConnect),
		Authorizer:  authorizer,
	})
	a.disconnectRoute = a.api.AddRoute(jsii.String("$disconnect"), &awsapigatewayv2.WebSocketRouteOptions{
		Integration: integration(contract.RoleDisconnect),
	})
	a.defaultRoute = a.api.AddRoute(jsii.String("$default"), &awsapigatewayv2.WebSocketRouteOptions{
		Integration:    integration(contract.RoleRouter),
		ReturnResponse: jsii.Bool(true),
	})
}

// connectionsArn is the execute-api ARN of this stage's @connections for one HTTP method.
func (a *streamerApi) connectionsArn(method string) *string {
	return awscdk.Stack_Of(a.Construct).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("execute-api"),
		Resource:     a.api.ApiId(),
		ResourceName: jsii.String(a.s.stageName + "/" + method + "/@connections/*"),
	})
}

// allow adds one statement to a role's policy.
func allow(role awsiam.IRole, actions []string, resources ...*string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}

// grantKey lets grantee use the customer-managed key of the tables, when there is one.
func (a *streamerApi) grantKey(grantee awsiam.IGrantable) {
	if key := a.s.props.EncryptionKey; key != nil {
		key.GrantEncryptDecrypt(grantee)
	}
}

// grantRoles gives each role exactly the actions its code performs (runtime/lambdas,
// dynamostore, connection.Manager, executor.LambdaInvoker), on its resources only.
func (a *streamerApi) grantRoles() {
	r := a.roles
	conns, reqs := a.connections.TableArn(), a.requests.TableArn()

	if secret := a.s.props.HmacSecret; secret != nil {
		allow(r[contract.RoleAuthorizer], []string{"secretsmanager:GetSecretValue"}, secret.SecretArn())
		if key := secret.EncryptionKey(); key != nil {
			key.GrantDecrypt(r[contract.RoleAuthorizer])
		}
	}

	// Connections.Save and Connections.Delete.
	allow(r[contract.RoleConnect], []string{"dynamodb:PutItem"}, conns)
	allow(r[contract.RoleDisconnect], []string{"dynamodb:DeleteItem"}, conns)

	// The router and the worker share the request queue (Enqueue: conditional PutItem;
	// Get/Rebind/Claim/Checkpoint/Finish/Release/RequestCancel: GetItem and conditional
	// UpdateItem returning ALL_NEW) and the connection manager, which posts to
	// @connections and deletes the record of a connection that is gone (410).
	// The router's limiter reads and writes the tenant's Limits item (a consistent
	// GetItem, a conditional PutItem) and, when a cap is full, reads the statuses of the
	// requests in flight (BatchGetItem).
	allow(r[contract.RoleRouter], []string{"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"}, reqs)
	allow(r[contract.RoleRouter], []string{"dynamodb:GetItem", "dynamodb:PutItem"}, a.limits.TableArn())
	allow(r[contract.RoleRouter], []string{"dynamodb:DeleteItem"}, conns)
	allow(r[contract.RoleRouter], []string{"execute-api:ManageConnections"}, a.connectionsArn("POST"))

	allow(r[contract.RoleWorker], []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, reqs)
	allow(r[contract.RoleWorker], []string{"dynamodb:DeleteItem"}, conns)
	allow(r[contract.RoleWorker], []string{"execute-api:ManageConnections"}, a.connectionsArn("POST"))

	// The re-driver queries the unfinished index, reads the requests (BatchGetItem, then
	// GetItem and a conditional UpdateItem per stale one) and sends the terminal message
	// of a request it gives up on through the connection manager.
	allow(r[contract.RoleRedriver], []string{"dynamodb:Query"}, jsii.String(*reqs+"/index/"+contract.IndexUnfinished))
	allow(r[contract.RoleRedriver], []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}, reqs)
	allow(r[contract.RoleRedriver], []string{"dynamodb:DeleteItem"}, conns)
	allow(r[contract.RoleRedriver], []string{"execute-api:ManageConnections"}, a.connectionsArn("POST"))

	// The event source mapping reads the stream with the processor's role; Lambda checks
	// all four actions when it creates the mapping. ListStreams is granted on the table's
	// streams (table/<name>/stream/*, the form AWS documents), not on "*".
	allow(r[contract.RoleProcessor], []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
		a.requests.TableStreamArn())
	allow(r[contract.RoleProcessor], []string{"dynamodb:ListStreams"}, a.tableStreams())
	allow(r[contract.RoleProcessor], []string{"lambda:InvokeFunction"}, a.functions[contract.RoleWorker].FunctionArn())
	if a.s.directDispatch {
		// executor.LambdaInvoker in the router: the direct dispatch of a queued request.
		allow(r[contract.RoleRouter], []string{"lambda:InvokeFunction"}, a.functions[contract.RoleWorker].FunctionArn())
	}

	for _, role := range []string{contract.RoleConnect, contract.RoleDisconnect, contract.RoleRouter, contract.RoleWorker, contract.RoleRedriver} {
		a.grantKey(r[role])
	}
	if key := a.s.props.EncryptionKey; key != nil {
		key.GrantDecrypt(r[contract.RoleProcessor])
	}
}

// tableStreams is the ARN pattern of every stream of the Requests table.
func (a *streamerApi) tableStreams() *string {
	return jsii.String(*a.requests.TableArn() + "/stream/*")
}

// addStreamMapping connects the Requests stream to the processor: only new PENDING
// requests invoke it, failed records are retried alone and then dead-lettered.
func (a *streamerApi) addStreamMapping() {
	pattern, err := json.Marshal(streamFilter)
	if err != nil {
		panic(fmt.Errorf("streamerapi: stream filter: %w", err))
	}
	a.mapping = awslambda.NewEventSourceMapping(a.Construct, jsii.String("RequestsStream"), &awslambda.EventSourceMappingProps{
		Target:         a.functions[contract.RoleProcessor],
		EventSourceArn: a.requests.TableStreamArn(),
		// TRIM_HORIZON: a mapping re-created during a deploy still sees requests queued
		// meanwhile; duplicates are harmless because claiming is conditional.
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(float64(a.s.batchSize)),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(float64(a.s.streamRetries)),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(a.s.streamMaxAge.Seconds())),
		OnFailure:               awslambdaeventsources.NewSqsDlq(a.dlq),
		Filters:                 &[]*map[string]interface{}{{"pattern": string(pattern)}},
	})
	// The mapping validates its permissions when it is created.
	a.mapping.Node().AddDependency(a.roles[contract.RoleProcessor])
}

// authorizerFailurePattern matches the authorizer's log records that mean it could not do
// its job: the runtime's ERROR records (a token that could not be checked because the
// JWKS or the secret is unreachable, a function that could not start) and Lambda's
// platform reports of a timed-out or crashed invocation. A refused token is neither: the
// authorizer logs it as a warning and returns the error "Unauthorized", which API Gateway
// turns into a 401 and Lambda counts in its Errors metric, so that metric fires on every
// expired token.
const authorizerFailurePattern = `{ ($.level = "ERROR") || ($.record.status = "timeout") || ($.record.status = "failure") }`

// authorizerFailures counts the authorizer's failure records (authorizerFailurePattern)
// with a metric filter on its log group. The metric is named after the function, so two
// stacks in one account do not add up.
func (a *streamerApi) authorizerFailures(period awscdk.Duration) awscloudwatch.IMetric {
	fn := a.functions[contract.RoleAuthorizer]
	filter := awslogs.NewMetricFilter(a.Construct, jsii.String("AuthorizerFailureFilter"), &awslogs.MetricFilterProps{
		LogGroup:        a.logGroups[contract.RoleAuthorizer],
		FilterPattern:   awslogs.FilterPattern_Literal(jsii.String(authorizerFailurePattern)),
		MetricNamespace: jsii.String(a.s.metricsNamespace),
		MetricName:      awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("AuthorizerFailures-"), fn.FunctionName()}),
		MetricValue:     jsii.String("1"),
	})
	return filter.Metric(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")})
}

// streamFilter admits new requests and requests put back to PENDING for a retry.
var streamFilter = map[string]any{
	"eventName": []string{"INSERT", "MODIFY"},
	"dynamodb": map[string]any{
		"NewImage": map[string]any{
			contract.AttrStatus: map[string]any{"S": []string{contract.StatusPending}},
		},
	},
}

// addRedriveSchedule runs the re-driver every RedriveSchedule.
func (a *streamerApi) addRedriveSchedule() {
	a.schedule = awsevents.NewRule(a.Construct, jsii.String("RedriveSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Streamer: hand out again the requests nothing will deliver any more"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(a.s.redriveSchedule.Minutes()))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(a.functions[contract.RoleRedriver], &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0), // the next run comes soon enough
		})},
	})
}

// addAlarms alarms on any function error or throttle, a stream falling behind, and any
// message in the dead-letter queue.
func (a *streamerApi) addAlarms() {
	period := awscdk.Duration_Minutes(jsii.Number(5))
	add := func(id, description string, metric awscloudwatch.IMetric, threshold float64) {
		alarm := awscloudwatch.NewAlarm(a.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(description),
		})
		if topic := a.s.props.AlarmTopic; topic != nil {
			alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
		}
		a.alarms = append(a.alarms, alarm)
	}
	sum := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	for _, role := range contract.Roles {
		fn := a.functions[role]
		if role == contract.RoleAuthorizer {
			add(title(role)+"Errors", "Streamer authorizer failures: tokens could not be checked (JWKS or secret unreachable), the function crashed or timed out; refused tokens are not failures",
				a.authorizerFailures(period), 1)
		} else {
			add(title(role)+"Errors", "Streamer "+role+" function errors", fn.MetricErrors(sum), 1)
		}
		add(title(role)+"Throttles", "Streamer "+role+" function throttles", fn.MetricThrottles(sum), 1)
	}
	add("ProcessorIteratorAge", "Streamer requests stream is more than a minute behind",
		a.functions[contract.RoleProcessor].Metric(jsii.String("IteratorAge"),
			&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}),
		float64(time.Minute/time.Millisecond))
	add("DeadLetterQueueDepth", "Streamer dead-letter queue holds failed requests",
		a.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}), 1)
}
