package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// maxJWKSBytes caps the JWKS response body read.
const maxJWKSBytes = 1 << 20

// errRefreshRateLimited is returned by refresh when the previous fetch was too recent.
var errRefreshRateLimited = errors.New("auth: JWKS refresh rate-limited")

// jwksCache holds the keys of one JWKS URL. NewVerifier loads it once; later fetches are
// rate-limited (at most one per minInterval) and deduplicated: concurrent callers share
// the fetch in flight.
type jwksCache struct {
	url         string
	client      *http.Client
	maxAge      time.Duration
	minInterval time.Duration
	now         func() time.Time

	mu          sync.Mutex
	keys        map[string][]verificationKey // by kid
	fetchedAt   time.Time                    // last successful fetch
	attemptedAt time.Time                    // last fetch, successful or not
	inflight    *jwksFetch
}

// jwksFetch is one fetch in flight; done is closed when err is set.
type jwksFetch struct {
	done chan struct{}
	err  error
}

func newJWKSCache(cfg Config) *jwksCache {
	return &jwksCache{
		url:         cfg.JWKSURL,
		client:      cfg.HTTPClient,
		maxAge:      cfg.JWKSRefreshInterval,
		minInterval: cfg.JWKSMinRefreshInterval,
		now:         cfg.Now,
	}
}

// lookup returns the keys published under kid, refetching the set when it is older than
// maxAge or when kid is unknown (both subject to the rate limit). A stale set stays in use
// when a refetch fails: an identity provider outage does not lock every client out.
func (c *jwksCache) lookup(ctx context.Context, kid string) ([]verificationKey, error) {
	keys, stale := c.snapshot()
	if stale {
		_ = c.refresh(ctx) // on failure the stale keys are the best there is
		keys, _ = c.snapshot()
	}
	if found, ok := keys[kid]; ok {
		return found, nil
	}
	switch err := c.refresh(ctx); {
	case errors.Is(err, errRefreshRateLimited):
		return nil, fmt.Errorf("%w: kid %q (JWKS refresh rate-limited)", ErrUnknownKey, kid)
	case err != nil:
		return nil, err
	}
	keys, _ = c.snapshot()
	if found, ok := keys[kid]; ok {
		return found, nil
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
}

func (c *jwksCache) snapshot() (keys map[string][]verificationKey, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys, c.now().Sub(c.fetchedAt) >= c.maxAge
}

// refresh fetches the set unless a fetch started less than minInterval ago (then it
// returns errRefreshRateLimited) or joins the fetch in flight.
func (c *jwksCache) refresh(ctx context.Context) error {
	c.mu.Lock()
	if f := c.inflight; f != nil {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrJWKSUnavailable, ctx.Err())
		}
	}
	now := c.now()
	if !c.attemptedAt.IsZero() && now.Sub(c.attemptedAt) < c.minInterval {
		c.mu.Unlock()
		return errRefreshRateLimited
	}
	f := &jwksFetch{done: make(chan struct{})}
	c.inflight = f
	c.attemptedAt = now
	c.mu.Unlock()

	// The fetch is shared by every waiter, so the first caller's cancellation must not
	// fail it for the others; the HTTP client's timeout bounds it instead.
	keys, err := c.fetch(context.WithoutCancel(ctx))

	c.mu.Lock()
	if err == nil {
		c.keys, c.fetchedAt = keys, now
	}
	c.inflight = nil
	f.err = err
	close(f.done)
	c.mu.Unlock()
	return err
}

// fetch downloads and indexes the set. Keys of kinds outside the allow-list are dropped.
func (c *jwksCache) fetch(ctx context.Context) (map[string][]verificationKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKSUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKSUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %d", ErrJWKSUnavailable, c.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJWKSUnavailable, err)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: parse: %v", ErrJWKSUnavailable, err)
	}
	keys := make(map[string][]verificationKey, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid := k.KeyID()
		if kid == "" {
			continue
		}
		if vk, ok := publicVerificationKey(k); ok {
			keys[kid] = append(keys[kid], vk)
		}
	}
	return keys, nil
}
