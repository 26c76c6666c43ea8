package auth

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig reports a Config that cannot produce a working Verifier.
var ErrInvalidConfig = errors.New("auth: invalid config")

// ErrInvalidToken is the parent of every token rejection: errors.Is(err, ErrInvalidToken)
// tells a bad token (answer 401) from an infrastructure failure such as an unreachable
// JWKS endpoint (answer 500, the client may retry).
var ErrInvalidToken = errors.New("auth: invalid token")

// Token rejections. Each wraps ErrInvalidToken.
var (
	// ErrMissingToken: no token was presented.
	ErrMissingToken = fmt.Errorf("%w: missing", ErrInvalidToken)
	// ErrMalformedToken: the token is not a compact JWS with one signature.
	ErrMalformedToken = fmt.Errorf("%w: malformed", ErrInvalidToken)
	// ErrAlgorithmNotAllowed: the header's alg is not on the allow-list for the
	// configured keys ("none", HS256 without a secret, RS384, ...).
	ErrAlgorithmNotAllowed = fmt.Errorf("%w: algorithm not allowed", ErrInvalidToken)
	// ErrUnknownKey: the header's kid names no known key, even after a JWKS refresh.
	ErrUnknownKey = fmt.Errorf("%w: unknown key", ErrInvalidToken)
	// ErrKeyMismatch: the key named by kid is not a key for the header's alg.
	ErrKeyMismatch = fmt.Errorf("%w: key does not match algorithm", ErrInvalidToken)
	// ErrBadSignature: the signature does not verify with the selected key.
	ErrBadSignature = fmt.Errorf("%w: bad signature", ErrInvalidToken)
	// ErrTokenExpired: exp is in the past (beyond the leeway).
	ErrTokenExpired = fmt.Errorf("%w: expired", ErrInvalidToken)
	// ErrTokenNotYetValid: nbf (or iat) is in the future (beyond the leeway).
	ErrTokenNotYetValid = fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	// ErrWrongIssuer: iss differs from Config.Issuer.
	ErrWrongIssuer = fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	// ErrWrongAudience: aud does not contain Config.Audience.
	ErrWrongAudience = fmt.Errorf("%w: wrong audience", ErrInvalidToken)
	// ErrInvalidClaims: a required claim (exp) is absent or a claim is malformed.
	ErrInvalidClaims = fmt.Errorf("%w: invalid claims", ErrInvalidToken)
	// ErrMissingUser: neither user_id nor sub carries a non-empty string.
	ErrMissingUser = fmt.Errorf("%w: missing user", ErrInvalidToken)
	// ErrMissingTenant: tenant_id is absent or not a non-empty string.
	ErrMissingTenant = fmt.Errorf("%w: missing tenant", ErrInvalidToken)
	// ErrUnusableIdentity: the user or tenant cannot be stored or keyed (store.CheckOwner:
	// over 256 or 128 bytes, a '#', a control character, not UTF-8). Every frame of such
	// a connection would fail, so it is refused at $connect (401).
	ErrUnusableIdentity = fmt.Errorf("%w: unusable identity", ErrInvalidToken)
)

// ErrTenantNotAllowed reports a valid token whose tenant is not on Config.AllowedTenants.
// It is not an ErrInvalidToken: the caller is known, just not admitted (403, not 401).
var ErrTenantNotAllowed = errors.New("auth: tenant not allowed")

// ErrJWKSUnavailable reports that the JWKS could not be fetched or parsed and no
// usable key set is cached.
var ErrJWKSUnavailable = errors.New("auth: JWKS unavailable")

// ErrUnauthorized is what the authorizer returns for a missing or invalid token. Its text
// is exactly "Unauthorized", not "auth: ...", because that is the error message API Gateway
// turns into an HTTP 401 answer to the WebSocket handshake.
var ErrUnauthorized = errors.New("Unauthorized")
