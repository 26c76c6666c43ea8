package local

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/internal/apigw"
)

// connectionsAPI serves the API Gateway Management API (@connections) for the emulated
// WebSocket API: what the AWS SDK's apigatewaymanagementapi client sends. Requests are
// not signature-checked: only loopback requests are answered (loopbackOnly).
type connectionsAPI struct {
	g *gateway
}

func (a *connectionsAPI) gone(w http.ResponseWriter) {
	a.g.m.connAPI.add(APIGoneException, 1)
	apigw.WriteError(w, http.StatusGone, "GoneException", "")
}

// open returns the connection the request's path names, or answers 410 GoneException
// when it is not open.
func (a *connectionsAPI) open(w http.ResponseWriter, r *http.Request) (*wsConn, bool) {
	c, ok := a.g.lookup(r.PathValue("id"))
	if !ok {
		a.gone(w)
	}
	return c, ok
}

// post is PostToConnection: the body goes to the client as one message.
func (a *connectionsAPI) post(w http.ResponseWriter, r *http.Request) {
	a.g.m.connAPI.add(APIPostToConnection, 1)
	limit := a.g.cfg.MaxMessageBytes
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		apigw.WriteError(w, http.StatusBadRequest, "BadRequestException", "could not read the body")
		return
	}
	if len(data) > limit {
		a.g.m.connAPI.add(APIPayloadTooLarge, 1)
		apigw.WriteError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Request entity too large")
		return
	}
	c, ok := a.open(w, r)
	if !ok {
		return
	}
	wait(r.Context(), a.g.cfg.Latency.APIGateway)
	if err := a.g.postQueued(c, data); err != nil {
		if errors.Is(err, errBacklog) {
			a.g.m.connAPI.add(APILimitExceeded, 1)
			apigw.WriteError(w, http.StatusTooManyRequests, "LimitExceededException", "the client is not reading its messages")
			return
		}
		a.gone(w)
		return
	}
	a.g.m.connAPI.add(APIPostedBytes, int64(len(data)))
	w.WriteHeader(http.StatusOK)
}

// connectionInfo is GetConnection's response body.
type connectionInfo struct {
	ConnectedAt  time.Time          `json:"connectedAt"`
	Identity     connectionIdentity `json:"identity"`
	LastActiveAt time.Time          `json:"lastActiveAt"`
}

type connectionIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// get is GetConnection.
func (a *connectionsAPI) get(w http.ResponseWriter, r *http.Request) {
	a.g.m.connAPI.add(APIGetConnection, 1)
	c, ok := a.open(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(connectionInfo{
		ConnectedAt:  c.connectedAt.UTC(),
		Identity:     connectionIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		LastActiveAt: time.Unix(0, c.lastActive.Load()).UTC(),
	})
}

// delete is DeleteConnection: the client is disconnected (1000) and $disconnect runs.
func (a *connectionsAPI) delete(w http.ResponseWriter, r *http.Request) {
	a.g.m.connAPI.add(APIDeleteConnection, 1)
	c, ok := a.open(w, r)
	if !ok {
		return
	}
	c.close(websocket.CloseNormalClosure, "")
	w.WriteHeader(http.StatusNoContent)
}

// register adds the API's routes to mux, each wrapped in guard.
func (a *connectionsAPI) register(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle("POST /@connections/{id}", guard(http.HandlerFunc(a.post)))
	mux.Handle("GET /@connections/{id}", guard(http.HandlerFunc(a.get)))
	mux.Handle("DELETE /@connections/{id}", guard(http.HandlerFunc(a.delete)))
}
