// Package auth verifies the JWTs clients present when they open a WebSocket and turns
// them into an Identity (user and tenant). It holds the Verifier (an algorithm
// allow-list on top of github.com/lestrrat-go/jwx/v2, keys from a JWKS URL, a static
// public key or an explicitly configured HS256 secret), the $connect Lambda REQUEST
// authorizer built on it, and DevIssuer, the signing identity provider of the local
// stack and the CLI.
//
// Errors returned by this package are its own sentinels (see ErrInvalidToken); jwx
// error types never cross the package boundary.
package auth
