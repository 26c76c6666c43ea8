package local

import (
	"cmp"
	"embed"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
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

// ConnectionInfo is one open connection, as GET /dev/connections lists it.
type ConnectionInfo struct {
	// ConnectionID is the id API Gateway gives the connection, the one the @connections
	// API takes.
	ConnectionID string    `json:"connection_id"`
	ConnectedAt  time.Time `json:"connected_at"`
}

// ConnectionsResponse is the body of GET /dev/connections.
type ConnectionsResponse struct {
	// Connections are the open connections of the identity asked for, oldest first.
	Connections []ConnectionInfo `json:"connections"`
}

// routes returns the stack's HTTP handler: the WebSocket API and the page on /, the
// page's client library, the @connections API, the JWKS, the dev token, actions and
// connections endpoints, health and metrics.
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
	(&connectionsAPI{g: s.gw}).register(mux, loopbackOnly)
	if s.issuer != nil {
		mux.Handle("GET "+auth.JWKSPath, s.issuer.JWKSHandler())
	}
	mux.Handle("GET /dev/token", loopbackOnly(http.HandlerFunc(s.devToken)))
	mux.Handle("GET /dev/actions", loopbackOnly(http.HandlerFunc(s.devActions)))
	mux.Handle("GET /dev/connections", loopbackOnly(http.HandlerFunc(s.devConnections)))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", loopbackOnly(http.HandlerFunc(s.metrics)))
	return mux
}

// loopbackOnly guards the dev endpoints (a token for any identity, posts to any
// connection, the counters): it answers only requests from a loopback address to a
// loopback host name. A web page of another site cannot reach them through DNS
// rebinding (its requests carry that site's Host), and with InsecureExposeToNetwork
// nobody else on the network can either.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		peer, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !loopbackHost(host) || !loopbackHost(peer) {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "this development endpoint answers only loopback requests to a loopback host name"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// devToken mints a token the stack accepts: ?user=&tenant=&ttl= (a Go duration; a
// negative one gives an expired token). Local only: whoever reaches it gets any identity.
func (s *Stack) devToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user, tenant := cmp.Or(q.Get("user"), DefaultDevUser), cmp.Or(q.Get("tenant"), DefaultDevTenant)
	if err := store.CheckOwner(store.Owner{TenantID: tenant, UserID: user}); err != nil {
		// The authorizer would refuse the token at $connect.
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": strings.TrimPrefix(err.Error(), "store: ")})
		return
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
	if s.tokens == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"message": errNoMinter.Error()})
		return
	}
	tok, err := s.tokens.Mint(user, tenant, ttl)
	if err != nil {
		s.cfg.Logger.Error("dev token", "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "could not mint a token"})
		return
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: tok, UserID: user, TenantID: tenant, ExpiresAt: time.Now().Add(ttl).Truncate(time.Second)})
}

// Action modes of ActionInfo.
const (
	ModeSync  = "sync"  // runs at once in the router and answers with its result
	ModeAsync = "async" // queued: ack, progress, then the result
)

// ActionInfo describes one registered action, as GET /dev/actions lists it.
type ActionInfo struct {
	// Name is the action name clients send.
	Name string `json:"name"`
	// Mode is ModeSync or ModeAsync: where the router runs it with the App's
	// async threshold (streamer.RunsAsync).
	Mode string `json:"mode"`
	// Example is a sample payload, when the handler offers one
	// (streamer.TypedHandler.WithExample); absent otherwise.
	Example json.RawMessage `json:"example,omitempty"`
}

// ActionsResponse is the body of GET /dev/actions.
type ActionsResponse struct {
	// Actions are the App's actions in name order; system actions (streamer.*) are not
	// listed.
	Actions []ActionInfo `json:"actions"`
}

// Actions describes the actions the stack's App registered.
func (s *Stack) Actions() []ActionInfo {
	app := s.cfg.App
	if app == nil { // template mode: the actions are compiled into the template's functions
		return []ActionInfo{}
	}
	reg := app.Registry()
	threshold := app.AsyncThreshold()
	names := reg.Actions()
	out := make([]ActionInfo, 0, len(names))
	for _, name := range names {
		h, ok := reg.Lookup(name)
		if !ok {
			continue
		}
		info := ActionInfo{Name: name, Mode: ModeSync}
		if streamer.RunsAsync(h, threshold) {
			info.Mode = ModeAsync
		}
		if ex, ok := h.(interface{ Example() json.RawMessage }); ok {
			info.Example = ex.Example()
		}
		out = append(out, info)
	}
	return out
}

// devActions lists the registered actions, for the page's forms and for tools.
func (s *Stack) devActions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ActionsResponse{Actions: s.Actions()})
}

// devConnections lists the open connections of ?user= in ?tenant= (either may be left
// out to match any): what a deployed stack's Connections table and logs tell, so that a
// test can drop a client's socket through the @connections API. Local only.
func (s *Stack) devConnections(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	resp := ConnectionsResponse{Connections: []ConnectionInfo{}}
	for _, c := range s.gw.openOf(q.Get("user"), q.Get("tenant")) {
		resp.Connections = append(resp.Connections, ConnectionInfo{ConnectionID: c.id, ConnectedAt: c.connectedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, resp)
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
