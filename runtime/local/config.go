package local

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"strings"
	"time"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// ErrInvalidConfig is wrapped by the error Start returns for a bad Config.
var ErrInvalidConfig = errors.New("local: invalid config")

// ErrNotLoopback is wrapped (with ErrInvalidConfig) by the error Start returns for an
// Addr that is not loopback without InsecureExposeToNetwork.
var ErrNotLoopback = errors.New("not loopback")

// Defaults of Config.
const (
	// DefaultAddr is where the stack listens: loopback only, as nothing is authenticated
	// but the WebSocket API.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultRegion is the region of the ARNs the stack makes up and of the DynamoDB client.
	DefaultRegion = "us-east-1"
	// DefaultStage is the API's stage name.
	DefaultStage = "local"
	// DefaultPollInterval is the event source mapping's poll interval per shard (4 polls a second).
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultBatchSize is the most stream records per processor invocation, as StreamerApi sets it.
	DefaultBatchSize = 10
	// DefaultStreamRetryAttempts is how often a failing batch is retried before its records
	// are discarded, as StreamerApi sets it.
	DefaultStreamRetryAttempts = 3
	// DefaultWorkerRetryAttempts is how often a failed async worker invocation is retried,
	// as StreamerApi (and Lambda) set it.
	DefaultWorkerRetryAttempts = 2
	// DefaultWorkerRetryDelay is the delay before the first retry of a failed async worker
	// invocation (Lambda waits about a minute, then two).
	DefaultWorkerRetryDelay = time.Minute
	// DefaultTablePrefix starts the table names on DynamoDB: the same on every start, so
	// requests survive a restart.
	DefaultTablePrefix = "streamer-local-"
	// DefaultRedriveInterval is how often the stack runs the re-driver function (the
	// deployed stack's EventBridge schedule).
	DefaultRedriveInterval = 30 * time.Second
	// DefaultMaxRoutingPerConnection is how many messages of one connection are routed
	// at once; the gateway reads no more of it until one is answered.
	DefaultMaxRoutingPerConnection = 8
	// DefaultMaxPendingWriteBytes is how many bytes of @connections posts may wait to be
	// written to one connection; a post beyond it gets 429 LimitExceededException.
	DefaultMaxPendingWriteBytes = 1 << 20
)

// FunctionSettings are one function's timeout and memory size.
type FunctionSettings struct {
	// Timeout is the deadline of each invocation.
	Timeout time.Duration
	// MemoryMB is the memory size; it only scales the GB-seconds reported in metrics.
	MemoryMB int
}

// DefaultFunctionSettings returns the timeout and memory of each role as StreamerApi
// deploys them by default.
func DefaultFunctionSettings() map[string]FunctionSettings {
	return map[string]FunctionSettings{
		contract.RoleAuthorizer: {Timeout: 10 * time.Second, MemoryMB: 256},
		contract.RoleConnect:    {Timeout: 10 * time.Second, MemoryMB: 256},
		contract.RoleDisconnect: {Timeout: 10 * time.Second, MemoryMB: 256},
		contract.RoleRouter:     {Timeout: contract.IntegrationTimeout, MemoryMB: 512},
		contract.RoleProcessor:  {Timeout: time.Minute, MemoryMB: 256},
		contract.RoleWorker:     {Timeout: 15 * time.Minute, MemoryMB: 1024},
		contract.RoleRedriver:   {Timeout: 5 * time.Minute, MemoryMB: 256},
	}
}

