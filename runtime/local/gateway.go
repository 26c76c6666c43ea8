package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Close codes and the limits of reading one message.
const (
	closeReasonGoingAway = "Going away"
	// writeTimeout bounds one write to a client; a client that does not read for that
	// long is disconnected (API Gateway's equivalent is LimitExceededException).
	writeTimeout = 10 * time.Second
	// closeGrace is how long a server-initiated close waits for the client's close frame.
	closeGrace = time.Second
	// drainLimit: a message is read (and answered PAYLOAD_TOO_LARGE) up to this size;
	// beyond it the connection is closed with 1009, as API Gateway does.
	drainLimit = 8 * protocol.MaxMessageBytes
)

// gatewayMessage is the body API Gateway itself sends when an integration fails.
type gatewayMessage struct {
	Message      string `json:"message"`
	ConnectionID string `json:"connectionId"`
	RequestID    string `json:"requestId"`
}

// wsConn is one client connection of the emulated API.
type wsConn struct {
	id          string
	ws          *websocket.Conn
	connectedAt time.Time
	sourceIP    string
	userAgent   string
	authorizer  map[string]any // requestContext.authorizer of every event

	lastActive atomic.Int64 // Unix nanoseconds of the last message either way
	closeCode  atomic.Int64 // set when the server closes the connection
	pending    atomic.Int64 // bytes of posts waiting to be written (or being written)
	writeMu    sync.Mutex
}

// errBacklog is a post refused because too much is waiting to be written to its
// connection already.
var errBacklog = errors.New("local: too many bytes waiting to be written to the connection")

// writeQueued is write for a post from @connections: refused with errBacklog when it
// would take the bytes waiting for the connection over limit.
func (c *wsConn) writeQueued(data []byte, limit int) error {
	n := int64(len(data))
	if c.pending.Add(n) > int64(limit) {
		c.pending.Add(-n)
		return errBacklog
	}
	defer c.pending.Add(-n)
	return c.write(data)
}

// write sends one text message, serialised with the connection's other writes.
func (c *wsConn) write(data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return err
	}
	c.lastActive.Store(time.Now().UnixNano())
	return nil
}

// close starts a server-initiated close: a close frame with code, then the read loop
// ends when the client answers or after closeGrace.
func (c *wsConn) close(code int, reason string) {
	if !c.closeCode.CompareAndSwap(0, int64(code)) {
		return
	}
	deadline := time.Now().Add(closeGrace)
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	_ = c.ws.SetReadDeadline(deadline)
}

// wsHandler is a Lambda function behind a route, as the gateway calls it.
type wsHandler = func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// authHandler is a Lambda REQUEST authorizer, as the gateway calls it.
type authHandler = func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// apiRoute is one route of the WebSocket API and its Lambda proxy integration.
type apiRoute struct {
	// function names the integration's function in counters and logs.
	function string
	// handler invokes it; nil when the route has no integration.
	handler wsHandler
	// timeout is the function's timeout.
	timeout time.Duration
	// response: the route has a route response, so the integration's reply goes to the
	// client; without one API Gateway drops it.
	response bool
}

// apiAuthorizer is the $connect route's Lambda REQUEST authorizer.
type apiAuthorizer struct {
	function string
	handler  authHandler
	timeout  time.Duration
	// identity is the identity source: a $connect without it is answered 401 before the
	// authorizer runs.
	identity []string
}

// webSocketAPI is what the gateway serves: its routes (by route key), the route
// selection expression, the authorizer of $connect, and the stage's throttling.
type webSocketAPI struct {
	routes map[string]apiRoute
	// selectionField is the body field the route selection expression
	// ($request.body.<field>) reads; "" routes every message to $default.
	selectionField string
	authorizer     *apiAuthorizer
	// throttle limits connects and messages (the stage's rate and burst); nil: none.
	throttle *tokenBucket
}

