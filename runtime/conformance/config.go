package conformance

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// TokenSource mints a token the stack accepts for user in tenant. The suite asks for
// fresh users of Config.Tenant and Config.OtherTenant. A source that cannot mint some
// identity (an identity provider with fixed test accounts) returns an error wrapping
// errors.ErrUnsupported: what needs that identity is skipped. It may return a token of
// another user than asked; the suite reads the identity from the token's claims.
type TokenSource func(ctx context.Context, user, tenant string) (string, error)

// Action describes one of the app's actions and a payload it succeeds with.
type Action struct {
	// Name is the action's name. Required.
	Name string
	// Payload is a payload the action accepts and completes with. Default: none.
	Payload json.RawMessage
	// Progress says the action reports progress for Payload: the async guarantees then
	// require progress messages. Default: false, progress is not required.
	Progress bool
	// MinResultBytes is the least size of the action's result data, for Config.Large.
	// Default and minimum: protocol.MaxMessageBytes (the result does not fit one message).
	MinResultBytes int
}

// Config is a stack under test and the app's actions the guarantees use. A guarantee
// that needs an action (or a hook) the Config leaves out is skipped, saying which.
type Config struct {
	// URL is the stack's WebSocket URL, e.g. wss://{api}.execute-api.{region}.amazonaws.com/prod
	// or ws://127.0.0.1:8080/. Required.
	URL string
	// Tokens mints the tokens of the suite's users. Required.
	Tokens TokenSource
	// ExpiredTokens mints a token that is expired but otherwise valid, for
	// ExpiredToken. Default: none, ExpiredToken is skipped.
	ExpiredTokens TokenSource
	// Drop disconnects every open connection of user in tenant from the server side, as
	// API Gateway's DeleteConnection on the @connections API does, for
	// ClientSurvivesServerDrop. Default: none, ClientSurvivesServerDrop is skipped.
	Drop func(ctx context.Context, user, tenant string) error
	// Tenant is the tenant of the suite's users. Default: DefaultTenant.
	Tenant string
	// OtherTenant is a second tenant, for TenantIsolation. Default: DefaultOtherTenant.
	OtherTenant string

	// Sync is a synchronous action: answered with its result, no ack, no progress.
	// Its result fits one message. Default: none, the guarantees that need it are
	// skipped.
	Sync *Action
	// Async is an asynchronous action that completes within seconds (a second or two
	// is best: long enough for a request sent while it runs to find it running). Its
	// result fits one message. Set Progress when it reports progress. Default: none.
	Async *Action
	// Long is an asynchronous action that reports progress at least every few seconds
	// and runs for a minute or more unless cancelled, stopping when its context is
	// cancelled: the suite cancels it, or drops its client, while it runs. It may be
	// Async's action with a larger payload. Default: none.
	Long *Action
	// Large is an action (sync or async) whose result data is larger than one message
	// (protocol.MaxMessageBytes), so that it arrives in parts. Default: none.
	Large *Action

	// Timeout bounds each guarantee. Default: DefaultTimeout.
	Timeout time.Duration
}

// Defaults of Config.
const (
	DefaultTenant      = "tenant-a"
	DefaultOtherTenant = "tenant-b"
	DefaultTimeout     = 2 * time.Minute
)

// withDefaults fills the zero fields with their defaults and checks the rest.
func (c Config) withDefaults() (Config, error) {
	c.Tenant = cmp.Or(c.Tenant, DefaultTenant)
	c.OtherTenant = cmp.Or(c.OtherTenant, DefaultOtherTenant)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return c, errors.New("conformance: Config.URL is required: the stack's WebSocket URL")
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss"):
		return c, fmt.Errorf("conformance: Config.URL must be ws:// or wss://, got %q", c.URL)
	case c.Tokens == nil:
		return c, errors.New("conformance: Config.Tokens is required: it mints the tokens of the suite's users")
	case c.Tenant == c.OtherTenant:
		return c, fmt.Errorf("conformance: Config.Tenant and Config.OtherTenant are both %q", c.Tenant)
	}
	for field, a := range map[string]*Action{"Sync": c.Sync, "Async": c.Async, "Long": c.Long, "Large": c.Large} {
		if a == nil {
			continue
		}
		if a.Name == "" || strings.HasPrefix(a.Name, protocol.ReservedPrefix) {
			return c, fmt.Errorf("conformance: Config.%s.Name %q: empty or reserved", field, a.Name)
		}
		if len(a.Payload) > 0 && !json.Valid(a.Payload) {
			return c, fmt.Errorf("conformance: Config.%s.Payload is not JSON", field)
		}
	}
	if c.Large != nil {
		large := *c.Large
		large.MinResultBytes = max(large.MinResultBytes, protocol.MaxMessageBytes)
		c.Large = &large
	}
	return c, nil
}

// Identity returns the user (the user_id claim, else sub) and the tenant_id claim of a
// JWT, without verifying it: the stack does that.
func Identity(token string) (user, tenant string, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", errors.New("conformance: not a JWS compact token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", fmt.Errorf("conformance: the token's claims: %w", err)
	}
	var claims struct {
		Sub      string `json:"sub"`
		UserID   string `json:"user_id"`
		TenantID string `json:"tenant_id"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", "", fmt.Errorf("conformance: the token's claims: %w", err)
	}
	return cmp.Or(claims.UserID, claims.Sub), claims.TenantID, nil
}

// FixedTokens is a TokenSource over tokens an identity provider issued beforehand (test
// accounts of a deployed stack): for a tenant it returns the first token whose tenant_id
// claim is that tenant, whoever its user; for other tenants, errors.ErrUnsupported. Set
// Config.Tenant (and OtherTenant) to the tokens' tenants; Identity reads them.
func FixedTokens(tokens ...string) TokenSource {
	return func(_ context.Context, _, tenant string) (string, error) {
		for _, tok := range tokens {
			if _, t, err := Identity(tok); err == nil && t == tenant {
				return tok, nil
			}
		}
		return "", fmt.Errorf("conformance: no token of tenant %q: %w", tenant, errors.ErrUnsupported)
	}
}

// Deployed returns the Config of a deployed stack at wsURL (its WebSocket URL) tested
// with tokens your identity provider issued beforehand, such as those of test accounts
// (empty ones are ignored): Tokens serves them by tenant (FixedTokens), Tenant is the
// first token's tenant and OtherTenant the tenant of the first token of another one, when
// there is one (TenantIsolation needs it). Every guarantee runs as the first token's
// user. Add ExpiredTokens and Drop if you can, and the app's actions.
func Deployed(wsURL string, tokens ...string) (Config, error) {
	var given []string
	for _, tok := range tokens {
		if tok != "" {
			given = append(given, tok)
		}
	}
	if len(given) == 0 {
		return Config{}, errors.New("conformance: Deployed needs a token the stack accepts")
	}
	tenants := make([]string, len(given))
	for i, tok := range given {
		_, tenant, err := Identity(tok)
		if err != nil || tenant == "" {
			return Config{}, fmt.Errorf("conformance: token %d has no tenant_id claim (%v)", i+1, err)
		}
		tenants[i] = tenant
	}
	// Without a token of another tenant, OtherTenant names one FixedTokens cannot serve.
	cfg := Config{URL: wsURL, Tokens: FixedTokens(given...), Tenant: tenants[0], OtherTenant: "not-" + tenants[0]}
	if i := slices.IndexFunc(tenants, func(t string) bool { return t != cfg.Tenant }); i >= 0 {
		cfg.OtherTenant = tenants[i]
	}
	return cfg, nil
}
