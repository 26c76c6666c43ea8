package auth_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/internal/clocktest"
)

// jwksBundle is a verifier on a real JWKS endpoint with a settable clock.
type jwksBundle struct {
	server   *jwksServer
	clock    *clocktest.Clock
	verifier *auth.Verifier
	old, new signingKey
}

func setupJWKS(t *testing.T) *jwksBundle {
	t.Helper()
	b := &jwksBundle{
		clock: clocktest.New(time.Now()),
		old:   newKey(t, jwa.ES256, "old"),
		new:   newKey(t, jwa.ES256, "new"),
	}
	b.server = newJWKSServer(t, b.old.public(t))
	v, err := auth.NewVerifier(context.Background(), auth.Config{
		JWKSURL: b.server.URL,
		Now:     b.clock.Now,
		// Defaults: min refresh interval 30 s, refresh interval 15 min.
	})
	require.NoError(t, err)
	b.verifier = v
	require.Equal(t, int64(1), b.server.hits.Load(), "NewVerifier loads the set")
	return b
}

func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	ctx := context.Background()
	b.server.setKeys(b.old.public(t), b.new.public(t))

	// Within the rate-limit window of the initial load the new kid cannot be fetched yet.
	_, err := b.verifier.Verify(ctx, sign(t, b.new, claims()))
	require.ErrorIs(t, err, auth.ErrUnknownKey)
	require.Equal(t, int64(1), b.server.hits.Load())

	b.clock.Advance(auth.DefaultJWKSMinRefreshInterval)
	id, err := b.verifier.Verify(ctx, sign(t, b.new, claims()))
	require.NoError(t, err, "the rotated-in key is accepted after the refresh")
	require.Equal(t, "u1", id.UserID)
	require.Equal(t, int64(2), b.server.hits.Load())

	_, err = b.verifier.Verify(ctx, sign(t, b.old, claims()))
	require.NoError(t, err, "keys still published stay valid")
	require.Equal(t, int64(2), b.server.hits.Load())
}

func TestJWKSRefreshIsRateLimited(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	ctx := context.Background()
	b.clock.Advance(auth.DefaultJWKSMinRefreshInterval)

	// A flood of made-up kids costs the identity provider one request per interval.
	for i := range 50 {
		forged := newKey(t, jwa.ES256, "forged-"+string(rune('a'+i%26)))
		_, err := b.verifier.Verify(ctx, sign(t, forged, claims()))
		require.ErrorIs(t, err, auth.ErrUnknownKey)
	}
	require.Equal(t, int64(2), b.server.hits.Load())

	b.clock.Advance(auth.DefaultJWKSMinRefreshInterval)
	_, err := b.verifier.Verify(ctx, sign(t, newKey(t, jwa.ES256, "forged-later"), claims()))
	require.ErrorIs(t, err, auth.ErrUnknownKey)
	require.Equal(t, int64(3), b.server.hits.Load())
}

func TestJWKSConcurrentRefreshIsShared(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	b.clock.Advance(auth.DefaultJWKSMinRefreshInterval)
	b.server.setKeys(b.old.public(t), b.new.public(t))
	token := sign(t, b.new, claims())

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range cap(errs) {
		wg.Go(func() {
			_, err := b.verifier.Verify(context.Background(), token)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(2), b.server.hits.Load(), "32 concurrent unknown-kid verifications, one refresh")
}

func TestJWKSPeriodicRefreshDropsRevokedKeys(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	ctx := context.Background()
	token := sign(t, b.old, claims())
	_, err := b.verifier.Verify(ctx, token)
	require.NoError(t, err)

	b.server.setKeys(b.new.public(t)) // "old" is revoked
	b.clock.Advance(auth.DefaultJWKSRefreshInterval)
	_, err = b.verifier.Verify(ctx, token)
	require.ErrorIs(t, err, auth.ErrUnknownKey)
	require.Equal(t, int64(2), b.server.hits.Load())
}

func TestJWKSOutageKeepsCachedKeys(t *testing.T) {
	t.Parallel()
	b := setupJWKS(t)
	ctx := context.Background()
	b.server.setStatus(http.StatusServiceUnavailable)
	b.clock.Advance(auth.DefaultJWKSRefreshInterval)

	_, err := b.verifier.Verify(ctx, sign(t, b.old, claims()))
	require.NoError(t, err, "a failed refresh keeps the last good set")
	_, err = b.verifier.Verify(ctx, sign(t, b.old, claims()))
	require.NoError(t, err)
	require.Equal(t, int64(2), b.server.hits.Load(), "failed refreshes are rate-limited too")
}

func TestNewVerifierFailsWhenJWKSUnreachable(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t)
	s.setStatus(http.StatusInternalServerError)
	_, err := auth.NewVerifier(context.Background(), auth.Config{JWKSURL: s.URL})
	require.ErrorIs(t, err, auth.ErrJWKSUnavailable)
	require.NotErrorIs(t, err, auth.ErrInvalidToken)

	s.setStatus(http.StatusOK)
	_, err = auth.NewVerifier(context.Background(), auth.Config{JWKSURL: s.URL + "/missing\x7f"})
	require.ErrorIs(t, err, auth.ErrJWKSUnavailable)
}

func TestJWKSIgnoresSymmetricAndWeakKeys(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	oct, err := jwk.FromRaw(secret)
	require.NoError(t, err)
	require.NoError(t, oct.Set(jwk.KeyIDKey, "oct"))
	ec := newKey(t, jwa.ES256, "enc")
	encPub := ec.public(t)
	require.NoError(t, encPub.Set(jwk.KeyUsageKey, jwk.ForEncryption))

	s := newJWKSServer(t, oct, encPub)
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKSURL: s.URL, Now: clocktest.New(time.Now()).Now})
	require.NoError(t, err)

	_, err = v.Verify(context.Background(), signRaw(t, jwa.HS256, secret, map[string]any{"kid": "oct"}, claims()))
	require.ErrorIs(t, err, auth.ErrAlgorithmNotAllowed, "a JWKS never enables HS256")
	_, err = v.Verify(context.Background(), sign(t, ec, claims()))
	require.ErrorIs(t, err, auth.ErrUnknownKey, "encryption keys do not verify signatures")
}

func TestJWKSRefreshHonoursConfiguredInterval(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(time.Now())
	key := newKey(t, jwa.EdDSA, "ed")
	s := newJWKSServer(t)
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKSURL: s.URL, Now: clock.Now, JWKSMinRefreshInterval: time.Second})
	require.NoError(t, err)
	s.setKeys(key.public(t))
	clock.Advance(time.Second)
	_, err = v.Verify(context.Background(), sign(t, key, claims()))
	require.NoError(t, err)
	require.Equal(t, int64(2), s.hits.Load())
}
