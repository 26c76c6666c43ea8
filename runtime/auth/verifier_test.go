package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
)

// idp is an identity provider publishing an RS256, an ES256 and an EdDSA key over a real
// HTTP JWKS endpoint.
type idp struct {
	rsa, ec, ed signingKey
	server      *jwksServer
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	p := &idp{
		rsa: newKey(t, jwa.RS256, "rsa-1"),
		ec:  newKey(t, jwa.ES256, "ec-1"),
		ed:  newKey(t, jwa.EdDSA, "ed-1"),
	}
	p.server = newJWKSServer(t, p.rsa.public(t), p.ec.public(t), p.ed.public(t))
	return p
}

func (p *idp) verifier(t *testing.T, edit func(*auth.Config)) *auth.Verifier {
	t.Helper()
	cfg := auth.Config{
		JWKSURL:        p.server.URL,
		Issuer:         testIssuer,
		Audience:       testAudience,
		AllowedTenants: []string{"acme", "globex"},
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := auth.NewVerifier(context.Background(), cfg)
	require.NoError(t, err)
	return v
}

func b64(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func with(c map[string]any, edits map[string]any) map[string]any {
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerifyAcceptsAllowedAlgorithms(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	v := p.verifier(t, nil)
	for _, key := range []signingKey{p.rsa, p.ec, p.ed} {
		t.Run(key.alg.String(), func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), sign(t, key, claims()))
			require.NoError(t, err)
			require.Equal(t, "u1", id.UserID)
			require.Equal(t, "acme", id.TenantID)
			require.Equal(t, testIssuer, id.Claims["iss"])
		})
	}
	// user_id wins over sub; a token inside the leeway is still good.
	id, err := v.Verify(context.Background(), sign(t, p.ec, with(claims(), map[string]any{
		"user_id": "u-explicit",
		"exp":     time.Now().Add(-10 * time.Second).Unix(),
	})))
	require.NoError(t, err)
	require.Equal(t, "u-explicit", id.UserID)
	require.Equal(t, int64(1), p.server.hits.Load(), "valid tokens are verified from the cached set")
}

func TestVerifyRefusesAttacks(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	attacker := newKey(t, jwa.RS256, "rsa-1") // same kid as the real key
	intruder := newKey(t, jwa.ES256, "attacker-key")
	rs384 := newKey(t, jwa.RS384, "rsa-1")
	rs384.priv = p.rsa.priv

	pubDER, err := x509.MarshalPKIXPublicKey(mustRaw(t, p.rsa.public(t)))
	require.NoError(t, err)
	rsaPublicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := sign(t, p.rsa, claims())
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64(t, with(claims(), map[string]any{"tenant_id": "globex", "sub": "admin"})) + "." + parts[2]
	none := func(alg string) string {
		return b64(t, map[string]any{"alg": alg, "kid": "rsa-1", "typ": "JWT"}) + "." + b64(t, claims()) + "."
	}

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", auth.ErrMissingToken},
		{"garbage", "not-a-jwt", auth.ErrMalformedToken},
		{"two parts", "a.b", auth.ErrMalformedToken},
		{"alg none", none("none"), auth.ErrAlgorithmNotAllowed},
		{"alg None", none("None"), auth.ErrAlgorithmNotAllowed},
		{"alg empty", none(""), auth.ErrAlgorithmNotAllowed},
		{"HS256 signed with the RSA public key", signRaw(t, jwa.HS256, rsaPublicPEM, map[string]any{"kid": "rsa-1"}, claims()), auth.ErrAlgorithmNotAllowed},
		{"RS384 with the real key", sign(t, rs384, claims()), auth.ErrAlgorithmNotAllowed},
		{"ES256 under the RSA kid", signRaw(t, jwa.ES256, mustRaw(t, intruder.priv), map[string]any{"kid": "rsa-1"}, claims()), auth.ErrKeyMismatch},
		{"unknown kid", sign(t, intruder, claims()), auth.ErrUnknownKey},
		{"no kid", signRaw(t, jwa.ES256, mustRaw(t, p.ec.priv), nil, claims()), auth.ErrUnknownKey},
		{"embedded jwk header", signRaw(t, jwa.ES256, mustRaw(t, intruder.priv), map[string]any{"kid": "ec-1", "jwk": intruder.public(t)}, claims()), auth.ErrBadSignature},
		{"wrong key, right kid", sign(t, attacker, claims()), auth.ErrBadSignature},
		{"tampered claims", tampered, auth.ErrBadSignature},
		{"expired", sign(t, p.rsa, with(claims(), map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), auth.ErrTokenExpired},
		{"no exp", sign(t, p.rsa, with(claims(), map[string]any{"exp": nil})), auth.ErrInvalidClaims},
		{"not yet valid", sign(t, p.ec, with(claims(), map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), auth.ErrTokenNotYetValid},
		{"issued in the future", sign(t, p.ec, with(claims(), map[string]any{"iat": time.Now().Add(time.Hour).Unix()})), auth.ErrTokenNotYetValid},
		{"wrong issuer", sign(t, p.ed, with(claims(), map[string]any{"iss": "https://evil.test"})), auth.ErrWrongIssuer},
		{"no issuer", sign(t, p.ed, with(claims(), map[string]any{"iss": nil})), auth.ErrWrongIssuer},
		{"wrong audience", sign(t, p.ed, with(claims(), map[string]any{"aud": "other-api"})), auth.ErrWrongAudience},
		{"missing tenant", sign(t, p.ec, with(claims(), map[string]any{"tenant_id": nil})), auth.ErrMissingTenant},
		{"non-string tenant", sign(t, p.ec, with(claims(), map[string]any{"tenant_id": 42})), auth.ErrMissingTenant},
		{"missing user", sign(t, p.ec, with(claims(), map[string]any{"sub": nil})), auth.ErrMissingUser},
		{"# in tenant", sign(t, p.ec, with(claims(), map[string]any{"tenant_id": "acme#u"})), auth.ErrUnusableIdentity},
		{"# in user", sign(t, p.ec, with(claims(), map[string]any{"user_id": "u#1"})), auth.ErrUnusableIdentity},
		{"10 KB tenant", sign(t, p.ec, with(claims(), map[string]any{"tenant_id": strings.Repeat("t", 10*1024)})), auth.ErrUnusableIdentity},
		{"long user", sign(t, p.ec, with(claims(), map[string]any{"user_id": strings.Repeat("u", 257)})), auth.ErrUnusableIdentity},
		{"control in user", sign(t, p.ec, with(claims(), map[string]any{"sub": "u\n1"})), auth.ErrUnusableIdentity},
		{"tenant not allowed", sign(t, p.ec, with(claims(), map[string]any{"tenant_id": "initech"})), auth.ErrTenantNotAllowed},
	}
	v := p.verifier(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), tt.token)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, id)
			if tt.want != auth.ErrTenantNotAllowed {
				require.ErrorIs(t, err, auth.ErrInvalidToken)
			}
			require.True(t, strings.HasPrefix(err.Error(), "auth: "), err.Error())
			if tt.token != "" {
				require.NotContains(t, err.Error(), tt.token)
			}
		})
	}
}

