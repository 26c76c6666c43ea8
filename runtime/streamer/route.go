package streamer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// MaxIDLength is the longest request id a client may choose.
const MaxIDLength = 128

// pongBody is the answer to streamer.ping.
const pongBody = `{"type":"pong"}`

// Route handles one $default event: it parses the frame, checks it, and runs, queues or
// answers it as PROTOCOL.md says. The reply (ack, result, error, status or pong) is the
// body of the returned response, which API Gateway hands to the client as the route
// response. The error is always nil: every failure is an error message to the client.
// The body is empty only when a synchronous result was too large for one message and was
// sent in parts through the router's ConnectionSender instead.
func (r *DefaultRouter) Route(ctx context.Context, e events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: r.route(ctx, r.table.Load(), &e)}, nil
}

// route returns the reply body for one event.
func (r *DefaultRouter) route(ctx context.Context, t *routing, e *events.APIGatewayWebsocketProxyRequest) string {
	text, frame, ferr := frameText(e)
	if ferr != nil {
		return t.errorBody("", ferr)
	}
	var msg ClientMessage
	if err := parseFrame(text, frame, &msg); err != nil {
		return t.errorBody(readableID(msg.ID), NewErrorWithDetails(ErrCodeValidation,
			"message must be a JSON object with a string action, an optional string id and an optional payload",
			map[string]any{"field": "message"}))
	}
	if msg.ID != "" && !ValidID(msg.ID) {
		return t.errorBody("", NewErrorWithDetails(ErrCodeValidation,
			"id must be at most 128 characters of A-Z a-z 0-9 . _ : -", map[string]any{"field": "id"}))
	}
	if msg.Action == "" {
		return t.errorBody(msg.ID, NewErrorWithDetails(ErrCodeValidation, "action required", map[string]any{"field": "action"}))
	}
	owner, ok := identity(e.RequestContext.Authorizer)
	if !ok {
		return t.errorBody(msg.ID, NewError(ErrCodeUnauthorized, "no verified identity on this connection"))
	}
	if string(msg.Payload) == "null" {
		msg.Payload = nil
	}
	if strings.HasPrefix(msg.Action, ReservedPrefix) {
		return r.system(ctx, t, e.RequestContext.ConnectionID, owner, &msg)
	}
	rt, ok := t.routes[msg.Action]
	if !ok {
		return t.errorBody(msg.ID, unknownAction(msg.Action))
	}
	if msg.ID == "" {
		msg.ID = rand.Text()
	}
	req := &Request{
		ID:           msg.ID,
		ConnectionID: e.RequestContext.ConnectionID,
		UserID:       owner.UserID,
		TenantID:     owner.TenantID,
		Action:       msg.Action,
		Payload:      msg.Payload,
		Timestamp:    time.Now(),
	}
	async, err := t.check(ctx, rt.handler, req)
	switch {
	case errors.Is(err, ErrPanic):
		return t.errorBody(req.ID, t.clientError(ctx, req, err))
	case err != nil:
		return t.errorBody(req.ID, validationError(err))
	case async:
		return r.enqueue(ctx, t, owner, req)
	}
	return r.runSync(ctx, t, rt, req)
}

// check validates the request and reports whether it runs asynchronously. A panic in the
// handler's Validate or EstimatedDuration becomes an error wrapping ErrPanic.
func (t *routing) check(ctx context.Context, h Handler, req *Request) (async bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			async, err = false, recovered(ctx, t.logger, req, p)
		}
	}()
	if err := h.Validate(req); err != nil {
		return false, err
	}
	return h.EstimatedDuration() > t.asyncThreshold, nil
}

// unknownAction is the error for an action nobody handles. It names the action when the
// name is short enough to echo.
func unknownAction(action string) *Error {
	if len(action) > MaxIDLength {
		return NewError(ErrCodeInvalidAction, "unknown action")
	}
	return NewErrorWithDetails(ErrCodeInvalidAction, "unknown action", map[string]any{"action": action})
}

// frameText returns the frame's JSON text as a string and as bytes of its own, refusing
// frames over the message limit.
func frameText(e *events.APIGatewayWebsocketProxyRequest) (string, []byte, *Error) {
	text := e.Body
	if e.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			return "", nil, NewErrorWithDetails(ErrCodeValidation, "binary frame is not valid base64", map[string]any{"field": "message"})
		}
		text = string(decoded)
	}
	if len(text) > contract.MaxMessageBytes {
		return "", nil, NewErrorWithDetails(ErrCodePayloadTooLarge, "message over the 128 KiB limit",
			map[string]any{"size_bytes": len(text), "limit_bytes": contract.MaxMessageBytes})
	}
	return text, []byte(text), nil
}

