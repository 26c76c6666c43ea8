package streamerapi

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/streamer-go/streamer/runtime/contract"
)

// DefaultEntry is the Go package built when StreamerApiProps.Entry and Code are unset: the
// demo bootstrap of the Streamer repository. It resolves only inside that repository's
// workspace (or in a module that requires github.com/streamer-go/streamer/cmd).
const DefaultEntry = "github.com/streamer-go/streamer/cmd/lambda"

// ErrNoTokenVerification is the error of a StreamerApi configured with neither JwksUrl
// nor HmacSecret: Validate returns it, and synth fails with its message (an error
// annotation on the construct, which `cdk synth` and `cdk deploy` report and stop at).
var ErrNoTokenVerification = errors.New("streamerapi: set jwksUrl or hmacSecret: the authorizer verifies the token of every connection " +
	"with jwksUrl (the https URL of your identity provider's JWKS: clients get tokens from that provider) " +
	"or hmacSecret (a Secrets Manager secret whose string is an HS256 key: `streamer token --secret-arn ARN` mints tokens with it)")

// StreamerApiProps configures a StreamerApi. Every field is optional except that exactly
// one of JwksUrl and HmacSecret must be set; each field comment names its default.
type StreamerApiProps struct {
	// Entry is the Go main package built into the Lambda asset: a directory (absolute or
	// relative to the working directory of the CDK app) or an import path resolvable from
	// it. The package typically registers handlers and calls lambdas.Start.
	// Default: DefaultEntry. Mutually exclusive with Code.
	Entry *string
	// Code is a prebuilt Lambda bundle whose `bootstrap` serves every role; it skips the
	// go build. Default: built from Entry.
	Code awslambda.Code
	// Architecture of the functions and the GOARCH of the build.
	// Default: awslambda.Architecture_ARM_64().
	Architecture awslambda.Architecture

	// JwksUrl is the https URL of the identity provider's JWKS used to verify tokens.
	// Default: none; one of JwksUrl and HmacSecret is required.
	JwksUrl *string
	// Issuer is the required `iss` claim. Default: not checked.
	Issuer *string
	// Audience is the required `aud` claim. With a JWKS shared by several applications
	// it is what keeps the tokens issued for the others out, so it is required unless
	// AcceptTokensForAnyAudience is true. Default: none (synth fails without the waiver).
	Audience *string
	// AcceptTokensForAnyAudience waives Audience: the authorizer then accepts a token the
	// identity provider (or whoever holds the HMAC secret) issued for any application.
	// Set it only when the keys are this API's alone. Default: false.
	AcceptTokensForAnyAudience *bool
	// HmacSecret holds an HS256 key (the secret string is the key). Default: none; one of
	// JwksUrl and HmacSecret is required.
	HmacSecret awssecretsmanager.ISecret
	// AllowedTenants restricts connections to these tenant ids. Default: every tenant.
	AllowedTenants *[]*string
	// AuthorizerIdentitySource is where API Gateway requires the token before it runs the
	// authorizer: a $connect that lacks any of them is answered 401 without an invocation.
	// Each entry is one of the two places the authorizer reads a token:
	// "route.request.querystring.token" (contract.IdentitySourceQueryToken) or
	// "route.request.header.Authorization" (contract.IdentitySourceAuthorizationHeader).
	// Default: the query parameter only, the one place a browser can put a token.
	AuthorizerIdentitySource *[]*string

	// AsyncThreshold: handlers estimated to run longer are queued and run by the worker.
	// Default: 5 seconds (contract.DefaultAsyncThreshold).
	AsyncThreshold awscdk.Duration
	// SyncBudget is the time a synchronous handler gets inside the router; it must be
	// below RouterTimeout. Default: 25 seconds (contract.DefaultSyncBudget).
	SyncBudget awscdk.Duration
	// MaxAttempts is the number of attempts an async request gets (1-10), re-drives
	// included. Default: 3 (contract.DefaultMaxAttempts).
	MaxAttempts *float64
	// DirectDispatch makes the router invoke the worker asynchronously right after it
	// queues a request, so that the work starts without waiting for the Requests stream
	// (which still delivers every request); it grants the router lambda:InvokeFunction on
	// the worker function. Set false to leave every request to the stream.
	// Default: true.
	DirectDispatch *bool

	// UserMaxInFlight caps one user's async requests in flight (not yet finished); -1
	// turns it off. Default: 10 (contract.DefaultUserMaxInFlight).
	UserMaxInFlight *float64
	// UserRequestsPerSecond is one user's sustained rate of new async requests (a token
	// bucket refilled at this rate); -1 turns it off. Default: 1 (contract.DefaultUserRate).
	UserRequestsPerSecond *float64
	// UserBurst is how many new async requests one user may send at once (the bucket's
	// size). Default: 20 (contract.DefaultUserBurst).
	UserBurst *float64
	// TenantMaxInFlight caps one tenant's async requests in flight (1-1000); -1 turns it
	// off. Default: 100 (contract.DefaultTenantMaxInFlight).
	TenantMaxInFlight *float64
	// TenantRequestsPerSecond is one tenant's sustained rate of new async requests; -1
	// turns it off. Default: 10 (contract.DefaultTenantRate).
	TenantRequestsPerSecond *float64
	// TenantBurst is how many new async requests one tenant may send at once. Default: 100
	// (contract.DefaultTenantBurst).
	TenantBurst *float64

	// RedriveAfter is how long a request may stay PENDING, or PROCESSING after its lease
	// ended, before the re-driver hands it out again (1 minute to 24 hours). It must
	// outlast a dispatch and Lambda's retries of a failed worker invocation (about 3
	// minutes). Default: 15 minutes (contract.DefaultRedriveAfter).
	RedriveAfter awscdk.Duration
	// RedriveSchedule is how often the re-driver runs: whole minutes, 1 minute to 1 day.
	// Default: 5 minutes (contract.DefaultRedriveSchedule).
	RedriveSchedule awscdk.Duration

	// ApiName is the name of the WebSocket API. Default: "<stack name>-<construct id>".
	ApiName *string
	// StageName is the stage of the WebSocket API (letters, digits, '-' and '_').
	// Default: "prod".
	StageName *string
	// ThrottlingRateLimit is the stage's steady-state request rate per second.
	// Default: 500.
	ThrottlingRateLimit *float64
	// ThrottlingBurstLimit is the stage's burst size (1-5000). Default: 1000.
	ThrottlingBurstLimit *float64
	// ApiGatewayCloudWatchRole creates the account-level role API Gateway needs to write
	// WebSocket access logs (AWS::ApiGateway::Account, retained on delete). Set false when
	// the account already has one. Default: true.
	ApiGatewayCloudWatchRole *bool

	// AuthorizerMemorySize in MB (128-10240). Default: 256.
	AuthorizerMemorySize *float64
	// AuthorizerTimeout. Default: 10 seconds.
	AuthorizerTimeout awscdk.Duration
	// ConnectMemorySize in MB (128-10240). Default: 256.
	ConnectMemorySize *float64
	// ConnectTimeout. Default: 10 seconds.
	ConnectTimeout awscdk.Duration
	// DisconnectMemorySize in MB (128-10240). Default: 256.
	DisconnectMemorySize *float64
	// DisconnectTimeout. Default: 10 seconds.
	DisconnectTimeout awscdk.Duration
	// RouterMemorySize in MB (128-10240). Default: 512.
	RouterMemorySize *float64
	// RouterTimeout, at most API Gateway's 29-second integration timeout.
	// Default: 29 seconds.
	RouterTimeout awscdk.Duration
	// ProcessorMemorySize in MB (128-10240). Default: 256.
	ProcessorMemorySize *float64
	// ProcessorTimeout. Default: 60 seconds.
	ProcessorTimeout awscdk.Duration
	// WorkerMemorySize in MB (128-10240). Default: 1024.
	WorkerMemorySize *float64
	// WorkerTimeout, at most Lambda's 15 minutes. Default: 15 minutes.
	WorkerTimeout awscdk.Duration
	// RedriverMemorySize in MB (128-10240). Default: 256.
	RedriverMemorySize *float64
	// RedriverTimeout. Default: 5 minutes.
	RedriverTimeout awscdk.Duration

	// BatchSize is the number of stream records per processor invocation (1-10000).
	// Default: 10.
	BatchSize *float64
	// StreamRetryAttempts bounds the retries of a failing stream batch (0-10000) before the
	// records go to the dead-letter queue. Default: 3.
	StreamRetryAttempts *float64
	// StreamMaxRecordAge is the age after which a stream record is sent to the dead-letter
	// queue instead of processed (1 minute to 24 hours). Default: 1 hour.
	StreamMaxRecordAge awscdk.Duration
	// WorkerRetryAttempts is how often Lambda retries a failed asynchronous worker
	// invocation (0-2) before sending it to the dead-letter queue. Default: 2.
	WorkerRetryAttempts *float64
	// WorkerReservedConcurrency caps the worker function's concurrent executions (and
	// reserves them): a burst of long requests then queues in Lambda's asynchronous queue
	// (retried for up to six hours) instead of taking the account's whole concurrency from
	// the authorizer and the router, which answer users at once. Default: unset, no cap:
	// reserving concurrency fails to deploy in accounts whose unreserved concurrency would
	// drop below 100 (new accounts often have a limit of 10), so it is opt-in.
	WorkerReservedConcurrency *float64

	// LogRetention of every function's log group and the access log group.
	// Default: awslogs.RetentionDays_ONE_MONTH.
	LogRetention awslogs.RetentionDays
	// LogLevel of the functions: debug, info, warn or error. Default: "info".
	LogLevel *string
	// MetricsNamespace is the CloudWatch namespace of the runtime's metrics.
	// Default: "Streamer".
	MetricsNamespace *string
	// Tracing is the functions' X-Ray mode. Default: awslambda.Tracing_ACTIVE.
	Tracing awslambda.Tracing
	// RemovalPolicy of the tables and log groups. Default: awscdk.RemovalPolicy_RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// EncryptionKey is a customer-managed KMS key for the tables and the dead-letter
	// queue. Default: the AWS managed key (aws/dynamodb) for the tables and SQS-managed
	// encryption for the queue.
	EncryptionKey awskms.IKey
	// AlarmTopic receives the alarms' notifications. Default: alarms without actions.
	AlarmTopic awssns.ITopic

	// StackOutputs adds the stack outputs OutputWebSocketURL, OutputCallbackURL,
	// OutputConnectionsTable, OutputRequestsTable, OutputDeadLetterQueueURL, and
	// OutputHMACSecretARN (with HmacSecret) or OutputJWKSURL (with JwksUrl): `cdk deploy`
	// prints them and scripts read them by these names whatever the stack is called.
	// Output names are unique in a stack: set false on any further StreamerApi in the
	// same stack. Default: true.
	StackOutputs *bool
}

