package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/auth"
)

// FuzzVerify feeds arbitrary tokens to a verifier: it must refuse them with an
// ErrInvalidToken and never panic.
func FuzzVerify(f *testing.F) {
	secret := []byte(strings.Repeat("k", auth.MinHMACSecretBytes))
	valid := signRaw(f, jwa.HS256, secret, nil, claims())
	for _, seed := range []string{"", ".", "..", "a.b.c", valid, valid[:len(valid)-3], "eyJhbGciOiJub25lIn0.e30.", strings.ReplaceAll(valid, ".", "..")} {
		f.Add(seed)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{HMACSecret: secret})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err == nil {
			require.NotEmpty(t, id.UserID)
			require.NotEmpty(t, id.TenantID)
			return
		}
		require.ErrorIs(t, err, auth.ErrInvalidToken)
	})
}
