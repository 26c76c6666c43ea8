package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/streamer-go/streamer/runtime/local"
)

// fetchToken asks the local stack at baseURL for a dev token.
func fetchToken(ctx context.Context, baseURL, user, tenant string, ttl time.Duration) (*local.TokenResponse, error) {
	q := url.Values{"user": {user}, "tenant": {tenant}, "ttl": {ttl.String()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+"/dev/token?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("bad --url: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is `streamer local` running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return nil, fmt.Errorf("%s answered %s: %s", baseURL, resp.Status, body.Message)
	}
	var tok local.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return nil, fmt.Errorf("decode the token response: %w", err)
	}
	return &tok, nil
}

// runToken implements `streamer token`.
func runToken(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "token", "token [--url http://127.0.0.1:8080] [--user U] [--tenant T] [--ttl 1h]")
	base := fs.String("url", "http://"+local.DefaultAddr, "the local stack's HTTP URL")
	user := fs.String("user", local.DefaultDevUser, "the token's user (sub)")
	tenant := fs.String("tenant", local.DefaultDevTenant, "the token's tenant_id")
	ttl := fs.Duration("ttl", local.DefaultDevTokenTTL, "lifetime; negative gives an expired token (below -30s to be refused, past the verifier's leeway)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || *user == "" || *tenant == "" {
		fs.Usage()
		return exitUsage
	}
	tok, err := fetchToken(ctx, *base, *user, *tenant, *ttl)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer token:", err)
		return exitError
	}
	fmt.Fprintln(e.stdout, tok.Token)
	return exitOK
}