var (
	stageNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	logLevels        = []string{"debug", "info", "warn", "error"}
)

// settings are the props with every default filled in, in plain Go types.
type settings struct {
	props StreamerApiProps

	stageName        string
	asyncThreshold   time.Duration
	syncBudget       time.Duration
	maxAttempts      int
	limits           limits
	redriveAfter     time.Duration
	redriveSchedule  time.Duration
	directDispatch   bool
	rateLimit        float64
	burstLimit       int
	batchSize        int
	streamRetries    int
	streamMaxAge     time.Duration
	workerRetries    int
	workerReserved   int // 0: no reserved concurrency
	identitySource   []string
	logLevel         string
	metricsNamespace string
	cloudWatchRole   bool
	functions        map[string]functionSettings
	stackOutputs     bool
	// noTokenVerification: neither JwksUrl nor HmacSecret is set, the most likely
	// mistake of a first deployment; synth reports ErrNoTokenVerification.
	noTokenVerification bool
}

// limits are the limit props with their defaults; -1 is off.
type limits struct {
	userInFlight, userBurst, tenantInFlight, tenantBurst int
	userRate, tenantRate                                 float64
}

// functionSettings are the memory and timeout of one role.
type functionSettings struct {
	memoryMB int
	timeout  time.Duration
}

