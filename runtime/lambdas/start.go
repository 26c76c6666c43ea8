package lambdas

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/guregu/dynamo/v2"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/dynamostore"
)

// Start runs app as the Lambda function whose role STREAMER_FUNCTION names, configured
// from the environment variables of package contract, and never returns. Logs are JSON
// lines on stdout (level STREAMER_LOG_LEVEL), metrics EMF lines on stdout (namespace
// STREAMER_METRICS_NAMESPACE). AWS clients use the region and execution-role credentials
// Lambda puts in the environment (AWS_REGION, AWS_ACCESS_KEY_ID, ...). A missing or
// invalid setting, or an unknown role, is logged and ends the process with status 1, so
// the function's init fails loudly.
func Start(app *App) {
	ctx := context.Background()
	logger := NewLogger(os.Stdout, os.Getenv(contract.EnvLogLevel))
	role := os.Getenv(contract.EnvFunction)
	handler, err := func() (any, error) {
		cfg, err := awsConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		return app.fromEnv(ctx, os.Getenv, cfg, logger, os.Stdout)
	}()
	if err != nil {
		logger.Error("lambdas: cannot start", slog.String("role", role), slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(handler)
}

// fromEnv builds the handler of the role in getenv's STREAMER_FUNCTION, with only the
// clients that role needs.
func (a *App) fromEnv(ctx context.Context, getenv func(string) string, cfg aws.Config, logger *slog.Logger, metrics io.Writer) (any, error) {
	role := getenv(contract.EnvFunction)
	if !slices.Contains(contract.Roles, role) {
		return nil, fmt.Errorf("%w: %s=%q (want one of %v)", ErrUnknownRole, contract.EnvFunction, role, contract.Roles)
	}
	opts, err := a.settingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	a.Configure(opts...)
	env := requiredEnv{getenv: getenv}
	deps := Deps{
		Logger:      logger.With(slog.String("function", role)),
		Metrics:     NewEMF(metrics, getenv(contract.EnvMetricsNamespace)),
		CallbackURL: getenv(contract.EnvCallbackURL),
	}
	switch role {
	case contract.RoleAuthorizer:
		if deps.Verifier, err = verifierFromEnv(ctx, getenv, secretsmanager.NewFromConfig(cfg)); err != nil {
			return nil, err
		}
	case contract.RoleConnect, contract.RoleDisconnect:
		deps.Connections = dynamoStore(cfg, getenv, dynamostore.Tables{Connections: env.get(contract.EnvConnectionsTable)}).Connections()
	case contract.RoleRouter, contract.RoleWorker, contract.RoleRedriver:
		tables := dynamostore.Tables{Connections: env.get(contract.EnvConnectionsTable), Requests: env.get(contract.EnvRequestsTable)}
		if role == contract.RoleRouter {
			tables.Limits = env.get(contract.EnvLimitsTable)
		}
		st := dynamoStore(cfg, getenv, tables)
		deps.Connections, deps.Requests = st.Connections(), st.Requests()
		if role == contract.RoleRouter {
			deps.Limits = st.Limits()
		}
		deps.Sender = connection.NewManager(st.Connections(), connection.NewAPIClient(cfg, env.get(contract.EnvCallbackURL)), connection.Options{})
		if role == contract.RoleRouter && a.DirectDispatch() {
			deps.Dispatch = executor.NewLambdaInvoker(awslambda.NewFromConfig(cfg), env.get(contract.EnvWorkerFunction))
		}
	case contract.RoleProcessor:
		deps.Invoker = executor.NewLambdaInvoker(awslambda.NewFromConfig(cfg), env.get(contract.EnvWorkerFunction))
	}
	if err := env.err(); err != nil {
		return nil, err
	}
	return a.Handler(role, deps)
}

// requiredEnv reads variables that must be set and remembers the missing ones.
type requiredEnv struct {
	getenv  func(string) string
	missing []string
}

func (e *requiredEnv) get(name string) string {
	v := e.getenv(name)
	if v == "" {
		e.missing = append(e.missing, name)
	}
	return v
}

func (e *requiredEnv) err() error {
	if len(e.missing) == 0 {
		return nil
	}
	return fmt.Errorf("lambdas: required environment variables not set: %s", strings.Join(e.missing, ", "))
}

// dynamoStore opens the tables, on STREAMER_DYNAMODB_ENDPOINT when set.
func dynamoStore(cfg aws.Config, getenv func(string) string, tables dynamostore.Tables) *dynamostore.Store {
	var opts []func(*dynamodb.Options)
	if ep := getenv(contract.EnvDynamoDBEndpoint); ep != "" {
		opts = append(opts, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ep) })
	}
	return dynamostore.New(dynamo.New(cfg, opts...), tables)
}

