package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrUnreachable is wrapped by the errors of DevToken and DevConnections when nothing
// answers at the stack's URL.
var ErrUnreachable = errors.New("local: stack unreachable")

// devHTTP bounds one request to a local stack's dev endpoints.
var devHTTP = &http.Client{Timeout: 10 * time.Second}

// DevToken asks the local stack at baseURL (its HTTP URL, e.g. http://127.0.0.1:8080) for
// a dev token for user in tenant, valid for ttl (negative: already expired): GET
// /dev/token, what `streamer token --url` prints.
func DevToken(ctx context.Context, baseURL, user, tenant string, ttl time.Duration) (*TokenResponse, error) {
	var tok TokenResponse
	q := url.Values{"user": {user}, "tenant": {tenant}, "ttl": {ttl.String()}}
	if err := devGet(ctx, baseURL, "/dev/token", q, &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

// DevConnections lists the open connections of user in tenant on the local stack at
// baseURL, oldest first: GET /dev/connections. Dropping one through the @connections API
// (DELETE baseURL/@connections/{id}) disconnects the client as API Gateway does.
func DevConnections(ctx context.Context, baseURL, user, tenant string) ([]ConnectionInfo, error) {
	var resp ConnectionsResponse
	if err := devGet(ctx, baseURL, "/dev/connections", url.Values{"user": {user}, "tenant": {tenant}}, &resp); err != nil {
		return nil, err
	}
	return resp.Connections, nil
}

// devGet GETs path with query q from the stack at baseURL and decodes its JSON body into v.
func devGet(ctx context.Context, baseURL, path string, q url.Values, v any) error {
	target := strings.TrimSuffix(baseURL, "/") + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("local: bad stack URL %q: %w", baseURL, err)
	}
	resp, err := devHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return fmt.Errorf("local: GET %s: %s: %s", path, resp.Status, body.Message)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("local: GET %s: decode the answer: %w", path, err)
	}
	return nil
}
