// Package contract holds the names shared by the runtime and the StreamerApi construct:
// environment variables, function roles, table attribute names, and the
// limits and defaults both sides rely on. It has no dependencies, so the construct can
// import it without pulling AWS SDK clients, and the deployed schema cannot drift from
// the code that reads it.
package contract

import "time"

// Environment variables read by the Lambda bootstrap and set by the construct.
const (
	// EnvFunction selects the role a Lambda binary serves (one of the Role constants).
	EnvFunction = "STREAMER_FUNCTION"
	// EnvConnectionsTable is the name of the Connections table.
	EnvConnectionsTable = "STREAMER_CONNECTIONS_TABLE"
	// EnvRequestsTable is the name of the Requests table.
	EnvRequestsTable = "STREAMER_REQUESTS_TABLE"
	// EnvLimitsTable is the name of the Limits table (one item per tenant).
	EnvLimitsTable = "STREAMER_LIMITS_TABLE"
	// EnvCallbackURL is the @connections endpoint (https://{api}.execute-api.{region}.amazonaws.com/{stage}).
	EnvCallbackURL = "STREAMER_CALLBACK_URL"
	// EnvWorkerFunction is the name or ARN of the worker function the processor (and, with
	// direct dispatch, the router) invokes.
	EnvWorkerFunction = "STREAMER_WORKER_FUNCTION"
	// EnvJWKSURL is the URL of the identity provider's JWKS (RS256, ES256, EdDSA).
	EnvJWKSURL = "STREAMER_JWKS_URL"
	// EnvIssuer is the required `iss` claim, when set.
	EnvIssuer = "STREAMER_ISSUER"
	// EnvAudience is the required `aud` claim, when set.
	EnvAudience = "STREAMER_AUDIENCE"
	// EnvHMACSecretARN is the ARN of a Secrets Manager secret holding an HS256 key.
	EnvHMACSecretARN = "STREAMER_HMAC_SECRET_ARN"
	// EnvHMACSecret is an HS256 key given directly (local development only).
	EnvHMACSecret = "STREAMER_HMAC_SECRET"
	// EnvAllowedTenants is a comma-separated tenant allow-list; empty allows every tenant.
	EnvAllowedTenants = "STREAMER_ALLOWED_TENANTS"
	// EnvAsyncThreshold is a Go duration: handlers estimated above it run asynchronously.
	EnvAsyncThreshold = "STREAMER_ASYNC_THRESHOLD"
	// EnvSyncBudget is a Go duration: the time a synchronous handler may take.
	EnvSyncBudget = "STREAMER_SYNC_BUDGET"
	// EnvMaxAttempts is the number of attempts an async request gets before it fails.
	EnvMaxAttempts = "STREAMER_MAX_ATTEMPTS"
	// EnvUserMaxInFlight caps one user's async requests in flight (-1: no cap).
	EnvUserMaxInFlight = "STREAMER_USER_MAX_IN_FLIGHT"
	// EnvUserRate is one user's sustained rate of new async requests per second (-1: none).
	EnvUserRate = "STREAMER_USER_RATE"
	// EnvUserBurst is the size of one user's token bucket of new async requests.
	EnvUserBurst = "STREAMER_USER_BURST"
	// EnvTenantMaxInFlight caps one tenant's async requests in flight (-1: no cap).
	EnvTenantMaxInFlight = "STREAMER_TENANT_MAX_IN_FLIGHT"
	// EnvTenantRate is one tenant's sustained rate of new async requests per second (-1: none).
	EnvTenantRate = "STREAMER_TENANT_RATE"
	// EnvTenantBurst is the size of one tenant's token bucket of new async requests.
	EnvTenantBurst = "STREAMER_TENANT_BURST"
	// EnvRedriveAfter is a Go duration: how long a request may stay PENDING, or
	// PROCESSING past its lease, before the re-driver hands it out again.
	EnvRedriveAfter = "STREAMER_REDRIVE_AFTER"
	// EnvDirectDispatch is "true" or "false": whether the router invokes the worker
	// (EnvWorkerFunction) right after queuing a request, besides the stream.
	EnvDirectDispatch = "STREAMER_DIRECT_DISPATCH"
	// EnvDynamoDBEndpoint overrides the DynamoDB endpoint (DynamoDB Local).
	EnvDynamoDBEndpoint = "STREAMER_DYNAMODB_ENDPOINT"
	// EnvLogLevel is the slog level: debug, info, warn or error.
	EnvLogLevel = "STREAMER_LOG_LEVEL"
	// EnvMetricsNamespace is the CloudWatch namespace of the embedded metrics.
	EnvMetricsNamespace = "STREAMER_METRICS_NAMESPACE"
)