// Config configures a Stack. The zero value runs the stack on DefaultAddr with the
// in-memory store and no actions registered.
type Config struct {
	// Addr is the listen address; "127.0.0.1:0" picks a free port. Default: DefaultAddr.
	// An address that is not loopback is refused unless InsecureExposeToNetwork is set.
	Addr string
	// InsecureExposeToNetwork allows an Addr that is not loopback. The stack is a
	// development tool: whoever reaches it can open connections and run every action
	// (its dev endpoints, which mint tokens and post to connections, still answer only
	// requests from loopback to a loopback host name). Default: false.
	InsecureExposeToNetwork bool
	// Listener, when set, is served instead of listening on Addr (which is then
	// ignored), and closed by Shutdown: a supervisor that restarts the stack hands each
	// run the socket it holds, so the port never closes. Default: listen on Addr.
	Listener net.Listener
	// Issuer is the dev identity provider whose tokens the stack accepts and mints
	// (/dev/token). A restarted stack given its predecessor's issuer (see
	// auth.NewDevIssuerFromKey) keeps accepting the tokens clients hold. Default: a new
	// issuer with a fresh key.
	Issuer *auth.DevIssuer
	// DynamoDBEndpoint, when set, stores connections, requests and limits in DynamoDB at
	// this URL (DynamoDB Local, or any DynamoDB), and reads the requests table's stream
	// through the DynamoDB Streams API. Tables that exist are used as they are: requests
	// queued before a restart are picked up (see Start). Default: the in-memory store.
	DynamoDBEndpoint string
	// TablePrefix starts the names of the tables on DynamoDBEndpoint. Two stacks must not
	// share tables (each would dispatch the other's requests). The local command passes
	// DefaultTablePrefix, so its tables outlive a restart. Default: a prefix of this stack's
	// own, with DropTablesOnShutdown (fresh tables, as tests want).
	TablePrefix string
	// FreshTables drops the tables named by TablePrefix at start, so the stack starts
	// empty. Default: false, the tables and their requests are kept.
	FreshTables bool
	// DropTablesOnShutdown deletes the tables when the stack shuts down (tests with a
	// prefix of their own). Default: false, they are kept for the next start.
	DropTablesOnShutdown bool
	// RedriveInterval is how often the re-driver function runs, as the deployed stack's
	// schedule runs it; its After is the App's (lambdas.WithRedriveAfter). Default:
	// DefaultRedriveInterval.
	RedriveInterval time.Duration
	// Region of the DynamoDB client and the made-up ARNs. Default: DefaultRegion.
	Region string
	// Stage is the API's stage name. Default: DefaultStage.
	Stage string
	// Shards is the number of ordered lanes each stream shard is processed in, like the
	// event source mapping's ParallelizationFactor: records of one item stay in order.
	// The in-memory feed is one shard, and DynamoDB Local's stream usually is too, so 1
	// models one shard read strictly in order. Default: 1; at most 10.
	Shards int
	// App is the application, built as its Lambda main builds it: lambdas.New with its
	// options, then its actions and middleware. The stack builds every function from it.
	// Default: an App with no actions (only the system actions answer).
	App *lambdas.App

	// MaxMessageBytes is the WebSocket message limit. Default: protocol.MaxMessageBytes.
	MaxMessageBytes int
	// MaxRoutingPerConnection bounds the messages of one connection being routed at once
	// (their replies included): at that number the gateway stops reading the connection,
	// so TCP pushes back on a client that sends faster than it reads its answers, and
	// one client's memory stays bounded. Default: DefaultMaxRoutingPerConnection.
	MaxRoutingPerConnection int
	// MaxPendingWriteBytes bounds the @connections posts waiting to be written to one
	// connection; beyond it a post is refused with 429 LimitExceededException, as API
	// Gateway refuses posts to a client that does not read. Default:
	// DefaultMaxPendingWriteBytes.
	MaxPendingWriteBytes int
	// IdleTimeout closes a connection with no client message for this long (1001).
	// Default: contract.IdleTimeout.
	IdleTimeout time.Duration
	// MaxConnectionDuration closes a connection this long after it opened (1001).
	// Default: contract.MaxConnectionDuration.
	MaxConnectionDuration time.Duration
	// IntegrationTimeout bounds each route integration ($connect, $default,
	// $disconnect, the authorizer). Default: contract.IntegrationTimeout.
	IntegrationTimeout time.Duration
	// IdentitySource is where a $connect must carry the token, as the authorizer's
	// identity source in API Gateway: route.request.querystring.<name> or
	// route.request.header.<name>. A $connect without one of them is answered 401 before
	// the authorizer runs. Default: contract.IdentitySourceQueryToken, as StreamerApi
	// deploys it.
	IdentitySource []string

	// Functions overrides the timeout and memory of some roles; the others keep
	// DefaultFunctionSettings. Zero fields keep their default too.
	Functions map[string]FunctionSettings
	// PollInterval is the time between two polls of a quiet shard. Default: DefaultPollInterval.
	PollInterval time.Duration
	// BatchSize is the most records per processor invocation. Default: DefaultBatchSize.
	BatchSize int
	// StreamRetryAttempts bounds the retries of a failing batch; negative means none.
	// Default: DefaultStreamRetryAttempts.
	StreamRetryAttempts int
	// WorkerRetryAttempts bounds the retries of a failed worker invocation; negative
	// means none. Default: DefaultWorkerRetryAttempts.
	WorkerRetryAttempts int
	// WorkerRetryDelay is the wait before the first worker retry (doubled for the next);
	// in template mode, before the first retry of any failed asynchronous invocation.
	// Default: DefaultWorkerRetryDelay.
	WorkerRetryDelay time.Duration
	// Inline runs each worker inside the stream processor's invocation instead of
	// dispatching it: the processor's Invoke returns when the worker has finished, as if
	// the handler ran in the stream consumer. It exists to measure what dispatching buys
	// (`streamer bench`, scenario dispatch); with the App's ProcessorConfig.Concurrency
	// at 1 the consumer handles one record at a time. Default: false, dispatch, as
	// StreamerApi deploys it.
	Inline bool

	// StreamOnly leaves every request to the stream, as an App built with
	// lambdas.WithDirectDispatch(false) does, whatever the App says (`streamer local
	// --direct-dispatch=false`). Default: false, the App decides.
	StreamOnly bool

	// Latency adds the time AWS would add (API Gateway hops, Lambda invokes, stream
	// propagation, DynamoDB calls), for measurements in AWS terms. Default: none.
	Latency Latency

	// Logger receives the stack's and the functions' logs. Default: slog.Default().
	Logger *slog.Logger

	// Template is the path of a synthesized CloudFormation template
	// (cdk.out/<Stack>.template.json): the stack runs what it describes instead of App
	// (docs/guides/local-stack.md, "The deployed stack, from its template"). It requires
	// DynamoDBEndpoint; the tables, functions (their assets in the template's directory,
	// run as processes), routes, stream mappings, timeouts, memory sizes, retries and IAM
	// policies come from the template, so Functions, Shards (ParallelizationFactor),
	// BatchSize, StreamRetryAttempts, WorkerRetryAttempts, IdentitySource, Stage,
	// TablePrefix, Inline and App do not apply. Default: none, the in-process stack.
	Template string
	// AccountID is the account of the template's ARNs. Default: "000000000000".
	AccountID string
	// FunctionOutput receives what the template's function processes write (their logs),
	// a JSON record per line. Default: os.Stderr.
	FunctionOutput io.Writer
}