// ValidID reports whether id is a valid client request id: 1 to 128 characters of
// [A-Za-z0-9._:-].
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// readableID returns id when it is a valid request id, else "": an error reply never
// echoes an id the client could not have used.
func readableID(id string) string {
	if ValidID(id) {
		return id
	}
	return ""
}

// identity reads the verified user and tenant from the authorizer context. API Gateway
// delivers it as a JSON object (map[string]any once decoded); in-process callers may
// pass map[string]string. An identity containing '#' is refused: it would make scoped
// request ids of two owners collide.
func identity(authorizer any) (store.Owner, bool) {
	var o store.Owner
	switch m := authorizer.(type) {
	case map[string]any:
		o.UserID, _ = m[contract.AuthUserID].(string)
		o.TenantID, _ = m[contract.AuthTenantID].(string)
	case map[string]string:
		o.UserID, o.TenantID = m[contract.AuthUserID], m[contract.AuthTenantID]
	}
	ok := o.UserID != "" && o.TenantID != "" && !strings.Contains(o.UserID, "#") && !strings.Contains(o.TenantID, "#")
	return o, ok
}

// validationError turns a Validate failure into a protocol error: a *Error as is (less
// the details of an INTERNAL_ERROR), any other error a VALIDATION_ERROR carrying its
// text (Validate speaks to the client).
func validationError(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return redacted(se)
	}
	return NewError(ErrCodeValidation, err.Error())
}

// syncCall carries one synchronous run between Route and the goroutine running it. It
// is pooled: Route returns it to the pool once the run has reported on done.
type syncCall struct {
	done chan struct{} // buffered (1): the run never blocks, even after Route gave up
	res  *Result
	err  error
}

// exec runs the request and reports on done; a panic (in middleware: handler panics are
// already errors) becomes an error too, so the process survives.
func (c *syncCall) exec(ctx context.Context, logger *slog.Logger, run ProcessFunc, req *Request) {
	defer func() {
		if p := recover(); p != nil {
			c.res, c.err = nil, recovered(ctx, logger, req, p)
		}
		c.done <- struct{}{}
	}()
	c.res, c.err = run(ctx, req)
}

// runWithin runs the request with ctx bounded by budget. It returns at the budget even
// if the handler ignores ctx; the handler then finishes in the background.
func (r *DefaultRouter) runWithin(ctx context.Context, t *routing, run ProcessFunc, req *Request) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, t.syncBudget)
	defer cancel()
	c := r.calls.Get().(*syncCall)
	go c.exec(ctx, t.logger, run, req)
	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done:
		default:
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, NewErrorWithDetails(ErrCodeTimeout, "the action did not finish in time",
					map[string]any{"budget_ms": t.syncBudget.Milliseconds()})
			}
			return nil, NewError(ErrCodeServiceUnavail, "the request was interrupted")
		}
	}
	res, err := c.res, c.err
	c.res, c.err = nil, nil
	r.calls.Put(c)
	return res, err
}

// runSync runs a synchronous request and returns its result or error reply.
func (r *DefaultRouter) runSync(ctx context.Context, t *routing, rt route, req *Request) string {
	res, err := r.runWithin(ctx, t, rt.run, req)
	if err == nil && res != nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return t.errorBody(req.ID, t.clientError(ctx, req, err))
	}
	msg := &ResultMessage{
		Type:       TypeResult,
		RequestID:  req.ID,
		Action:     req.Action,
		Success:    true,
		DurationMS: time.Since(req.Timestamp).Milliseconds(),
	}
	if res != nil {
		data, err := marshalData(res.Data)
		if err != nil {
			return t.errorBody(req.ID, t.clientError(ctx, req, err))
		}
		msg.Data, msg.Metadata = data, res.Metadata
	}
	body, err := resultBody(msg, rt.quotedAction)
	if err != nil {
		return t.errorBody(req.ID, t.clientError(ctx, req, err))
	}
	if len(body) > contract.MaxMessageBytes {
		if err := r.sendLarge(ctx, t, req.ConnectionID, msg); err != nil {
			return t.errorBody(req.ID, err)
		}
		return ""
	}
	return body
}

// marshalData returns the JSON of a result's data; json.RawMessage is taken as is.
func marshalData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return d, nil
	}
	return json.Marshal(data)
}

