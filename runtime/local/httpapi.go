package local

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/auth"
)

// Dev token defaults and bounds of GET /dev/token.
const (
	// DefaultDevUser and DefaultDevTenant are the identity of a dev token when the request
	// names none.
	DefaultDevUser   = "demo-user"
	DefaultDevTenant = "demo"
	// DefaultDevTokenTTL is the lifetime of a dev token when the request gives none.
	DefaultDevTokenTTL = time.Hour
	maxDevTokenTTL     = 7 * 24 * time.Hour
)

//go:embed web
var webFiles embed.FS

// TokenResponse is the body of GET /dev/token.
type TokenResponse struct {
	Token     string    `json:"token"`
	UserID    string    `json:"user_id"`
	TenantID  string    `json:"tenant_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// routes returns the stack's HTTP handler: the WebSocket API and demo page on /, the
// page's client library, the @connections API, the JWKS, the dev token endpoint, health
// and metrics.
func (s *Stack) routes() http.Handler {
	mux := http.NewServeMux()
	page, _ := fs.Sub(webFiles, "web") // the embedded directory always exists
	static := http.FileServerFS(page)
	upgrade := func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "Service Unavailable"})
			return
		}
		s.gw.ServeHTTP(w, r)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			upgrade(w, r)
			return
		}
		static.ServeHTTP(w, r)
	})
	mux.Handle("GET /streamer-client.js", static) // the page's client: the browser build of clients/typescript
	mux.HandleFunc("GET /"+s.cfg.Stage, upgrade)  // the AWS URL shape: wss://host/stage
	(&connectionsAPI{g: s.gw}).register(mux)
	mux.Handle("GET "+auth.JWKSPath, s.issuer.JWKSHandler())
	mux.HandleFunc("GET /dev/token", s.devToken)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /metrics", s.metrics)
	return mux
}

// devToken mints a token the stack accepts: ?user=&tenant=&ttl= (a Go duration; a
// negative one gives an expired token). Local only: whoever reaches it gets any identity.
func (s *Stack) devToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, tenant := q.Get("user"), q.Get("tenant")
	if user == "" {
		user = DefaultDevUser
	}
	if tenant == "" {
		tenant = DefaultDevTenant
	}
	ttl := DefaultDevTokenTTL
	if v := q.Get("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d > maxDevTokenTTL || d < -maxDevTokenTTL {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "ttl must be a Go duration within 168h, e.g. 1h or -5m"})
			return
		}
		ttl = d
	}
	tok, err := s.issuer.Mint(user, tenant, ttl)
	if err != nil {
		s.cfg.Logger.Error("dev token", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "could not mint a token"})
		return
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok, UserID: user, TenantID: tenant, ExpiresAt: time.Now().Add(ttl).Truncate(time.Second)})
}

func (s *Stack) healthz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Stack) metrics(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Metrics())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