// withDefaults fills every zero field with its documented default and validates.
func (c Config) withDefaults() (Config, error) {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	if c.TablePrefix == "" && c.DynamoDBEndpoint != "" {
		// A stack of its own (a test's): fresh tables, gone when it stops.
		c.TablePrefix, c.DropTablesOnShutdown = "streamer-local-"+strings.ToLower(rand.Text()[:8])+"-", true
	}
	c.RedriveInterval = cmp.Or(c.RedriveInterval, DefaultRedriveInterval)
	c.Region = cmp.Or(c.Region, DefaultRegion)
	c.Stage = cmp.Or(c.Stage, DefaultStage)
	c.Shards = cmp.Or(c.Shards, 1)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, protocol.MaxMessageBytes)
	c.MaxRoutingPerConnection = cmp.Or(c.MaxRoutingPerConnection, DefaultMaxRoutingPerConnection)
	c.MaxPendingWriteBytes = cmp.Or(c.MaxPendingWriteBytes, DefaultMaxPendingWriteBytes)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, contract.IdleTimeout)
	c.MaxConnectionDuration = cmp.Or(c.MaxConnectionDuration, contract.MaxConnectionDuration)
	c.IntegrationTimeout = cmp.Or(c.IntegrationTimeout, contract.IntegrationTimeout)
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.StreamRetryAttempts = max(0, cmp.Or(c.StreamRetryAttempts, DefaultStreamRetryAttempts))
	c.WorkerRetryAttempts = max(0, cmp.Or(c.WorkerRetryAttempts, DefaultWorkerRetryAttempts))
	c.WorkerRetryDelay = cmp.Or(c.WorkerRetryDelay, DefaultWorkerRetryDelay)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	c.AccountID = cmp.Or(c.AccountID, localAccountID)
	if c.FunctionOutput == nil {
		c.FunctionOutput = os.Stderr
	}
	if c.Template != "" && c.DynamoDBEndpoint == "" {
		return c, fmt.Errorf("%w: Template needs DynamoDBEndpoint (the template's tables are created there)", ErrInvalidConfig)
	}
	if c.Template != "" && c.App != nil {
		return c, fmt.Errorf("%w: Template and App are exclusive (the template's functions run)", ErrInvalidConfig)
	}
	if len(c.IdentitySource) == 0 {
		c.IdentitySource = []string{contract.IdentitySourceQueryToken}
	}
	if err := checkIdentitySource(c.IdentitySource); err != nil {
		return c, err
	}
	if c.App == nil {
		c.App = lambdas.New()
	}

	fns := DefaultFunctionSettings()
	for role, s := range c.Functions {
		d, ok := fns[role]
		if !ok {
			return c, fmt.Errorf("%w: Functions: unknown role %q", ErrInvalidConfig, role)
		}
		fns[role] = FunctionSettings{Timeout: cmp.Or(s.Timeout, d.Timeout), MemoryMB: cmp.Or(s.MemoryMB, d.MemoryMB)}
	}
	c.Functions = maps.Clone(fns)

	if !c.InsecureExposeToNetwork && !IsLoopbackAddr(c.Addr) {
		return c, fmt.Errorf("%w: Addr %s is %w: anyone who reaches it could use the stack (set InsecureExposeToNetwork to allow it)", ErrInvalidConfig, c.Addr, ErrNotLoopback)
	}
	switch {
	case c.Shards < 1 || c.Shards > 10:
		return c, fmt.Errorf("%w: Shards must be 1 to 10, got %d", ErrInvalidConfig, c.Shards)
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return c, fmt.Errorf("%w: BatchSize must be 1 to 10000, got %d", ErrInvalidConfig, c.BatchSize)
	case c.MaxMessageBytes < 1 || c.MaxRoutingPerConnection < 1 || c.MaxPendingWriteBytes < 1 || c.IdleTimeout < 0 || c.MaxConnectionDuration < 0 || c.IntegrationTimeout < 0 || c.PollInterval < 0 || c.RedriveInterval < 0,
		c.Latency.APIGateway < 0 || c.Latency.InvokeCall < 0 || c.Latency.AsyncStart < 0 || c.Latency.StreamPropagation < 0 || c.Latency.DynamoDB < 0:
		return c, fmt.Errorf("%w: limits and durations must be positive", ErrInvalidConfig)
	}
	return c, nil
}

// IsLoopbackAddr reports whether a listen address (host:port) binds loopback only: a
// loopback IP or "localhost"; an empty host binds every interface.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return loopbackHost(host)
}

// loopbackHost reports whether host (a name or an IP, without port) is loopback.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
