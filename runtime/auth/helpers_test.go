package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"
)

const (
	testIssuer   = "https://idp.example.test"
	testAudience = "streamer"
)

// signingKey is a private JWK with its kid and algorithm.
type signingKey struct {
	priv jwk.Key
	alg  jwa.SignatureAlgorithm
}

func (k signingKey) public(t testing.TB) jwk.Key {
	t.Helper()
	pub, err := jwk.PublicKeyOf(k.priv)
	require.NoError(t, err)
	return pub
}

func newKey(t testing.TB, alg jwa.SignatureAlgorithm, kid string) signingKey {
	t.Helper()
	var (
		raw any
		err error
	)
	switch alg {
	case jwa.RS256, jwa.RS384:
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	case jwa.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jwa.EdDSA:
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key generator for %s", alg)
	}
	require.NoError(t, err)
	k, err := jwk.FromRaw(raw)
	require.NoError(t, err)
	require.NoError(t, k.Set(jwk.KeyIDKey, kid))
	return signingKey{priv: k, alg: alg}
}

// claims returns a valid claim set for user u1 in tenant acme.
func claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":       testIssuer,
		"aud":       testAudience,
		"sub":       "u1",
		"tenant_id": "acme",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	}
}

// sign builds a token from the claims with key, as an identity provider would.
func sign(t testing.TB, key signingKey, c map[string]any) string {
	t.Helper()
	tok := jwt.New()
	for name, v := range c {
		require.NoError(t, tok.Set(name, v))
	}
	out, err := jwt.Sign(tok, jwt.WithKey(key.alg, key.priv))
	require.NoError(t, err)
	return string(out)
}

// signRaw signs payload with an arbitrary header, the way an attacker would.
func signRaw(t testing.TB, alg jwa.SignatureAlgorithm, key any, header map[string]any, c map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(c)
	require.NoError(t, err)
	hdr := jws.NewHeaders()
	for name, v := range header {
		require.NoError(t, hdr.Set(name, v))
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	require.NoError(t, err)
	return string(out)
}

// jwksServer is a real HTTP JWKS endpoint whose key set can change and whose hits are
// counted.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	keys   []jwk.Key
	status int
}

func newJWKSServer(t testing.TB, keys ...jwk.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		set := jwk.NewSet()
		for _, k := range s.keys {
			if err := set.AddKey(k); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...jwk.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}