func TestVerifyHS256OnlyWithSecret(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", auth.MinHMACSecretBytes))
	hs := signRaw(t, jwa.HS256, secret, nil, with(claims(), map[string]any{"user_id": "u2"}))

	v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecret: secret, Issuer: testIssuer})
	require.NoError(t, err)
	id, err := v.Verify(context.Background(), hs)
	require.NoError(t, err)
	require.Equal(t, "u2", id.UserID)

	forged := signRaw(t, jwa.HS256, []byte(strings.Repeat("x", auth.MinHMACSecretBytes)), nil, claims())
	_, err = v.Verify(context.Background(), forged)
	require.ErrorIs(t, err, auth.ErrBadSignature)

	// An HMAC-only verifier refuses asymmetric tokens, and a JWKS-only one refuses HS256
	// even though the token is validly signed.
	_, err = v.Verify(context.Background(), sign(t, newKey(t, jwa.ES256, "k"), claims()))
	require.ErrorIs(t, err, auth.ErrAlgorithmNotAllowed)
	p := newIDP(t)
	_, err = p.verifier(t, nil).Verify(context.Background(), hs)
	require.ErrorIs(t, err, auth.ErrAlgorithmNotAllowed)
}

func TestVerifyStaticPublicKey(t *testing.T) {
	t.Parallel()
	key := newKey(t, jwa.RS256, "")
	pubDER, err := x509.MarshalPKIXPublicKey(mustRaw(t, key.public(t)))
	require.NoError(t, err)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	for name, pk := range map[string]any{"PEM bytes": pemBytes, "PEM string": string(pemBytes), "jwk.Key": key.public(t), "crypto key": mustRaw(t, key.public(t))} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := auth.NewVerifier(context.Background(), auth.Config{PublicKey: pk})
			require.NoError(t, err)
			_, err = v.Verify(context.Background(), sign(t, key, claims()))
			require.NoError(t, err)
			_, err = v.Verify(context.Background(), signRaw(t, jwa.HS256, pemBytes, nil, claims()))
			require.ErrorIs(t, err, auth.ErrAlgorithmNotAllowed)
			_, err = v.Verify(context.Background(), sign(t, newKey(t, jwa.ES256, ""), claims()))
			require.ErrorIs(t, err, auth.ErrKeyMismatch)
		})
	}
}

func TestNewVerifierRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	p384, err := jwk.FromRaw(mustP384(t))
	require.NoError(t, err)
	tests := map[string]auth.Config{
		"no key source":        {Issuer: testIssuer},
		"short secret":         {HMACSecret: []byte("short")},
		"JWKS and public key":  {JWKSURL: p.server.URL, PublicKey: p.rsa.public(t)},
		"P-384 key":            {PublicKey: p384},
		"symmetric key as PEM": {PublicKey: "not a pem"},
		"negative leeway":      {HMACSecret: []byte(strings.Repeat("s", 32)), Leeway: -time.Second},
		"empty PEM":            {PublicKey: []byte{}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := auth.NewVerifier(context.Background(), cfg)
			require.ErrorIs(t, err, auth.ErrInvalidConfig)
			require.Nil(t, v)
		})
	}
}

func TestVerifierAcceptsPrivateKeyAsPublicKey(t *testing.T) {
	t.Parallel()
	key := newKey(t, jwa.EdDSA, "ed")
	v, err := auth.NewVerifier(context.Background(), auth.Config{PublicKey: key.priv})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), sign(t, key, claims()))
	require.NoError(t, err)
}

func mustP384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	return k
}

func mustRaw(t *testing.T, k jwk.Key) any {
	t.Helper()
	var raw any
	require.NoError(t, k.Raw(&raw))
	return raw
}