// clientError turns a handler failure into the error the client sees. An INTERNAL_ERROR
// is logged with its cause and sent without details.
func (t *routing) clientError(ctx context.Context, req *Request, err error) *Error {
	se := AsError(err)
	if se.Code != ErrCodeInternalError {
		return se
	}
	if !errors.Is(err, ErrPanic) { // a panic was logged, with its stack, where it was recovered
		t.logger.LogAttrs(ctx, slog.LevelError, "handler failed",
			slog.String("request_id", req.ID), slog.String("action", req.Action), slog.String("error", err.Error()),
			slog.Any("details", se.Details))
	}
	return redacted(se)
}

// sendLarge sends a result too large for a route response through the connection
// sender, which splits it into parts.
func (r *DefaultRouter) sendLarge(ctx context.Context, t *routing, connectionID string, msg *ResultMessage) *Error {
	if r.connections == nil {
		return NewError(ErrCodePayloadTooLarge, "result over the 128 KiB message limit")
	}
	if err := r.connections.Send(ctx, connectionID, msg); err != nil {
		t.logger.LogAttrs(ctx, slog.LevelError, "sending a large result failed",
			slog.String("request_id", msg.RequestID), slog.String("connection_id", connectionID), slog.String("error", err.Error()))
		return NewError(ErrCodeServiceUnavail, "the result could not be delivered")
	}
	return nil
}

// enqueue queues an async request and returns the ack, or the existing request's status
// when the id was used before.
func (r *DefaultRouter) enqueue(ctx context.Context, t *routing, owner store.Owner, req *Request) string {
	if r.queue == nil {
		return t.errorBody(req.ID, t.unavailable(ctx, req.ID, errors.New("streamer: no request queue configured")))
	}
	err := r.queue.Enqueue(ctx, &store.AsyncRequest{
		RequestID:    store.ScopedID(owner.TenantID, owner.UserID, req.ID),
		ClientID:     req.ID,
		ConnectionID: req.ConnectionID,
		Status:       store.StatusPending,
		Action:       req.Action,
		Payload:      req.Payload,
		MaxAttempts:  t.maxAttempts,
		UserID:       owner.UserID,
		TenantID:     owner.TenantID,
	})
	var dup *store.DuplicateError
	switch {
	case err == nil:
		return t.marshal(&AckMessage{Type: TypeAck, RequestID: req.ID, Action: req.Action, Status: string(store.StatusPending)})
	case errors.As(err, &dup):
		existing := dup.Existing
		if existing.ConnectionID != req.ConnectionID && !existing.Status.Terminal() {
			// The client resent from a new connection (a reconnect): its progress follows it.
			if rebound, err := r.queue.Rebind(ctx, owner, req.ID, req.ConnectionID); err == nil {
				existing = rebound
			} else {
				t.logger.LogAttrs(ctx, slog.LevelWarn, "rebinding a resent request failed",
					slog.String("request_id", req.ID), slog.String("error", err.Error()))
			}
		}
		return r.statusBody(ctx, t, req.ConnectionID, req.ID, existing)
	case errors.Is(err, store.ErrTooLarge):
		return t.errorBody(req.ID, NewErrorWithDetails(ErrCodePayloadTooLarge, "payload over the stored item limit",
			map[string]any{"field": "payload", "limit_bytes": contract.MaxItemBytes}))
	default:
		return t.errorBody(req.ID, t.unavailable(ctx, req.ID, err))
	}
}

// unavailable logs a store failure and returns the retryable error the client sees.
func (t *routing) unavailable(ctx context.Context, requestID string, err error) *Error {
	t.logger.LogAttrs(ctx, slog.LevelWarn, "request queue failed",
		slog.String("request_id", requestID), slog.String("error", err.Error()))
	return NewError(ErrCodeServiceUnavail, "the request queue is unavailable, retry later")
}

// errorBody returns the JSON of an error message. Details that cannot be marshalled are
// dropped rather than failing the reply.
func (t *routing) errorBody(requestID string, se *Error) string {
	body, err := json.Marshal(NewErrorMessage(requestID, se))
	if err != nil {
		plain := *se
		plain.Details = nil
		return t.marshal(NewErrorMessage(requestID, &plain))
	}
	return string(body)
}

// marshal returns the JSON of a reply whose fields always marshal (strings, numbers,
// and JSON taken from the store or validated by the decoder).
func (t *routing) marshal(v any) string {
	body, err := json.Marshal(v)
	if err != nil {
		t.logger.Error("marshalling a reply failed", slog.String("error", err.Error()))
		return `{"type":"error","request_id":"","error":{"code":"INTERNAL_ERROR","message":"internal error","retry":{"retryable":true}}}`
	}
	return string(body)
}
