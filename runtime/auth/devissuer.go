package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Defaults of the dev identity provider.
const (
	// DevIssuerName is the iss of dev tokens.
	DevIssuerName = "streamer-dev"
	// DevAudience is the aud of dev tokens.
	DevAudience = "streamer"
	// JWKSPath is where JWKS handlers are conventionally mounted.
	JWKSPath = "/.well-known/jwks.json"
)

// DevIssuer is the identity provider of the local stack and the CLI: it holds an ES256
// key generated at start, publishes the public half as a JWKS and mints tokens for any
// user and tenant. It is for development only: whoever reaches Mint gets any identity.
type DevIssuer struct {
	key  jwk.Key           // private, kid set
	raw  *ecdsa.PrivateKey // the same key
	pub  *ecdsa.PublicKey  // its public half
	jwks []byte            // the public JWK Set, JSON
}

// NewDevIssuer generates a fresh ES256 (P-256) signing key whose kid is its RFC 7638
// thumbprint.
func NewDevIssuer() (*DevIssuer, error) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %w", err)
	}
	return NewDevIssuerFromKey(raw)
}

// NewDevIssuerFromKey returns a dev issuer signing with raw, a P-256 key (see
// PrivateKey): processes that share the key accept each other's tokens, which is how a
// restarted local stack keeps accepting the tokens its predecessor minted.
func NewDevIssuerFromKey(raw *ecdsa.PrivateKey) (*DevIssuer, error) {
	if raw == nil || raw.Curve != elliptic.P256() {
		return nil, errors.New("auth: dev issuer: the key must be a P-256 ECDSA key")
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %v", err)
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %v", err)
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.ES256); err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %v", err)
	}
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %v", err)
	}
	if err := pub.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %v", err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %v", err)
	}
	body, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("auth: dev issuer: %w", err)
	}
	return &DevIssuer{key: key, raw: raw, pub: &raw.PublicKey, jwks: body}, nil
}

// PrivateKey returns the signing key, to hand to NewDevIssuerFromKey in another process.
func (d *DevIssuer) PrivateKey() *ecdsa.PrivateKey { return d.raw }

// Issuer is the iss claim of minted tokens.
func (d *DevIssuer) Issuer() string { return DevIssuerName }

// Audience is the aud claim of minted tokens.
func (d *DevIssuer) Audience() string { return DevAudience }

// KeyID is the kid of the signing key.
func (d *DevIssuer) KeyID() string { return d.key.KeyID() }

// PublicKey returns the verification key (an *ecdsa.PublicKey), for a Verifier configured
// in-process without the JWKS round trip.
func (d *DevIssuer) PublicKey() crypto.PublicKey { return d.pub }

// Config returns a verifier configuration that accepts this issuer's tokens from the JWKS
// published at jwksURL.
func (d *DevIssuer) Config(jwksURL string) Config {
	return Config{JWKSURL: jwksURL, Issuer: DevIssuerName, Audience: DevAudience}
}

// Mint signs a token for user in tenant that expires ttl from now. A negative ttl gives a
// token that has already expired; note that verifiers tolerate DefaultLeeway of skew, so a
// token meant to be refused needs a ttl below -DefaultLeeway (for example -time.Minute).
func (d *DevIssuer) Mint(user, tenant string, ttl time.Duration) (string, error) {
	return mint(jwa.ES256, d.key, DevIssuerName, DevAudience, user, tenant, ttl)
}

// HMACIssuer mints HS256 tokens with a shared secret: the tokens a verifier configured
// with that HMACSecret (and the same issuer and audience) accepts, such as the local
// stack's for a template whose authorizer reads its key from Secrets Manager. It is for
// development only: whoever reaches Mint gets any identity.
type HMACIssuer struct {
	secret           []byte
	issuer, audience string
}

// NewHMACIssuer returns an issuer signing with secret (at least MinHMACSecretBytes);
// issuer and audience, when not empty, become the iss and aud claims.
func NewHMACIssuer(secret []byte, issuer, audience string) (*HMACIssuer, error) {
	if len(secret) < MinHMACSecretBytes {
		return nil, fmt.Errorf("%w: HMAC secret must be at least %d bytes", ErrInvalidConfig, MinHMACSecretBytes)
	}
	return &HMACIssuer{secret: secret, issuer: issuer, audience: audience}, nil
}

// Mint signs a token for user in tenant that expires ttl from now (see DevIssuer.Mint).
func (h *HMACIssuer) Mint(user, tenant string, ttl time.Duration) (string, error) {
	return mint(jwa.HS256, h.secret, h.issuer, h.audience, user, tenant, ttl)
}

// mint builds and signs a token for user in tenant expiring ttl from now (iss and aud only
// when not empty).
func mint(alg jwa.SignatureAlgorithm, key any, issuer, audience, user, tenant string, ttl time.Duration) (string, error) {
	if user == "" || tenant == "" || ttl == 0 {
		return "", errors.New("auth: mint: a user, a tenant and a lifetime are required")
	}
	now := time.Now().Truncate(time.Second)
	issuedAt := now
	if ttl < 0 {
		issuedAt = now.Add(ttl)
	}
	b := jwt.NewBuilder().
		Subject(user).
		IssuedAt(issuedAt).
		NotBefore(issuedAt).
		Expiration(now.Add(ttl)).
		Claim(ClaimUserID, user).
		Claim(ClaimTenantID, tenant)
	if issuer != "" {
		b = b.Issuer(issuer)
	}
	if audience != "" {
		b = b.Audience([]string{audience})
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("auth: mint: %v", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		return "", fmt.Errorf("auth: mint: %v", err)
	}
	return string(signed), nil
}

// JWKSHandler serves the public JWK Set (mount it at JWKSPath).
func (d *DevIssuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(d.jwks)
	})
}