// Validate checks props without synthesising anything and returns the first problem, a
// lowercase message naming the prop. NewStreamerApi panics with the same error, except
// for ErrNoTokenVerification, which fails synth without a panic.
func Validate(props *StreamerApiProps) error {
	s, err := resolve(props)
	if err != nil {
		return err
	}
	if s.noTokenVerification {
		return ErrNoTokenVerification
	}
	return nil
}

// resolve validates props and fills in the defaults.
func resolve(props *StreamerApiProps) (*settings, error) {
	var p StreamerApiProps
	if props != nil {
		p = *props
	}
	s := &settings{props: p}

	if p.Entry != nil && p.Code != nil {
		return nil, errors.New("streamerapi: entry and code are mutually exclusive")
	}
	if p.Entry != nil && strings.TrimSpace(*p.Entry) == "" {
		return nil, errors.New("streamerapi: entry must not be empty")
	}
	if err := checkAuth(p); err != nil {
		return nil, err
	}

	var err error
	if s.asyncThreshold, err = duration("asyncThreshold", p.AsyncThreshold, contract.DefaultAsyncThreshold, time.Second, contract.IntegrationTimeout); err != nil {
		return nil, err
	}
	if s.syncBudget, err = duration("syncBudget", p.SyncBudget, contract.DefaultSyncBudget, time.Second, contract.IntegrationTimeout); err != nil {
		return nil, err
	}
	if s.asyncThreshold > s.syncBudget {
		return nil, fmt.Errorf("streamerapi: asyncThreshold (%s) must not exceed syncBudget (%s)", s.asyncThreshold, s.syncBudget)
	}
	if s.maxAttempts, err = integer("maxAttempts", p.MaxAttempts, contract.DefaultMaxAttempts, 1, 10); err != nil {
		return nil, err
	}
	if s.limits, err = resolveLimits(p); err != nil {
		return nil, err
	}
	if s.redriveAfter, err = duration("redriveAfter", p.RedriveAfter, contract.DefaultRedriveAfter, time.Minute, 24*time.Hour); err != nil {
		return nil, err
	}
	if s.redriveSchedule, err = duration("redriveSchedule", p.RedriveSchedule, contract.DefaultRedriveSchedule, time.Minute, 24*time.Hour); err != nil {
		return nil, err
	}
	if s.redriveSchedule%time.Minute != 0 {
		return nil, fmt.Errorf("streamerapi: redriveSchedule must be a whole number of minutes (an EventBridge rate), got %s", s.redriveSchedule)
	}
	s.directDispatch = p.DirectDispatch == nil || *p.DirectDispatch

	s.stageName = cmp.Or(deref(p.StageName), "prod")
	if !stageNamePattern.MatchString(s.stageName) {
		return nil, fmt.Errorf("streamerapi: stageName %q must be 1-128 letters, digits, '-' or '_'", s.stageName)
	}
	if p.ApiName != nil && strings.TrimSpace(*p.ApiName) == "" {
		return nil, errors.New("streamerapi: apiName must not be empty")
	}
	s.rateLimit = 500
	if p.ThrottlingRateLimit != nil {
		s.rateLimit = *p.ThrottlingRateLimit
		if s.rateLimit <= 0 {
			return nil, fmt.Errorf("streamerapi: throttlingRateLimit must be positive, got %v", s.rateLimit)
		}
	}
	if s.burstLimit, err = integer("throttlingBurstLimit", p.ThrottlingBurstLimit, 1000, 1, 5000); err != nil {
		return nil, err
	}
	s.cloudWatchRole = p.ApiGatewayCloudWatchRole == nil || *p.ApiGatewayCloudWatchRole
	s.stackOutputs = p.StackOutputs == nil || *p.StackOutputs
	s.noTokenVerification = p.JwksUrl == nil && p.HmacSecret == nil

	if s.functions, err = functionDefaults(p); err != nil {
		return nil, err
	}
	if router := s.functions[contract.RoleRouter].timeout; s.syncBudget >= router {
		return nil, fmt.Errorf("streamerapi: syncBudget (%s) must be below routerTimeout (%s)", s.syncBudget, router)
	}

	if s.batchSize, err = integer("batchSize", p.BatchSize, 10, 1, 10000); err != nil {
		return nil, err
	}
	if s.streamRetries, err = integer("streamRetryAttempts", p.StreamRetryAttempts, 3, 0, 10000); err != nil {
		return nil, err
	}
	if s.streamMaxAge, err = duration("streamMaxRecordAge", p.StreamMaxRecordAge, time.Hour, time.Minute, 24*time.Hour); err != nil {
		return nil, err
	}
	if s.workerRetries, err = integer("workerRetryAttempts", p.WorkerRetryAttempts, 2, 0, 2); err != nil {
		return nil, err
	}
	if s.workerReserved, err = integer("workerReservedConcurrency", p.WorkerReservedConcurrency, 0, 1, maxReservedConcurrency); err != nil {
		return nil, err
	}
	if s.identitySource, err = identitySource(p.AuthorizerIdentitySource); err != nil {
		return nil, err
	}

	s.logLevel = cmp.Or(deref(p.LogLevel), "info")
	if !slices.Contains(logLevels, s.logLevel) {
		return nil, fmt.Errorf("streamerapi: logLevel %q must be one of %s", s.logLevel, strings.Join(logLevels, ", "))
	}
	s.metricsNamespace = cmp.Or(deref(p.MetricsNamespace), "Streamer")
	return s, nil
}