// gateway emulates an API Gateway WebSocket API: route selection, the routes' Lambda
// proxy integrations, a Lambda REQUEST authorizer on $connect, route responses and the
// stage's throttling.
type gateway struct {
	api      apiIdentity
	cfg      *Config
	rt       *lambdaRuntime
	base     context.Context // the stack's lifetime; invocations derive from it
	log      *slog.Logger
	m        *counters
	ws       *webSocketAPI // set before the stack is ready
	upgrader websocket.Upgrader

	mu      sync.Mutex
	conns   map[string]*wsConn
	closing bool
	loops   sync.WaitGroup // connection read loops and their message routing
	// opening counts the upgrades under way: shutdown waits for them, so a client that
	// has its connection is always among those shutdown closes.
	opening sync.WaitGroup
}

// lookup returns an open connection.
func (g *gateway) lookup(id string) (*wsConn, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.conns[id]
	return c, ok
}

// openOf returns the open connections of user in tenant (the identity the authorizer
// verified), oldest first; an empty user or tenant matches any.
func (g *gateway) openOf(user, tenant string) []*wsConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*wsConn
	for _, c := range g.conns {
		if (user == "" || c.authorizer[contract.AuthUserID] == user) && (tenant == "" || c.authorizer[contract.AuthTenantID] == tenant) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *wsConn) int { return a.connectedAt.Compare(b.connectedAt) })
	return out
}

// openAge returns the summed age of the open connections, for connection minutes.
func (g *gateway) openAge(now time.Time) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var total int64
	for _, c := range g.conns {
		total += int64(now.Sub(c.connectedAt))
	}
	return total
}

// ServeHTTP handles a WebSocket upgrade: the identity source check, the authorizer, then
// $connect, then the upgrade; a refusal is an HTTP error and no connection is made.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	closing := g.closing
	if !closing {
		g.opening.Add(1)
	}
	g.mu.Unlock()
	if closing {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": http.StatusText(http.StatusServiceUnavailable)})
		return
	}
	defer g.opening.Done()
	if !websocket.IsWebSocketUpgrade(r) {
		writeJSON(w, http.StatusUpgradeRequired, map[string]string{"message": "WebSocket upgrade required"})
		return
	}
	log := g.log.With("remote", r.RemoteAddr)
	if !g.ws.throttle.allow() {
		g.refuse(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	now := time.Now()
	c := &wsConn{
		id:          randomID(),
		connectedAt: now,
		sourceIP:    sourceIP(r),
		userAgent:   r.UserAgent(),
	}
	if a := g.ws.authorizer; a != nil {
		if !hasIdentity(r, a.identity) {
			g.refuse(w, http.StatusUnauthorized, http.StatusText(http.StatusUnauthorized))
			return
		}
		authResp, err := invoke(g.base, g.rt, a.function, a.timeout, g.cfg.IntegrationTimeout, a.handler, g.api.authorizerRequest(r, randomID()))
		switch {
		case isUnauthorized(err):
			g.refuse(w, http.StatusUnauthorized, http.StatusText(http.StatusUnauthorized))
			return
		case err != nil:
			log.Error("authorizer failed", "error", err)
			g.refuse(w, http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError))
			return
		case !allows(authResp, g.api.methodARN(routeConnect)):
			g.refuse(w, http.StatusForbidden, http.StatusText(http.StatusForbidden))
			return
		}
		c.authorizer = authorizerContext(authResp)
	}

	if rt, ok := g.ws.routes[routeConnect]; ok && rt.handler != nil {
		ev := g.api.wsEvent(c, routeConnect, eventConnect, "", now)
		ev.MultiValueHeaders = map[string][]string(r.Header.Clone())
		ev.Headers = singleValues(ev.MultiValueHeaders)
		ev.MultiValueQueryStringParameters = map[string][]string(r.URL.Query())
		ev.QueryStringParameters = singleValues(ev.MultiValueQueryStringParameters)
		resp, err := invoke(g.base, g.rt, rt.function, rt.timeout, g.cfg.IntegrationTimeout, rt.handler, ev)
		if err != nil || resp.StatusCode >= 300 {
			log.Warn("$connect refused the connection", "connection_id", c.id, "status", resp.StatusCode, "error", err)
			status := cmpStatus(resp.StatusCode, err)
			g.refuse(w, status, http.StatusText(status))
			return
		}
	}

	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the client; undo the connection $connect recorded.
		log.Warn("websocket upgrade failed", "error", err)
		g.m.rejected.Add(1)
		g.callDisconnect(c, websocket.CloseAbnormalClosure, "upgrade failed")
		return
	}
	c.ws = ws
	c.lastActive.Store(now.UnixNano())
	ws.SetReadLimit(drainLimit)

	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, closeReasonGoingAway), time.Now().Add(closeGrace))
		_ = ws.Close()
		g.callDisconnect(c, websocket.CloseGoingAway, closeReasonGoingAway)
		return
	}
	g.conns[c.id] = c
	g.loops.Add(1)
	g.mu.Unlock()
	g.m.connects.Add(1)
	g.m.open.Add(1)
	go g.serve(c)
}

