package streamerapi

// Validation tests call into jsii (durations, enums), which is not safe for concurrent use,
// so they are not parallel.

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"
)

// validProps passes Validate; each rule's test breaks one field.
func validProps() *StreamerApiProps {
	return &StreamerApiProps{JwksUrl: jsii.String("https://idp.example.com/jwks.json"), Audience: jsii.String("streamer")}
}

func TestValidateAcceptsDefaults(t *testing.T) {
	require.NoError(t, Validate(validProps()))
}

func TestValidateRules(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("S"), nil)
	secret := awssecretsmanager.Secret_FromSecretNameV2(stack, jsii.String("K"), jsii.String("k"))
	param := awscdk.NewCfnParameter(stack, jsii.String("Minutes"), &awscdk.CfnParameterProps{Type: jsii.String("Number")})
	seconds := func(s float64) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(s)) }
	for _, tc := range []struct {
		rule   string
		change func(p *StreamerApiProps)
		want   string
	}{
		{"entry and code exclusive", func(p *StreamerApiProps) {
			p.Entry, p.Code = jsii.String("./cmd"), awslambda.Code_FromAsset(jsii.String("testdata/hello"), nil)
		}, "streamerapi: entry and code are mutually exclusive"},
		{"entry not empty", func(p *StreamerApiProps) { p.Entry = jsii.String(" ") }, "streamerapi: entry must not be empty"},
		{"auth required", func(p *StreamerApiProps) { p.JwksUrl = nil }, ErrNoTokenVerification.Error()},
		{"auth exclusive", func(p *StreamerApiProps) { p.HmacSecret = secret }, "streamerapi: jwksUrl and hmacSecret are mutually exclusive"},
		{"jwks https", func(p *StreamerApiProps) { p.JwksUrl = jsii.String("http://idp/jwks") }, `streamerapi: jwksUrl "http://idp/jwks" must be an https URL`},
		{"allowed tenants", func(p *StreamerApiProps) { p.AllowedTenants = jsii.Strings("a,b") }, "streamerapi: allowedTenants entries must be non-empty and contain no comma"},
		{"audience required", func(p *StreamerApiProps) { p.Audience = nil }, "streamerapi: audience is required: without it the authorizer accepts tokens the identity provider issued for any other application (set acceptTokensForAnyAudience to true to accept that risk)"},
		{"audience required with hmac", func(p *StreamerApiProps) { p.JwksUrl, p.HmacSecret, p.Audience = nil, secret, nil }, "streamerapi: audience is required: without it the authorizer accepts tokens the identity provider issued for any other application (set acceptTokensForAnyAudience to true to accept that risk)"},
		{"waiver is explicit", func(p *StreamerApiProps) { p.Audience, p.AcceptTokensForAnyAudience = nil, jsii.Bool(false) }, "streamerapi: audience is required: without it the authorizer accepts tokens the identity provider issued for any other application (set acceptTokensForAnyAudience to true to accept that risk)"},
		{"audience or waiver", func(p *StreamerApiProps) { p.AcceptTokensForAnyAudience = jsii.Bool(true) }, "streamerapi: audience and acceptTokensForAnyAudience are mutually exclusive"},
		{"audience not empty", func(p *StreamerApiProps) { p.Audience = jsii.String(" ") }, "streamerapi: audience must not be empty"},
		{"user in flight", func(p *StreamerApiProps) { p.UserMaxInFlight = jsii.Number(0) }, "streamerapi: userMaxInFlight must be a whole number between 1 and 1000000, got 0, or -1 for no limit"},
		{"tenant in flight", func(p *StreamerApiProps) { p.TenantMaxInFlight = jsii.Number(1001) }, "streamerapi: tenantMaxInFlight must be a whole number between 1 and 1000, got 1001, or -1 for no limit"},
		{"user rate", func(p *StreamerApiProps) { p.UserRequestsPerSecond = jsii.Number(0) }, "streamerapi: userRequestsPerSecond must be a positive number of requests per second, or -1 for no limit, got 0"},
		{"tenant burst", func(p *StreamerApiProps) { p.TenantBurst = jsii.Number(0.5) }, "streamerapi: tenantBurst must be a whole number between 1 and 1000000, got 0.5"},
		{"redrive after", func(p *StreamerApiProps) { p.RedriveAfter = seconds(30) }, "streamerapi: redriveAfter must be between 1m0s and 24h0m0s, got 30s"},
		{"redrive schedule", func(p *StreamerApiProps) { p.RedriveSchedule = seconds(90) }, "streamerapi: redriveSchedule must be a whole number of minutes (an EventBridge rate), got 1m30s"},
		{"async threshold range", func(p *StreamerApiProps) { p.AsyncThreshold = seconds(30) }, "streamerapi: asyncThreshold must be between 1s and 29s, got 30s"},
		{"sync budget range", func(p *StreamerApiProps) { p.SyncBudget = awscdk.Duration_Millis(jsii.Number(10)) }, "streamerapi: syncBudget must be between 1s and 29s, got 10ms"},
		{"threshold within budget", func(p *StreamerApiProps) {
			p.AsyncThreshold, p.SyncBudget = seconds(10), seconds(5)
		}, "streamerapi: asyncThreshold (10s) must not exceed syncBudget (5s)"},
		{"max attempts", func(p *StreamerApiProps) { p.MaxAttempts = jsii.Number(0) }, "streamerapi: maxAttempts must be a whole number between 1 and 10, got 0"},
		{"stage name", func(p *StreamerApiProps) { p.StageName = jsii.String("a/b") }, `streamerapi: stageName "a/b" must be 1-128 letters, digits, '-' or '_'`},
		{"api name", func(p *StreamerApiProps) { p.ApiName = jsii.String("") }, "streamerapi: apiName must not be empty"},
		{"rate limit", func(p *StreamerApiProps) { p.ThrottlingRateLimit = jsii.Number(0) }, "streamerapi: throttlingRateLimit must be positive, got 0"},
		{"burst limit", func(p *StreamerApiProps) { p.ThrottlingBurstLimit = jsii.Number(5001) }, "streamerapi: throttlingBurstLimit must be a whole number between 1 and 5000, got 5001"},
		{"memory size", func(p *StreamerApiProps) { p.ConnectMemorySize = jsii.Number(64) }, "streamerapi: connectMemorySize must be a whole number between 128 and 10240, got 64"},
		{"worker timeout", func(p *StreamerApiProps) { p.WorkerTimeout = awscdk.Duration_Minutes(jsii.Number(16)) }, "streamerapi: workerTimeout must be between 1s and 15m0s, got 16m0s"},
		{"router timeout", func(p *StreamerApiProps) { p.RouterTimeout = seconds(30) }, "streamerapi: routerTimeout must be between 1s and 29s, got 30s"},
		{"budget below router timeout", func(p *StreamerApiProps) { p.RouterTimeout = seconds(20) }, "streamerapi: syncBudget (25s) must be below routerTimeout (20s)"},
		{"batch size", func(p *StreamerApiProps) { p.BatchSize = jsii.Number(10001) }, "streamerapi: batchSize must be a whole number between 1 and 10000, got 10001"},
		{"stream retries", func(p *StreamerApiProps) { p.StreamRetryAttempts = jsii.Number(-1) }, "streamerapi: streamRetryAttempts must be a whole number between 0 and 10000, got -1"},
		{"stream record age", func(p *StreamerApiProps) { p.StreamMaxRecordAge = awscdk.Duration_Days(jsii.Number(2)) }, "streamerapi: streamMaxRecordAge must be between 1m0s and 24h0m0s, got 48h0m0s"},
		{"worker retries", func(p *StreamerApiProps) { p.WorkerRetryAttempts = jsii.Number(3) }, "streamerapi: workerRetryAttempts must be a whole number between 0 and 2, got 3"},
		{"worker reserved concurrency", func(p *StreamerApiProps) { p.WorkerReservedConcurrency = jsii.Number(0) },
			"streamerapi: workerReservedConcurrency must be a whole number between 1 and 100000, got 0"},
		{"identity source place", func(p *StreamerApiProps) { p.AuthorizerIdentitySource = jsii.Strings("route.request.querystring.jwt") },
			`streamerapi: authorizerIdentitySource entries must be one of route.request.querystring.token, route.request.header.Authorization (where the authorizer reads the token), got "route.request.querystring.jwt"`},
		{"identity source empty", func(p *StreamerApiProps) { p.AuthorizerIdentitySource = &[]*string{} },
			"streamerapi: authorizerIdentitySource must name at least one place; leave it unset for the query parameter"},
		{"log level", func(p *StreamerApiProps) { p.LogLevel = jsii.String("trace") }, `streamerapi: logLevel "trace" must be one of debug, info, warn, error`},
		{"token duration", func(p *StreamerApiProps) {
			p.WorkerTimeout = awscdk.Duration_Minutes(param.ValueAsNumber())
		}, "streamerapi: workerTimeout must be a concrete duration, not a token"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			p := validProps()
			tc.change(p)
			require.EqualError(t, Validate(p), tc.want)
		})
	}
}