// resolveLimits checks the limit props and fills in their defaults.
func resolveLimits(p StreamerApiProps) (limits, error) {
	var l limits
	var err error
	offOr := func(name string, v *float64, def, hi int) (int, error) {
		if v != nil && *v == -1 {
			return -1, nil
		}
		n, err := integer(name, v, def, 1, hi)
		if err != nil {
			return 0, fmt.Errorf("%w, or -1 for no limit", err)
		}
		return n, nil
	}
	rate := func(name string, v *float64, def float64) (float64, error) {
		switch {
		case v == nil:
			return def, nil
		case *v == -1 || (*v > 0 && !math.IsInf(*v, 0)):
			return *v, nil
		}
		return 0, fmt.Errorf("streamerapi: %s must be a positive number of requests per second, or -1 for no limit, got %v", name, *v)
	}
	if l.userInFlight, err = offOr("userMaxInFlight", p.UserMaxInFlight, contract.DefaultUserMaxInFlight, 1_000_000); err != nil {
		return l, err
	}
	if l.tenantInFlight, err = offOr("tenantMaxInFlight", p.TenantMaxInFlight, contract.DefaultTenantMaxInFlight, contract.MaxTrackedInFlight); err != nil {
		return l, err
	}
	if l.userRate, err = rate("userRequestsPerSecond", p.UserRequestsPerSecond, contract.DefaultUserRate); err != nil {
		return l, err
	}
	if l.tenantRate, err = rate("tenantRequestsPerSecond", p.TenantRequestsPerSecond, contract.DefaultTenantRate); err != nil {
		return l, err
	}
	if l.userBurst, err = integer("userBurst", p.UserBurst, contract.DefaultUserBurst, 1, 1_000_000); err != nil {
		return l, err
	}
	if l.tenantBurst, err = integer("tenantBurst", p.TenantBurst, contract.DefaultTenantBurst, 1, 1_000_000); err != nil {
		return l, err
	}
	return l, nil
}