// isUnauthorized reports the authorizer failure API Gateway answers with 401: the
// function's error message is exactly "Unauthorized" (in process, auth.ErrUnauthorized).
func isUnauthorized(err error) bool {
	var fe *FunctionError
	return errors.Is(err, auth.ErrUnauthorized) || (errors.As(err, &fe) && fe.Message == auth.ErrUnauthorized.Error())
}

// cmpStatus is the HTTP status of a refused $connect: the function's own status, or 500
// when it failed.
func cmpStatus(status int, err error) int {
	if err != nil || status < 400 {
		return http.StatusInternalServerError
	}
	return status
}

// refuse answers a refused upgrade with status and API Gateway's {"message": ...} body.
func (g *gateway) refuse(w http.ResponseWriter, status int, message string) {
	g.m.rejected.Add(1)
	writeJSON(w, status, map[string]string{"message": message})
}

// connReader is the reading state the goroutines of one connection hand on to each
// other.
type connReader struct {
	buf     bytes.Buffer
	routing sync.WaitGroup // messages being routed
	slots   chan struct{}  // one per message being routed, at most MaxRoutingPerConnection
}

// message is one client message for the $default route.
type message struct {
	body     string
	binary   bool // a binary frame: body is its base64
	received time.Time
}

// serve reads the connection's messages until it closes, routing each one, then runs
// $disconnect.
func (g *gateway) serve(c *wsConn) {
	g.read(c, &connReader{slots: make(chan struct{}, g.cfg.MaxRoutingPerConnection)})
}

// read reads the connection's next message, hands the reading on to a new goroutine and
// routes the message itself: one connection's messages are routed concurrently, as in
// API Gateway, and routing starts at once instead of waiting for a goroutine to be
// scheduled. The goroutine that meets the end of the connection runs finish.
//
// A message takes a slot before it is read and gives it back when its reply is written:
// with every slot taken the connection is not read at all, so a client that sends
// faster than it reads its replies fills its TCP window and is held back, instead of
// the gateway buffering what it sends.
func (g *gateway) read(c *wsConn, rd *connReader) {
	rd.slots <- struct{}{}
	m, err := g.next(c, &rd.buf)
	if err != nil {
		<-rd.slots
		g.finish(c, rd, err)
		return
	}
	rd.routing.Add(1)
	go g.read(c, rd)
	wait(g.base, g.cfg.Latency.APIGateway)
	g.route(c, m, func() {
		<-rd.slots
		rd.routing.Done()
	})
}

// finish ends a connection whose reading failed with err: it closes it, waits for its
// messages' routing, then runs $disconnect.
func (g *gateway) finish(c *wsConn, rd *connReader, err error) {
	defer g.loops.Done()
	code, reason := g.ended(c, err)
	g.mu.Lock()
	delete(g.conns, c.id)
	g.mu.Unlock()
	_ = c.ws.Close()
	rd.routing.Wait()
	g.m.open.Add(-1)
	g.m.disconnects.Add(1)
	g.m.closedConnNS.Add(int64(time.Since(c.connectedAt)))
	g.callDisconnect(c, code, reason)
}

