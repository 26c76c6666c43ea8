package auth

import (
	"cmp"
	"fmt"
	"net/http"
	"time"
)

// Defaults of Config.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultJWKSRefreshInterval is how old a cached JWKS may get before the next
	// verification refetches it (so removed keys stop being accepted).
	DefaultJWKSRefreshInterval = 15 * time.Minute
	// DefaultJWKSMinRefreshInterval is the least time between two JWKS fetches, whatever
	// triggers them: a flood of tokens with made-up kids costs the identity provider at
	// most one request per interval.
	DefaultJWKSMinRefreshInterval = 30 * time.Second
	// DefaultHTTPTimeout bounds one JWKS fetch made with the default HTTP client.
	DefaultHTTPTimeout = 10 * time.Second
	// MinHMACSecretBytes is the shortest HS256 secret accepted (RFC 7518 section 3.2:
	// a key of at least the hash size, 256 bits).
	MinHMACSecretBytes = 32
)

// Config configures a Verifier. At least one key source (JWKSURL, PublicKey or
// HMACSecret) is required; JWKSURL and PublicKey are mutually exclusive.
type Config struct {
	// JWKSURL is the identity provider's JWK Set (RS256, ES256 and EdDSA keys; symmetric
	// keys in it are ignored). Tokens must carry a kid. Default: none.
	JWKSURL string
	// PublicKey is a static verification key: PEM text ([]byte or string), a jwk.Key, or
	// an *rsa.PublicKey, *ecdsa.PublicKey (P-256) or ed25519.PublicKey (a private key is
	// reduced to its public half). Its type fixes the one algorithm accepted with it.
	// Default: none.
	PublicKey any
	// HMACSecret enables HS256 with this shared secret (at least MinHMACSecretBytes).
	// HS256 is refused unless it is set. Default: none.
	HMACSecret []byte
	// Issuer, when set, must equal the token's iss. Default: not checked.
	Issuer string
	// Audience, when set, must be among the token's aud. Default: not checked.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default: DefaultLeeway.
	Leeway time.Duration
	// AllowedTenants, when non-empty, lists the only tenants admitted. Default: all.
	AllowedTenants []string
	// HTTPClient fetches the JWKS. Default: a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// JWKSRefreshInterval is the age after which the cached JWKS is refetched.
	// Default: DefaultJWKSRefreshInterval.
	JWKSRefreshInterval time.Duration
	// JWKSMinRefreshInterval is the least time between two JWKS fetches, including the
	// refresh an unknown kid triggers. Default: DefaultJWKSMinRefreshInterval.
	JWKSMinRefreshInterval time.Duration
	// Now is the clock used for claims and refresh decisions. Default: time.Now.
	Now func() time.Time
}

// withDefaults returns c with every zero field set to its documented default, or an
// error wrapping ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if c.JWKSURL == "" && c.PublicKey == nil && c.HMACSecret == nil {
		return c, fmt.Errorf("%w: one of JWKSURL, PublicKey or HMACSecret is required", ErrInvalidConfig)
	}
	if c.JWKSURL != "" && c.PublicKey != nil {
		return c, fmt.Errorf("%w: JWKSURL and PublicKey are mutually exclusive", ErrInvalidConfig)
	}
	if c.HMACSecret != nil && len(c.HMACSecret) < MinHMACSecretBytes {
		return c, fmt.Errorf("%w: HMACSecret must be at least %d bytes", ErrInvalidConfig, MinHMACSecretBytes)
	}
	if c.Leeway < 0 || c.JWKSRefreshInterval < 0 || c.JWKSMinRefreshInterval < 0 {
		return c, fmt.Errorf("%w: durations must not be negative", ErrInvalidConfig)
	}
	c.Leeway = cmp.Or(c.Leeway, DefaultLeeway)
	c.JWKSRefreshInterval = cmp.Or(c.JWKSRefreshInterval, DefaultJWKSRefreshInterval)
	c.JWKSMinRefreshInterval = cmp.Or(c.JWKSMinRefreshInterval, DefaultJWKSMinRefreshInterval)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