// maxReservedConcurrency bounds WorkerReservedConcurrency: a typo such as 1e9 fails at
// synth instead of at deploy. Accounts can raise their concurrency far above the default
// 1,000, hence the generous bound.
const maxReservedConcurrency = 100000

// identitySource returns the authorizer's identity source: the default, or the entries of
// p, each a place the authorizer reads the token from.
func identitySource(p *[]*string) ([]string, error) {
	if p == nil {
		return []string{contract.IdentitySourceQueryToken}, nil
	}
	allowed := []string{contract.IdentitySourceQueryToken, contract.IdentitySourceAuthorizationHeader}
	var out []string
	for _, v := range *p {
		if v == nil || !slices.Contains(allowed, *v) {
			return nil, fmt.Errorf("streamerapi: authorizerIdentitySource entries must be one of %s (where the authorizer reads the token), got %q",
				strings.Join(allowed, ", "), deref(v))
		}
		if !slices.Contains(out, *v) {
			out = append(out, *v)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("streamerapi: authorizerIdentitySource must name at least one place; leave it unset for the query parameter")
	}
	return out, nil
}

// checkAuth validates the token verification props.
func checkAuth(p StreamerApiProps) error {
	switch {
	case p.JwksUrl != nil && p.HmacSecret != nil:
		return errors.New("streamerapi: jwksUrl and hmacSecret are mutually exclusive")
	case p.Audience != nil && strings.TrimSpace(*p.Audience) == "":
		return errors.New("streamerapi: audience must not be empty")
	case p.Audience == nil && (p.JwksUrl != nil || p.HmacSecret != nil) && (p.AcceptTokensForAnyAudience == nil || !*p.AcceptTokensForAnyAudience):
		// Without JwksUrl or HmacSecret, synth reports ErrNoTokenVerification first.
		return errors.New("streamerapi: audience is required: without it the authorizer accepts tokens the identity provider issued for any other application (set acceptTokensForAnyAudience to true to accept that risk)")
	case p.Audience != nil && p.AcceptTokensForAnyAudience != nil && *p.AcceptTokensForAnyAudience:
		return errors.New("streamerapi: audience and acceptTokensForAnyAudience are mutually exclusive")
	case p.JwksUrl != nil:
		u, err := url.Parse(*p.JwksUrl)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("streamerapi: jwksUrl %q must be an https URL", *p.JwksUrl)
		}
	}
	if p.AllowedTenants != nil {
		for _, t := range *p.AllowedTenants {
			if t == nil || strings.TrimSpace(*t) == "" || strings.Contains(*t, ",") {
				return errors.New("streamerapi: allowedTenants entries must be non-empty and contain no comma")
			}
		}
	}
	return nil
}

