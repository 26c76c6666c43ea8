package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/streamer-go/streamer/runtime/store"
)

// maxTokenBytes bounds the work spent on a presented token; real tokens are far smaller.
const maxTokenBytes = 16 * 1024

// Claim names read into an Identity.
const (
	ClaimUserID   = "user_id"
	ClaimTenantID = "tenant_id"
)

// Identity is the verified caller: who (UserID, from user_id or else sub) and for which
// tenant (TenantID, from tenant_id), with every claim of the token.
type Identity struct {
	UserID   string
	TenantID string
	Claims   map[string]any
}

// Verifier checks JWTs against an algorithm allow-list and the configured keys and
// claims. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	jwks   *jwksCache      // nil without JWKSURL
	static verificationKey // zero without PublicKey
}

// NewVerifier validates cfg, fills its defaults and, when cfg.JWKSURL is set, fetches the
// JWKS once with ctx so that a wrong URL fails at start-up rather than on the first
// connection.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg}
	if cfg.PublicKey != nil {
		if v.static, err = parseStaticKey(cfg.PublicKey); err != nil {
			return nil, err
		}
	}
	if cfg.JWKSURL != "" {
		v.jwks = newJWKSCache(cfg)
		if err := v.jwks.refresh(ctx); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Verify checks token's signature and claims and returns the caller's identity. A token
// that is refused yields an error wrapping ErrInvalidToken (one of its more specific
// sentinels) or ErrTenantNotAllowed; any other error (ErrJWKSUnavailable, a cancelled
// ctx) means the token could not be checked.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrMissingToken
	}
	if len(token) > maxTokenBytes || strings.Count(token, ".") != 2 {
		return nil, ErrMalformedToken
	}
	msg, err := jws.ParseString(token)
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, ErrMalformedToken
	}
	header := msg.Signatures()[0].ProtectedHeaders()
	alg, kid := header.Algorithm(), header.KeyID()

	key, err := v.keyFor(ctx, alg, kid)
	if err != nil {
		return nil, err
	}
	opts := []jwt.ParseOption{
		jwt.WithKey(alg, key),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(v.cfg.Leeway),
		jwt.WithClock(jwt.ClockFunc(v.cfg.Now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithContext(ctx),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if v.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.cfg.Audience))
	}
	tok, err := jwt.ParseString(token, opts...)
	if err != nil {
		return nil, classify(err)
	}
	return v.identity(ctx, tok)
}

// keyFor picks the key that may verify a token with this header. The algorithm decides
// the key family before anything else, so a token can never make an RSA public key act as
// an HMAC secret, nor choose "none".
func (v *Verifier) keyFor(ctx context.Context, alg jwa.SignatureAlgorithm, kid string) (any, error) {
	if alg == jwa.HS256 {
		if v.cfg.HMACSecret == nil {
			return nil, fmt.Errorf("%w: %s", ErrAlgorithmNotAllowed, alg)
		}
		return v.cfg.HMACSecret, nil
	}
	if !asymmetricAlgorithms[alg] {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithmNotAllowed, alg.String())
	}
	switch {
	case v.jwks != nil:
		if kid == "" {
			return nil, fmt.Errorf("%w: no kid in header", ErrUnknownKey)
		}
		candidates, err := v.jwks.lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		for _, c := range candidates {
			if c.alg == alg {
				return c.key, nil
			}
		}
		return nil, fmt.Errorf("%w: kid %q is not a %s key", ErrKeyMismatch, kid, alg)
	case v.static.key != nil:
		if own := v.static.key.KeyID(); own != "" && kid != "" && own != kid {
			return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
		}
		if v.static.alg != alg {
			return nil, fmt.Errorf("%w: the configured key is a %s key", ErrKeyMismatch, v.static.alg)
		}
		return v.static.key, nil
	default:
		return nil, fmt.Errorf("%w: %s (only HS256 is configured)", ErrAlgorithmNotAllowed, alg)
	}
}

// identity extracts user and tenant and applies the tenant allow-list.
func (v *Verifier) identity(ctx context.Context, tok jwt.Token) (*Identity, error) {
	claims, err := tok.AsMap(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidClaims, err)
	}
	user, _ := claims[ClaimUserID].(string)
	if user == "" {
		user = tok.Subject()
	}
	if user == "" {
		return nil, ErrMissingUser
	}
	tenant, _ := claims[ClaimTenantID].(string)
	if tenant == "" {
		return nil, ErrMissingTenant
	}
	if err := store.CheckOwner(store.Owner{TenantID: tenant, UserID: user}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnusableIdentity, err)
	}
	if len(v.cfg.AllowedTenants) > 0 && !slices.Contains(v.cfg.AllowedTenants, tenant) {
		return nil, fmt.Errorf("%w: %q", ErrTenantNotAllowed, tenant)
	}
	return &Identity{UserID: user, TenantID: tenant, Claims: claims}, nil
}

// classify converts a jwx parse/validation error into this package's sentinels. The jwx
// text is kept for the server-side log; its types are not.
func classify(err error) error {
	var sentinel error
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		sentinel = ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotYetValid()), errors.Is(err, jwt.ErrInvalidIssuedAt()):
		sentinel = ErrTokenNotYetValid
	case errors.Is(err, jwt.ErrInvalidIssuer()):
		sentinel = ErrWrongIssuer
	case errors.Is(err, jwt.ErrInvalidAudience()):
		sentinel = ErrWrongAudience
	case jwt.IsValidationError(err):
		sentinel = ErrInvalidClaims
	case jws.IsVerificationError(err):
		sentinel = ErrBadSignature
	default:
		sentinel = ErrMalformedToken
	}
	return fmt.Errorf("%w (%v)", sentinel, err)
}