// next reads until the next message to route, answering messages over the limit
// itself. Its error is the one that ended the connection.
func (g *gateway) next(c *wsConn, buf *bytes.Buffer) (message, error) {
	for {
		now := time.Now()
		deadline := now.Add(g.cfg.IdleTimeout)
		if end := c.connectedAt.Add(g.cfg.MaxConnectionDuration); end.Before(deadline) {
			deadline = end
		}
		if c.closeCode.Load() == 0 {
			_ = c.ws.SetReadDeadline(deadline)
			if c.closeCode.Load() != 0 { // a close raced with the line above: keep its grace
				_ = c.ws.SetReadDeadline(now.Add(closeGrace))
			}
		}
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return message{}, err
		}
		buf.Reset()
		n, err := buf.ReadFrom(io.LimitReader(r, int64(g.cfg.MaxMessageBytes)+1))
		if err == nil && n > int64(g.cfg.MaxMessageBytes) {
			var rest int64
			rest, err = io.Copy(io.Discard, r)
			n += rest
		}
		if err != nil {
			return message{}, err
		}
		received := time.Now()
		c.lastActive.Store(received.UnixNano())
		g.m.message(true, int(n))
		if n > int64(g.cfg.MaxMessageBytes) {
			g.send(c, tooLarge(buf.Bytes(), n, g.cfg.MaxMessageBytes))
			continue
		}
		m := message{body: buf.String(), binary: mt == websocket.BinaryMessage, received: received}
		if m.binary {
			m.body = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		return m, nil
	}
}

// ended maps the error that ended a read loop to the close code and reason of the
// $disconnect event, closing the connection on a timeout.
func (g *gateway) ended(c *wsConn, err error) (int, string) {
	if code := int(c.closeCode.Load()); code != 0 {
		return code, "closed by the server"
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Text
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// Idle for IdleTimeout, or connected for MaxConnectionDuration.
		c.close(websocket.CloseGoingAway, closeReasonGoingAway)
		return websocket.CloseGoingAway, closeReasonGoingAway
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return websocket.CloseMessageTooBig, "Message too big"
	}
	return websocket.CloseAbnormalClosure, "connection lost"
}

// route runs the route the selection expression picks for one message and writes its
// route response, then calls done. The function runs on the calling goroutine; when it
// overruns the integration timeout, the timeout reply (and done) come from a timer and
// the function's late response is dropped.
func (g *gateway) route(c *wsConn, m message, done func()) {
	key := g.selectRoute(m)
	rt, ok := g.ws.routes[key]
	ev := g.api.wsEvent(c, key, eventMessage, m.body, m.received)
	ev.IsBase64Encoded = m.binary
	ev.RequestContext.MessageID = randomID()
	requestID := ev.RequestContext.RequestID
	switch {
	case !g.ws.throttle.allow():
		g.sendJSON(c, gatewayMessage{Message: "Too Many Requests", ConnectionID: c.id, RequestID: requestID})
		done()
		return
	case !ok || rt.handler == nil:
		// No route for the message (and no $default): API Gateway's own answer.
		g.sendJSON(c, gatewayMessage{Message: "Forbidden", ConnectionID: c.id, RequestID: requestID})
		done()
		return
	}
	invokeThen(g.base, g.rt, rt.function, rt.timeout, g.cfg.IntegrationTimeout,
		func(resp events.APIGatewayProxyResponse, err error) {
			defer done()
			g.respond(c, requestID, rt, resp, err)
		}, inline, rt.handler, ev)
}

// selectRoute evaluates the route selection expression on a message: the route named by
// the body's selection field when the API has one, else $default.
func (g *gateway) selectRoute(m message) string {
	if g.ws.selectionField == "" || m.binary {
		return routeDefault
	}
	var body map[string]json.RawMessage
	if json.Unmarshal([]byte(m.body), &body) != nil {
		return routeDefault
	}
	var key string
	if json.Unmarshal(body[g.ws.selectionField], &key) == nil && key != "" {
		if _, ok := g.ws.routes[key]; ok {
			return key
		}
	}
	return routeDefault
}

