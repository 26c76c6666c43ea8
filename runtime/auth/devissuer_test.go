package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
)

func TestDevIssuerTokensVerifyOverJWKS(t *testing.T) {
	t.Parallel()
	issuer, err := auth.NewDevIssuer()
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(auth.JWKSPath, issuer.JWKSHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + auth.JWKSPath)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(body, &set))
	require.Len(t, set.Keys, 1)
	require.Equal(t, issuer.KeyID(), set.Keys[0]["kid"])
	require.Equal(t, "ES256", set.Keys[0]["alg"])
	require.NotContains(t, set.Keys[0], "d", "only the public key is published")

	v, err := auth.NewVerifier(context.Background(), issuer.Config(srv.URL+auth.JWKSPath))
	require.NoError(t, err)
	token, err := issuer.Mint("alice", "acme", time.Minute)
	require.NoError(t, err)
	id, err := v.Verify(context.Background(), token)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	require.Equal(t, "acme", id.TenantID)
	require.Equal(t, []string{issuer.Audience()}, id.Claims["aud"])
	require.Equal(t, issuer.Issuer(), id.Claims["iss"])

	expired, err := issuer.Mint("alice", "acme", -time.Minute)
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), expired)
	require.ErrorIs(t, err, auth.ErrTokenExpired)

	direct, err := auth.NewVerifier(context.Background(), auth.Config{PublicKey: issuer.PublicKey(), Issuer: issuer.Issuer()})
	require.NoError(t, err)
	_, err = direct.Verify(context.Background(), token)
	require.NoError(t, err)

	other, err := auth.NewDevIssuer()
	require.NoError(t, err)
	foreign, err := other.Mint("alice", "acme", time.Minute)
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), foreign)
	require.ErrorIs(t, err, auth.ErrUnknownKey, "each dev issuer has its own key")

	post, err := http.Post(srv.URL+auth.JWKSPath, "application/json", nil)
	require.NoError(t, err)
	require.NoError(t, post.Body.Close())
	require.Equal(t, http.StatusMethodNotAllowed, post.StatusCode)
}

func TestHMACIssuerTokensPassAnHMACVerifier(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef-local")
	_, err := auth.NewHMACIssuer(secret[:10], "", "")
	require.ErrorIs(t, err, auth.ErrInvalidConfig)

	iss, err := auth.NewHMACIssuer(secret, "https://issuer.example/", "streamer")
	require.NoError(t, err)
	v, err := auth.NewVerifier(t.Context(), auth.Config{HMACSecret: secret, Issuer: "https://issuer.example/", Audience: "streamer"})
	require.NoError(t, err)
	tok, err := iss.Mint("alice", "acme", time.Minute)
	require.NoError(t, err)
	id, err := v.Verify(t.Context(), tok)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	require.Equal(t, "acme", id.TenantID)

	expired, err := iss.Mint("alice", "acme", -time.Hour)
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), expired)
	require.ErrorIs(t, err, auth.ErrTokenExpired)

	other, err := auth.NewHMACIssuer([]byte("another-secret-another-secret-1234"), "https://issuer.example/", "streamer")
	require.NoError(t, err)
	forged, err := other.Mint("alice", "acme", time.Minute)
	require.NoError(t, err)
	_, err = v.Verify(t.Context(), forged)
	require.ErrorIs(t, err, auth.ErrBadSignature)
}
