package auth

import (
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// HMACIssuer mints HS256 tokens with a shared secret: the tokens a deployment whose
// authorizer verifies with that secret (Config.HMACSecret; the construct's HmacSecret)
// accepts. Whoever holds the secret can mint any identity, so it belongs to operators
// and tests, never to clients.
type HMACIssuer struct {
	secret   []byte
	issuer   string
	audience string
}

// NewHMACIssuer returns an issuer signing with secret (at least MinHMACSecretBytes),
// setting iss and aud to issuer and audience when they are not empty.
func NewHMACIssuer(secret []byte, issuer, audience string) (*HMACIssuer, error) {
	if len(secret) < MinHMACSecretBytes {
		return nil, fmt.Errorf("%w: the HMAC secret must be at least %d bytes, got %d", ErrInvalidConfig, MinHMACSecretBytes, len(secret))
	}
	return &HMACIssuer{secret: secret, issuer: issuer, audience: audience}, nil
}

// Mint signs a token for user in tenant that expires ttl from now (ttl must be positive).
func (h *HMACIssuer) Mint(user, tenant string, ttl time.Duration) (string, error) {
	if user == "" || tenant == "" || ttl <= 0 {
		return "", fmt.Errorf("auth: mint: a user, a tenant and a positive lifetime are required")
	}
	now := time.Now().Truncate(time.Second)
	b := jwt.NewBuilder().
		Subject(user).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(ttl)).
		Claim(ClaimUserID, user).
		Claim(ClaimTenantID, tenant)
	if h.issuer != "" {
		b = b.Issuer(h.issuer)
	}
	if h.audience != "" {
		b = b.Audience([]string{h.audience})
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("auth: mint: %v", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, h.secret))
	if err != nil {
		return "", fmt.Errorf("auth: mint: %v", err)
	}
	return string(signed), nil
}
