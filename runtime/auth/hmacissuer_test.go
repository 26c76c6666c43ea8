package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
)

func TestHMACIssuerTokensVerifyWithTheSecret(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("s", auth.MinHMACSecretBytes))
	issuer, err := auth.NewHMACIssuer(secret, "https://issuer.example", "streamer")
	require.NoError(t, err)
	tok, err := issuer.Mint("alice", "acme", time.Hour)
	require.NoError(t, err)

	v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecret: secret, Issuer: "https://issuer.example", Audience: "streamer"})
	require.NoError(t, err)
	id, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	require.Equal(t, "acme", id.TenantID)

	other, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecret: []byte(strings.Repeat("x", auth.MinHMACSecretBytes))})
	require.NoError(t, err)
	_, err = other.Verify(context.Background(), tok)
	require.Error(t, err, "another secret refuses it")

	noAudience, err := auth.NewHMACIssuer(secret, "", "")
	require.NoError(t, err)
	tok, err = noAudience.Mint("alice", "acme", time.Hour)
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), tok)
	require.ErrorIs(t, err, auth.ErrWrongIssuer, "a verifier that checks iss refuses a token without one")
}

func TestHMACIssuerRefusesShortSecretsAndBadClaims(t *testing.T) {
	t.Parallel()
	_, err := auth.NewHMACIssuer([]byte("short"), "", "")
	require.ErrorIs(t, err, auth.ErrInvalidConfig)

	issuer, err := auth.NewHMACIssuer([]byte(strings.Repeat("s", auth.MinHMACSecretBytes)), "", "")
	require.NoError(t, err)
	for _, c := range []struct {
		user, tenant string
		ttl          time.Duration
	}{{"", "acme", time.Hour}, {"alice", "", time.Hour}, {"alice", "acme", 0}} {
		_, err := issuer.Mint(c.user, c.tenant, c.ttl)
		require.Error(t, err, "%+v", c)
	}
}

func TestDevIssuerFromKeyMintsTokensTheFirstAccepts(t *testing.T) {
	t.Parallel()
	first, err := auth.NewDevIssuer()
	require.NoError(t, err)
	second, err := auth.NewDevIssuerFromKey(first.PrivateKey())
	require.NoError(t, err)
	require.Equal(t, first.KeyID(), second.KeyID())

	tok, err := second.Mint("alice", "acme", time.Hour)
	require.NoError(t, err)
	v, err := auth.NewVerifier(context.Background(), auth.Config{PublicKey: first.PublicKey(), Issuer: auth.DevIssuerName, Audience: auth.DevAudience})
	require.NoError(t, err)
	id, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)

	_, err = auth.NewDevIssuerFromKey(nil)
	require.Error(t, err)
}