func TestNewStreamerApiPanicsAtSynth(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("S"), nil)
	require.PanicsWithError(t, "streamerapi: entry and code are mutually exclusive", func() {
		NewStreamerApi(stack, jsii.String("Streamer"), &StreamerApiProps{
			Entry: jsii.String(testEntry), Code: awslambda.Code_FromAsset(jsii.String(testEntry), nil), JwksUrl: jsii.String("https://idp.example.com/jwks.json"), Audience: jsii.String("streamer"),
		})
	})
}

// TestNoTokenVerificationFailsSynthWithoutAPanic: the likeliest first mistake is an
// error annotation naming both props and what each means, which `cdk synth` prints
// (with the construct's path) and stops at, not a Go stack trace.
func TestNoTokenVerificationFailsSynthWithoutAPanic(t *testing.T) {
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("S"), nil)
	require.NotPanics(t, func() {
		NewStreamerApi(stack, jsii.String("Streamer"), &StreamerApiProps{Code: awslambda.Code_FromAsset(jsii.String(testEntry), nil)})
	})
	annotations := assertions.Annotations_FromStack(stack)
	require.Len(t, *annotations.FindError(jsii.String("*"), assertions.Match_AnyValue()), 1)
	require.NotPanics(t, func() {
		annotations.HasError(jsii.String("/S/Streamer"), jsii.String(ErrNoTokenVerification.Error()))
	}, "the error sits on the construct, with ErrNoTokenVerification's message")
	msg := ErrNoTokenVerification.Error()
	for _, want := range []string{"jwksUrl", "identity provider", "hmacSecret", "HS256", "streamer token --secret-arn"} {
		require.Contains(t, msg, want)
	}
}