// settingsFromEnv turns STREAMER_ASYNC_THRESHOLD, STREAMER_SYNC_BUDGET,
// STREAMER_MAX_ATTEMPTS, STREAMER_DIRECT_DISPATCH, STREAMER_REDRIVE_AFTER and the limits
// (STREAMER_USER_MAX_IN_FLIGHT and its siblings) into options; unset variables keep the
// App's settings.
func (a *App) settingsFromEnv(getenv func(string) string) ([]Option, error) {
	var opts []Option
	durations := []struct {
		name string
		set  func(time.Duration) Option
	}{
		{contract.EnvAsyncThreshold, WithAsyncThreshold},
		{contract.EnvSyncBudget, WithSyncBudget},
		{contract.EnvRedriveAfter, WithRedriveAfter},
	}
	for _, d := range durations {
		if v := getenv(d.name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed < 0 {
				return nil, fmt.Errorf("lambdas: %s=%q: want a non-negative Go duration such as 5s", d.name, v)
			}
			opts = append(opts, d.set(parsed))
		}
	}
	if v := getenv(contract.EnvMaxAttempts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("lambdas: %s=%q: want a positive integer", contract.EnvMaxAttempts, v)
		}
		opts = append(opts, WithMaxAttempts(n))
	}
	a.mu.Lock()
	limits := a.settings.limits
	a.mu.Unlock()
	changed, err := limitsFromEnv(getenv, &limits)
	if err != nil {
		return nil, err
	}
	if changed {
		opts = append(opts, WithLimits(limits))
	}
	if v := getenv(contract.EnvDirectDispatch); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("lambdas: %s=%q: want true or false", contract.EnvDirectDispatch, v)
		}
		opts = append(opts, WithDirectDispatch(on))
	}
	return opts, nil
}

// limitsFromEnv overrides the fields of l whose variables are set: whole numbers for the
// caps and bursts, numbers for the rates; -1 turns a limit off. It reports whether any
// was set.
func limitsFromEnv(getenv func(string) string, l *store.Limits) (bool, error) {
	ints := []struct {
		name string
		to   *int
	}{
		{contract.EnvUserMaxInFlight, &l.UserMaxInFlight},
		{contract.EnvUserBurst, &l.UserBurst},
		{contract.EnvTenantMaxInFlight, &l.TenantMaxInFlight},
		{contract.EnvTenantBurst, &l.TenantBurst},
	}
	floats := []struct {
		name string
		to   *float64
	}{
		{contract.EnvUserRate, &l.UserRate},
		{contract.EnvTenantRate, &l.TenantRate},
	}
	changed := false
	for _, v := range ints {
		if raw := getenv(v.name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < store.Unlimited {
				return false, fmt.Errorf("lambdas: %s=%q: want a whole number, or -1 for no limit", v.name, raw)
			}
			*v.to, changed = n, true
		}
	}
	for _, v := range floats {
		if raw := getenv(v.name); raw != "" {
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || (f < 0 && f != store.Unlimited) {
				return false, fmt.Errorf("lambdas: %s=%q: want a number of requests per second, or -1 for no limit", v.name, raw)
			}
			*v.to, changed = f, true
		}
	}
	if _, err := l.WithDefaults(); err != nil {
		return false, fmt.Errorf("lambdas: %w", err)
	}
	return changed, nil
}

// secretsAPI is the part of the Secrets Manager client the authorizer uses.
type secretsAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ secretsAPI = (*secretsmanager.Client)(nil)

// verifierFromEnv configures the token verifier: STREAMER_JWKS_URL, STREAMER_ISSUER,
// STREAMER_AUDIENCE, STREAMER_ALLOWED_TENANTS, and an HS256 secret from the Secrets
// Manager secret STREAMER_HMAC_SECRET_ARN (its SecretString, or SecretBinary, is the key)
// or, for local development, STREAMER_HMAC_SECRET.
func verifierFromEnv(ctx context.Context, getenv func(string) string, secrets secretsAPI) (*auth.Verifier, error) {
	cfg := auth.Config{
		JWKSURL:  getenv(contract.EnvJWKSURL),
		Issuer:   getenv(contract.EnvIssuer),
		Audience: getenv(contract.EnvAudience),
	}
	for t := range strings.SplitSeq(getenv(contract.EnvAllowedTenants), ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.AllowedTenants = append(cfg.AllowedTenants, t)
		}
	}
	switch arn, direct := getenv(contract.EnvHMACSecretARN), getenv(contract.EnvHMACSecret); {
	case arn != "":
		out, err := secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("lambdas: reading %s: %w", contract.EnvHMACSecretARN, err)
		}
		if out.SecretString != nil {
			cfg.HMACSecret = []byte(*out.SecretString)
		} else {
			cfg.HMACSecret = out.SecretBinary
		}
	case direct != "":
		cfg.HMACSecret = []byte(direct)
	}
	if cfg.JWKSURL == "" && cfg.HMACSecret == nil {
		return nil, fmt.Errorf("lambdas: the authorizer needs %s, %s or %s", contract.EnvJWKSURL, contract.EnvHMACSecretARN, contract.EnvHMACSecret)
	}
	v, err := auth.NewVerifier(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("lambdas: authorizer: %w", err)
	}
	return v, nil
}