// functionDefaults fills in and checks the memory and timeout of every role.
func functionDefaults(p StreamerApiProps) (map[string]functionSettings, error) {
	type spec struct {
		memory     *float64
		timeout    awscdk.Duration
		defMemory  int
		defTimeout time.Duration
		maxTimeout time.Duration
	}
	const lambdaMax = 15 * time.Minute
	specs := map[string]spec{
		contract.RoleAuthorizer: {p.AuthorizerMemorySize, p.AuthorizerTimeout, 256, 10 * time.Second, lambdaMax},
		contract.RoleConnect:    {p.ConnectMemorySize, p.ConnectTimeout, 256, 10 * time.Second, lambdaMax},
		contract.RoleDisconnect: {p.DisconnectMemorySize, p.DisconnectTimeout, 256, 10 * time.Second, lambdaMax},
		contract.RoleRouter:     {p.RouterMemorySize, p.RouterTimeout, 512, contract.IntegrationTimeout, contract.IntegrationTimeout},
		contract.RoleProcessor:  {p.ProcessorMemorySize, p.ProcessorTimeout, 256, time.Minute, lambdaMax},
		contract.RoleWorker:     {p.WorkerMemorySize, p.WorkerTimeout, 1024, lambdaMax, lambdaMax},
		contract.RoleRedriver:   {p.RedriverMemorySize, p.RedriverTimeout, 256, 5 * time.Minute, lambdaMax},
	}
	out := make(map[string]functionSettings, len(specs))
	for _, role := range contract.Roles {
		sp := specs[role]
		mem, err := integer(role+"MemorySize", sp.memory, sp.defMemory, 128, 10240)
		if err != nil {
			return nil, err
		}
		timeout, err := duration(role+"Timeout", sp.timeout, sp.defTimeout, time.Second, sp.maxTimeout)
		if err != nil {
			return nil, err
		}
		out[role] = functionSettings{memoryMB: mem, timeout: timeout}
	}
	return out, nil
}

// integer returns *v (or def) as an int and checks that it is a whole number in [lo, hi].
func integer(name string, v *float64, def, lo, hi int) (int, error) {
	if v == nil {
		return def, nil
	}
	n := int(*v)
	if float64(n) != *v || n < lo || n > hi {
		return 0, fmt.Errorf("streamerapi: %s must be a whole number between %d and %d, got %v", name, lo, hi, *v)
	}
	return n, nil
}

// duration returns d (or def) and checks that it lies in [lo, hi].
func duration(name string, d awscdk.Duration, def, lo, hi time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if *d.IsUnresolved() {
		return 0, fmt.Errorf("streamerapi: %s must be a concrete duration, not a token", name)
	}
	v := time.Duration(*d.ToMilliseconds(nil)) * time.Millisecond
	if v < lo || v > hi {
		return 0, fmt.Errorf("streamerapi: %s must be between %s and %s, got %s", name, lo, hi, v)
	}
	return v, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
