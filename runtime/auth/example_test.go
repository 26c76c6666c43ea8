package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/streamer-go/streamer/runtime/auth"
)

// A dev identity provider publishes its JWKS over HTTP; a verifier configured with that
// URL accepts its tokens and refuses expired ones.
func Example() {
	issuer, err := auth.NewDevIssuer()
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(auth.JWKSPath, issuer.JWKSHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	verifier, err := auth.NewVerifier(ctx, issuer.Config(srv.URL+auth.JWKSPath))
	if err != nil {
		panic(err)
	}

	token, _ := issuer.Mint("alice", "acme", time.Hour)
	id, err := verifier.Verify(ctx, token)
	fmt.Println(id.UserID, id.TenantID, err)

	expired, _ := issuer.Mint("alice", "acme", -time.Hour)
	_, err = verifier.Verify(ctx, expired)
	fmt.Println(errors.Is(err, auth.ErrTokenExpired), errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// alice acme <nil>
	// true true
}
