package local

import (
	"context"
	"fmt"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/store"
)

// functions builds the Lambda handlers from the App exactly as they run in AWS, over
// local dependencies: the counting stores, a connection manager whose SDK client posts
// to this stack's @connections API (kept in s.manager for Metrics), a verifier that
// reads this stack's JWKS over HTTP, and the in-process worker invokers of the processor
// and of the router's direct dispatch (nil: none). The HTTP server must be serving (the
// verifier fetches the JWKS at once).
func (s *Stack) functions(ctx context.Context, conns store.ConnectionStore, reqs lambdas.Queue, limits store.LimitTable, inv *workerInvoker, dispatch executor.Invoker) (*lambdas.Functions, error) {
	verifier, err := auth.NewVerifier(ctx, s.issuer.Config(s.JWKSURL()))
	if err != nil {
		return nil, fmt.Errorf("local: verifier: %w", err)
	}
	s.manager = connection.NewManager(conns, connection.NewAPIClient(s.awsConfig(), s.CallbackURL()), connection.Options{MaxMessageBytes: s.cfg.MaxMessageBytes})
	fns, err := s.cfg.App.Functions(lambdas.Deps{
		Connections: conns,
		Requests:    reqs,
		Limits:      limits,
		Sender:      s.manager,
		Verifier:    verifier,
		Invoker:     inv,
		Dispatch:    dispatch,
		Logger:      s.cfg.Logger,
		CallbackURL: s.CallbackURL(),
	})
	if err != nil {
		return nil, fmt.Errorf("local: build the functions: %w", err)
	}
	return fns, nil
}