// EnvVars lists every environment variable above: a STREAMER_ variable that is not one of
// them is a typo the runtime would silently ignore.
var EnvVars = []string{
	EnvFunction, EnvConnectionsTable, EnvRequestsTable, EnvLimitsTable, EnvCallbackURL, EnvWorkerFunction,
	EnvJWKSURL, EnvIssuer, EnvAudience, EnvHMACSecretARN, EnvHMACSecret, EnvAllowedTenants,
	EnvAsyncThreshold, EnvSyncBudget, EnvMaxAttempts, EnvDirectDispatch,
	EnvUserMaxInFlight, EnvUserRate, EnvUserBurst, EnvTenantMaxInFlight, EnvTenantRate, EnvTenantBurst,
	EnvRedriveAfter, EnvDynamoDBEndpoint, EnvLogLevel, EnvMetricsNamespace,
}

// GoEntryMetadata is the template metadata key under which the construct records, on each
// function it builds from a Go package, that package and its module directory (relative
// to the CDK app's directory): `streamer local --template` rebuilds the asset from them
// when the functions' architecture is not the machine's.
const GoEntryMetadata = "streamer:go-entry"

// Function roles: the values of EnvFunction.
const (
	RoleAuthorizer = "authorizer"
	RoleConnect    = "connect"
	RoleDisconnect = "disconnect"
	RoleRouter     = "router"
	RoleProcessor  = "processor"
	RoleWorker     = "worker"
	// RoleRedriver runs on a schedule: it hands out again the requests nothing will
	// deliver any more.
	RoleRedriver = "redriver"
)

// Roles lists every function role, in the order the construct creates them.
var Roles = []string{RoleAuthorizer, RoleConnect, RoleDisconnect, RoleRouter, RoleProcessor, RoleWorker, RoleRedriver}

// Identity sources of the $connect authorizer: where API Gateway requires the token before
// it invokes the authorizer (a $connect without it is answered 401), and where the
// authorizer reads it.
const (
	// IdentitySourceQueryToken is the token query parameter, the default: browsers cannot
	// set headers on a WebSocket handshake.
	IdentitySourceQueryToken = "route.request.querystring.token"
	// IdentitySourceAuthorizationHeader is an Authorization: Bearer header.
	IdentitySourceAuthorizationHeader = "route.request.header.Authorization"
)

// Authorizer context keys: the $connect authorizer puts the verified identity under these
// keys, and API Gateway hands them to every later event in requestContext.authorizer.
const (
	AuthUserID   = "user_id"
	AuthTenantID = "tenant_id"
)

// Connections table. Every key attribute is a string (S).
const (
	AttrConnectionID = "connection_id" // partition key
	AttrUserID       = "user_id"
	AttrTenantID     = "tenant_id"
	AttrEndpoint     = "endpoint"
	AttrConnectedAt  = "connected_at"
	AttrLastSeen     = "last_seen"
	AttrMetadata     = "metadata"
	AttrTTL          = "ttl" // number, Unix seconds; the table's TTL attribute
)

// Requests table. Key attributes are strings (S); created_at is an RFC 3339 string with a
// fixed-width UTC timestamp so that it sorts.
const (
	AttrRequestID        = "request_id" // partition key: "<tenant>#<user>#<client id>"
	AttrClientID         = "client_id"  // the id the client chose (or the server generated)
	AttrStatus           = "status"
	AttrCreatedAt        = "created_at"
	AttrUpdatedAt        = "updated_at"
	AttrAction           = "action"
	AttrPayload          = "payload" // JSON text
	AttrAttempt          = "attempt"
	AttrMaxAttempts      = "max_attempts"
	AttrLeaseUntil       = "lease_until"
	AttrLeaseOwner       = "lease_owner"
	AttrProgress         = "progress"
	AttrProgressMessage  = "progress_message"
	AttrProgressMetadata = "progress_metadata" // JSON text
	AttrResult           = "result"            // JSON text
	AttrError            = "error"             // JSON text of a streamer.Error
	AttrCancelRequested  = "cancel_requested"
	AttrStartedAt        = "started_at"
	AttrEndedAt          = "ended_at"
	// AttrUnfinishedShard is set while a request is PENDING or PROCESSING and removed
	// when it ends: the partition key of the sparse unfinished index, one of
	// UnfinishedShards values (a hash of request_id, so the index has no hot partition).
	AttrUnfinishedShard = "unfinished_shard"
	AttrCheckpoint      = "checkpoint"    // JSON text: the handler's saved state
	AttrContinuations   = "continuations" // number of invocations that handed the request on
	// AttrRequestConnectionID is the requests table's connection attribute (same name as
	// in the Connections table).
	AttrRequestConnectionID = AttrConnectionID

	// IndexUnfinished is the sparse GSI of the requests not yet finished: partition key
	// unfinished_shard, sort key created_at, keys only. The re-driver queries it.
	IndexUnfinished = "unfinished"
	// UnfinishedShards is the number of partition key values of IndexUnfinished.
	UnfinishedShards = 16
)

