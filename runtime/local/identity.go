package local

import (
	"fmt"
	"net/http"
	"strings"
)

// Prefixes of the identity source expressions API Gateway evaluates on a $connect.
const (
	identityQueryPrefix  = "route.request.querystring."
	identityHeaderPrefix = "route.request.header."
)

// checkIdentitySource reports an identity source expression the gateway cannot evaluate.
func checkIdentitySource(sources []string) error {
	for _, src := range sources {
		q, isQuery := strings.CutPrefix(src, identityQueryPrefix)
		h, isHeader := strings.CutPrefix(src, identityHeaderPrefix)
		if (!isQuery || q == "") && (!isHeader || h == "") {
			return fmt.Errorf("%w: identity source %q: want route.request.querystring.<name> or route.request.header.<name>", ErrInvalidConfig, src)
		}
	}
	return nil
}

// hasIdentity reports whether a $connect request carries every identity source, each
// non-empty: without them API Gateway answers 401 and does not invoke the authorizer.
// Header names match case-insensitively, query parameter names exactly.
func hasIdentity(r *http.Request, sources []string) bool {
	query := r.URL.Query()
	for _, src := range sources {
		if name, ok := strings.CutPrefix(src, identityQueryPrefix); ok && query.Get(name) == "" {
			return false
		}
		if name, ok := strings.CutPrefix(src, identityHeaderPrefix); ok && r.Header.Get(name) == "" {
			return false
		}
	}
	return true
}