// respond writes the route response of one message, or API Gateway's own error when the
// function failed.
func (g *gateway) respond(c *wsConn, requestID string, rt apiRoute, resp events.APIGatewayProxyResponse, err error) {
	switch {
	case errors.Is(err, ErrIntegrationTimeout), errors.Is(err, ErrFunctionTimeout):
		g.m.integrationTimeouts.Add(1)
		g.sendJSON(c, gatewayMessage{Message: "Endpoint request timed out", ConnectionID: c.id, RequestID: requestID})
	case err != nil:
		g.log.Error("integration failed", "function", rt.function, "connection_id", c.id, "error", err)
		g.sendJSON(c, gatewayMessage{Message: "Internal server error", ConnectionID: c.id, RequestID: requestID})
	case rt.response && resp.Body != "":
		wait(g.base, g.cfg.Latency.APIGateway)
		g.send(c, []byte(resp.Body))
	}
}

// tooLarge is the reply to a message over the limit: the error the router gives for it
// (PAYLOAD_TOO_LARGE), with the client's id when the start of the message shows it.
func tooLarge(prefix []byte, size int64, limit int) []byte {
	msg := protocol.NewErrorMessage(peekID(prefix), streamer.NewErrorWithDetails(streamer.ErrCodePayloadTooLarge,
		"message over the 128 KiB limit", map[string]any{"size_bytes": size, "limit_bytes": limit}))
	b, _ := json.Marshal(msg) // an ErrorMessage of plain values always marshals
	return b
}

// peekID returns the top-level "id" of a JSON object from the start of its text, or ""
// when the prefix does not show a valid one before it ends.
func peekID(prefix []byte) string {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if k, ok := key.(string); ok && k == "id" {
			v, err := dec.Token()
			if s, ok := v.(string); ok && err == nil && protocol.ValidID(s) {
				return s
			}
			return ""
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
}

func (g *gateway) sendJSON(c *wsConn, v any) {
	b, _ := json.Marshal(v) // gatewayMessage always marshals
	g.send(c, b)
}

// send writes a message API Gateway originates (a route response or its own error) and
// closes a connection that cannot take it.
func (g *gateway) send(c *wsConn, data []byte) {
	if err := g.post(c, data); err != nil {
		g.log.Warn("write to client failed", "connection_id", c.id, "error", err)
	}
}

// post writes one server-to-client message; a failed write closes the connection.
func (g *gateway) post(c *wsConn, data []byte) error {
	return g.written(c, data, c.write(data))
}

// postQueued writes one @connections post, unless too many bytes wait for the
// connection already (errBacklog: the connection stays open).
func (g *gateway) postQueued(c *wsConn, data []byte) error {
	err := c.writeQueued(data, g.cfg.MaxPendingWriteBytes)
	if errors.Is(err, errBacklog) {
		return err
	}
	return g.written(c, data, err)
}

// written counts a message written to c, or closes c after a failed write.
func (g *gateway) written(c *wsConn, data []byte, err error) error {
	if err != nil {
		c.close(websocket.CloseGoingAway, closeReasonGoingAway)
		return err
	}
	g.m.message(false, len(data))
	return nil
}

// callDisconnect runs the $disconnect route; its outcome cannot reach the client.
func (g *gateway) callDisconnect(c *wsConn, code int, reason string) {
	ev := g.api.wsEvent(c, routeDisconnect, eventDisconnect, "", time.Now())
	ev.RequestContext.DisconnectStatusCode = int64(code)
	ev.RequestContext.DisconnectReason = &reason
	rt, ok := g.ws.routes[routeDisconnect]
	if !ok || rt.handler == nil {
		return
	}
	if _, err := invoke(g.base, g.rt, rt.function, rt.timeout, g.cfg.IntegrationTimeout, rt.handler, ev); err != nil {
		g.log.Warn("$disconnect failed", "connection_id", c.id, "error", err)
	}
}

// shutdown refuses new connections and closes the open ones with 1001 (Going away),
// waiting until their $disconnect ran or ctx ends.
func (g *gateway) shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	if err := waitGroup(ctx, &g.opening); err != nil {
		return err
	}
	g.mu.Lock()
	open := make([]*wsConn, 0, len(g.conns))
	for _, c := range g.conns {
		open = append(open, c)
	}
	g.mu.Unlock()
	for _, c := range open {
		c.close(websocket.CloseGoingAway, closeReasonGoingAway)
	}
	return waitGroup(ctx, &g.loops)
}