// Limits table: one item per tenant holding its token bucket and, per user, a bucket and
// the ids of the requests admitted and possibly in flight.
const (
	AttrLimitKey     = "limit_key" // partition key: the tenant id
	AttrLimitVersion = "version"   // number; every write is conditional on it
	AttrLimitState   = "state"     // JSON text of the buckets and in-flight sets
)

// Status values of a request, as stored in AttrStatus.
const (
	StatusPending    = "PENDING"
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusCancelled  = "CANCELLED"
)

// Limits of the AWS services (see LIMITS.md) and the defaults built on them.
const (
	// MaxMessageBytes is API Gateway's WebSocket message limit (128 KB, hard).
	MaxMessageBytes = 128 * 1024
	// MaxItemBytes is DynamoDB's item size limit (400 KB).
	MaxItemBytes = 400 * 1024
	// IntegrationTimeout is API Gateway's integration timeout (29 s, hard).
	IntegrationTimeout = 29 * time.Second
	// IdleTimeout is API Gateway's WebSocket idle timeout (10 min, hard).
	IdleTimeout = 10 * time.Minute
	// MaxConnectionDuration is API Gateway's WebSocket connection limit (2 h, hard).
	MaxConnectionDuration = 2 * time.Hour

	// DefaultAsyncThreshold: handlers estimated above it run asynchronously.
	DefaultAsyncThreshold = 5 * time.Second
	// DefaultSyncBudget is the time a synchronous handler gets, inside IntegrationTimeout.
	DefaultSyncBudget = 25 * time.Second
	// DefaultMaxAttempts is the number of attempts of an async request.
	DefaultMaxAttempts = 3
	// ConnectionTTL is how long a connection record lives.
	ConnectionTTL = 24 * time.Hour
	// RequestTTL is how long a request record lives.
	RequestTTL = 7 * 24 * time.Hour
	// ProgressInterval is the minimum time between two progress pushes of one request.
	ProgressInterval = 200 * time.Millisecond
	// PersistInterval is the minimum time between two progress writes of one request.
	PersistInterval = time.Second

	// DefaultUserMaxInFlight caps one user's async requests in flight: more than a person
	// follows at once, few enough that one user cannot hold a tenant's share.
	DefaultUserMaxInFlight = 10
	// DefaultUserRate is one user's sustained rate of new async requests per second.
	DefaultUserRate = 1.0
	// DefaultUserBurst is the size of one user's bucket: a page may start 20 jobs at once.
	DefaultUserBurst = 20
	// DefaultTenantMaxInFlight caps one tenant's async requests in flight: a tenth of
	// Lambda's default account concurrency (1,000), so one tenant cannot take it all.
	DefaultTenantMaxInFlight = 100
	// DefaultTenantRate is one tenant's sustained rate of new async requests per second.
	DefaultTenantRate = 10.0
	// DefaultTenantBurst is the size of one tenant's bucket.
	DefaultTenantBurst = 100
	// MaxTrackedInFlight is the most request ids one tenant's Limits item holds: with an
	// in-flight limit on, a tenant never has more async requests in flight.
	MaxTrackedInFlight = 1000

	// MaxTenantIDBytes and MaxUserIDBytes bound the identities the authorizer admits: the
	// request key tenant#user#id (id at most 128) stays far under DynamoDB's 2,048-byte
	// partition key limit, and a tenant's Limits item keeps room for its users.
	MaxTenantIDBytes = 128
	MaxUserIDBytes   = 256

	// DefaultRedriveAfter is how long a request may stay PENDING, or PROCESSING after
	// its lease ended, before the re-driver hands it out again: past Lambda's retries of
	// a failed worker invocation (about 3 minutes), short of a user giving up.
	DefaultRedriveAfter = 15 * time.Minute
	// DefaultRedriveSchedule is how often the deployed re-driver runs.
	DefaultRedriveSchedule = 5 * time.Minute
	// DefaultMaxDuration is how long an async request may take in total, from its
	// enqueue across every invocation that continues it, unless its action sets its own.
	DefaultMaxDuration = 4 * time.Hour
)
