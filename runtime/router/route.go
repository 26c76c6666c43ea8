package router

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// pongBody is the answer to streamer.ping.
const pongBody = `{"type":"pong"}`

// Route handles one $default event: it parses the frame, checks it, and runs, queues or
// answers it as PROTOCOL.md says. The reply (ack, result, error, status or pong) is the
// body of the returned response, which API Gateway hands to the client as the route
// response. The error is always nil: every failure is an error message to the client.
// The body is empty only when a synchronous result was too large for one message and was
// sent in parts through the router's Sender instead.
// The body is always valid UTF-8: a byte sequence that is not (a handler's raw JSON)
// becomes U+FFFD, as a WebSocket text message must be UTF-8.
func (r *Router) Route(ctx context.Context, e events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	body := r.route(ctx, &e)
	if !utf8.ValidString(body) {
		body = strings.ToValidUTF8(body, "\uFFFD")
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: body}, nil
}

// route returns the reply body for one event.
func (r *Router) route(ctx context.Context, e *events.APIGatewayWebsocketProxyRequest) string {
	text, ferr := frameText(e)
	if ferr != nil {
		return r.errorBody("", ferr)
	}
	var msg protocol.ClientMessage
	if err := protocol.ParseFrame(text, &msg); err != nil {
		return r.errorBody(readableID(msg.ID), streamer.InvalidField("message",
			"message must be a JSON object with a string action, an optional string id and an optional payload"))
	}
	if msg.ID != "" && !protocol.ValidID(msg.ID) {
		return r.errorBody("", streamer.InvalidField("id", "id must be at most 128 characters of A-Z a-z 0-9 . _ : -"))
	}
	if msg.Action == "" {
		return r.errorBody(msg.ID, streamer.InvalidField("action", "action required"))
	}
	owner, ok := identity(e.RequestContext.Authorizer)
	if !ok {
		return r.errorBody(msg.ID, streamer.NewError(streamer.ErrCodeUnauthorized, "no verified identity on this connection"))
	}
	if string(msg.Payload) == "null" {
		msg.Payload = nil
	}
	if strings.HasPrefix(msg.Action, protocol.ReservedPrefix) {
		return r.system(ctx, e.RequestContext.ConnectionID, owner, &msg)
	}
	h, ok := r.registry.Lookup(msg.Action)
	if !ok {
		return r.errorBody(msg.ID, streamer.UnknownAction(msg.Action))
	}
	if msg.ID == "" {
		msg.ID = rand.Text()
	}
	req := &streamer.Request{
		ID:           msg.ID,
		ConnectionID: e.RequestContext.ConnectionID,
		UserID:       owner.UserID,
		TenantID:     owner.TenantID,
		Action:       msg.Action,
		Payload:      msg.Payload,
		Timestamp:    time.Now(),
	}
	async, err := r.check(h, req)
	switch {
	case err != nil && errors.Is(err, streamer.ErrPanic):
		r.logPanic(ctx, req, err)
		return r.errorBody(req.ID, r.clientError(ctx, req, err))
	case err != nil:
		return r.errorBody(req.ID, validationError(err))
	case async:
		return r.enqueue(ctx, owner, req)
	}
	return r.runSync(ctx, req)
}

// check validates the request and reports whether it runs asynchronously. A panic in the
// handler's Validate or EstimatedDuration becomes a *streamer.PanicError.
func (r *Router) check(h streamer.Handler, req *streamer.Request) (async bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			async, err = false, streamer.Recovered(p)
		}
	}()
	if err := h.Validate(req); err != nil {
		return false, err
	}
	return streamer.RunsAsync(h, r.opts.AsyncThreshold), nil
}

// frameText returns the frame's JSON text, refusing frames over the message limit and
// text that is not UTF-8 (JSON must be; a browser closes a connection that sends it such
// a text message, 1007).
func frameText(e *events.APIGatewayWebsocketProxyRequest) (string, *streamer.Error) {
	text := e.Body
	if e.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			return "", streamer.InvalidField("message", "binary frame is not valid base64")
		}
		text = string(decoded)
	}
	if len(text) > protocol.MaxMessageBytes {
		return "", streamer.NewErrorWithDetails(streamer.ErrCodePayloadTooLarge, "message over the 128 KiB limit",
			map[string]any{"size_bytes": len(text), "limit_bytes": protocol.MaxMessageBytes})
	}
	if !utf8.ValidString(text) {
		return "", streamer.InvalidField("message", "message is not valid UTF-8")
	}
	return text, nil
}

// readableID returns id when it is a valid request id, else "": an error reply never
// echoes an id the client could not have used.
func readableID(id string) string {
	if protocol.ValidID(id) {
		return id
	}
	return ""
}

// identity reads the verified user and tenant from the authorizer context. API Gateway
// delivers it as a JSON object (map[string]any once decoded); in-process callers may
// pass map[string]string. An identity the store cannot key (store.CheckOwner: empty,
// too long, containing '#', which would make scoped request ids of two owners collide)
// is refused; the authorizer refuses it at $connect already.
func identity(authorizer any) (store.Owner, bool) {
	var o store.Owner
	switch m := authorizer.(type) {
	case map[string]any:
		o.UserID, _ = m[contract.AuthUserID].(string)
		o.TenantID, _ = m[contract.AuthTenantID].(string)
	case map[string]string:
		o.UserID, o.TenantID = m[contract.AuthUserID], m[contract.AuthTenantID]
	}
	return o, store.CheckOwner(o) == nil
}

// validationError turns a Validate failure into a protocol error: a *streamer.Error as
// is (less the details of an INTERNAL_ERROR), any other error a VALIDATION_ERROR
// carrying its text (Validate speaks to the client).
func validationError(err error) *streamer.Error {
	var se *streamer.Error
	if errors.As(err, &se) {
		return redacted(se)
	}
	return streamer.NewError(streamer.ErrCodeValidation, err.Error())
}

// syncCall carries one synchronous run between Route and the goroutine running it. It
// is pooled: Route returns it to the pool once the run has reported on done.
type syncCall struct {
	done chan struct{} // buffered (1): the run never blocks, even after Route gave up
	res  *streamer.Result
	err  error
}

// exec runs the request and reports on c.done. A panic (in middleware: the registry
// already turns handler panics into errors) becomes an error too, so the process
// survives; either is logged with its stack here, even when Route has stopped waiting.
func (r *Router) exec(ctx context.Context, c *syncCall, req *streamer.Request) {
	defer func() {
		if p := recover(); p != nil {
			c.res, c.err = nil, streamer.Recovered(p)
		}
		if c.err != nil && errors.Is(c.err, streamer.ErrPanic) {
			r.logPanic(ctx, req, c.err)
		}
		c.done <- struct{}{}
	}()
	c.res, c.err = r.run(ctx, req)
}

// runWithin runs the request with ctx bounded by the sync budget. It returns at the
// budget even if the handler ignores ctx; the handler then finishes in the background.
func (r *Router) runWithin(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.SyncBudget)
	defer cancel()
	c := r.calls.Get().(*syncCall)
	go r.exec(ctx, c, req)
	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done:
		default:
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, streamer.NewErrorWithDetails(streamer.ErrCodeTimeout, "the action did not finish in time",
					map[string]any{"budget_ms": r.opts.SyncBudget.Milliseconds()})
			}
			return nil, streamer.NewError(streamer.ErrCodeServiceUnavail, "the request was interrupted")
		}
	}
	res, err := c.res, c.err
	c.res, c.err = nil, nil
	r.calls.Put(c)
	return res, err
}

// runSync runs a synchronous request and returns its result or error reply.
func (r *Router) runSync(ctx context.Context, req *streamer.Request) string {
	res, err := r.runWithin(ctx, req)
	if err == nil && res != nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return r.errorBody(req.ID, r.clientError(ctx, req, err))
	}
	msg := &protocol.ResultMessage{
		Type:       protocol.TypeResult,
		RequestID:  req.ID,
		Action:     req.Action,
		Success:    true,
		DurationMS: time.Since(req.Timestamp).Milliseconds(),
	}
	if res != nil {
		data, err := marshalData(res.Data)
		if err != nil {
			return r.errorBody(req.ID, r.clientError(ctx, req, err))
		}
		msg.Data, msg.Metadata = data, res.Metadata
	}
	body, err := protocol.EncodeResult(msg)
	if err != nil {
		return r.errorBody(req.ID, r.clientError(ctx, req, err))
	}
	if len(body) > protocol.MaxMessageBytes {
		if err := r.sendLarge(ctx, req.ConnectionID, msg); err != nil {
			return r.errorBody(req.ID, err)
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
func (r *Router) clientError(ctx context.Context, req *streamer.Request, err error) *streamer.Error {
	se := streamer.AsError(err)
	if se.Code != streamer.ErrCodeInternalError {
		return se
	}
	if !errors.Is(err, streamer.ErrPanic) { // a panic was logged, with its stack, where it was recovered
		r.opts.Logger.LogAttrs(ctx, slog.LevelError, "handler failed",
			slog.String("request_id", req.ID), slog.String("action", req.Action), slog.String("error", err.Error()),
			slog.Any("details", se.Details))
	}
	return redacted(se)
}

// sendLarge sends a result too large for a route response through the sender, which
// splits it into parts.
func (r *Router) sendLarge(ctx context.Context, connectionID string, msg *protocol.ResultMessage) *streamer.Error {
	if r.sender == nil {
		return streamer.NewError(streamer.ErrCodePayloadTooLarge, "result over the 128 KiB message limit")
	}
	if err := r.sender.Send(ctx, connectionID, msg); err != nil {
		r.opts.Logger.LogAttrs(ctx, slog.LevelError, "sending a large result failed",
			slog.String("request_id", msg.RequestID), slog.String("connection_id", connectionID), slog.String("error", err.Error()))
		return streamer.NewError(streamer.ErrCodeServiceUnavail, "the result could not be delivered")
	}
	return nil
}

// enqueue queues an async request and returns the ack, or the existing request's status
// when the id was used before, or RATE_LIMITED when the limiter refuses it.
func (r *Router) enqueue(ctx context.Context, owner store.Owner, req *streamer.Request) string {
	if r.queue == nil {
		return r.errorBody(req.ID, r.unavailable(ctx, req.ID, errors.New("router: no request queue configured")))
	}
	if r.opts.Limiter != nil {
		a, err := r.opts.Limiter.Admit(ctx, owner, req.ID)
		switch {
		case err != nil:
			return r.errorBody(req.ID, r.unavailable(ctx, req.ID, fmt.Errorf("router: limits: %w", err)))
		case !a.Admitted:
			return r.errorBody(req.ID, rateLimited(a))
		}
	}
	requestID := store.ScopedID(owner.TenantID, owner.UserID, req.ID)
	err := r.queue.Enqueue(ctx, &store.AsyncRequest{
		RequestID:    requestID,
		ClientID:     req.ID,
		ConnectionID: req.ConnectionID,
		Status:       store.StatusPending,
		Action:       req.Action,
		Payload:      req.Payload,
		MaxAttempts:  r.opts.MaxAttempts,
		UserID:       owner.UserID,
		TenantID:     owner.TenantID,
	})
	var dup *store.DuplicateError
	switch {
	case err == nil:
		r.dispatch(ctx, requestID, req.ID)
		return r.marshal(&protocol.AckMessage{Type: protocol.TypeAck, RequestID: req.ID, Action: req.Action, Status: protocol.StatusPending})
	case errors.As(err, &dup):
		existing := dup.Existing
		if existing.ConnectionID != req.ConnectionID && !existing.Status.Terminal() {
			// The client resent from a new connection (a reconnect): its progress follows it.
			if rebound, err := r.queue.Rebind(ctx, owner, req.ID, req.ConnectionID); err == nil {
				existing = rebound
			} else {
				r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "rebinding a resent request failed",
					slog.String("request_id", req.ID), slog.String("error", err.Error()))
			}
		}
		return r.statusBody(ctx, req.ConnectionID, req.ID, existing)
	case errors.Is(err, store.ErrTooLarge):
		return r.errorBody(req.ID, streamer.NewErrorWithDetails(streamer.ErrCodePayloadTooLarge, "payload over the stored item limit",
			map[string]any{"field": "payload", "limit_bytes": contract.MaxItemBytes}))
	default:
		return r.errorBody(req.ID, r.unavailable(ctx, req.ID, err))
	}
}

// rateLimited is the error of a refused admission: retryable, with the wait, and which
// limit refused it in details (limit, max).
func rateLimited(a store.Admission) *streamer.Error {
	var msg string
	switch a.Limit {
	case store.LimitUserRate:
		msg = fmt.Sprintf("too many new requests for this user (%g a second)", a.Max)
	case store.LimitTenantRate:
		msg = fmt.Sprintf("too many new requests for this tenant (%g a second)", a.Max)
	case store.LimitUserInFlight:
		msg = fmt.Sprintf("too many requests in flight for this user (limit %g)", a.Max)
	case store.LimitTenantInFlight:
		msg = fmt.Sprintf("too many requests in flight for this tenant (limit %g)", a.Max)
	default:
		msg = "too many requests for this tenant at once"
	}
	details := map[string]any{"limit": a.Limit}
	if a.Max > 0 {
		details["max"] = a.Max
	}
	return &streamer.Error{Code: streamer.ErrCodeRateLimited, Message: msg, Details: details, Retry: protocol.RetryAfter(time.Now(), a.RetryAfter)}
}

// dispatch hands a newly queued request to a worker (direct dispatch), waiting at most
// DispatchTimeout. A failure is only logged: the request reaches a worker through the
// stream all the same, and a dispatch that timed out may still have started one (the
// worker's claim dedupes).
func (r *Router) dispatch(ctx context.Context, requestID, clientID string) {
	if r.opts.Dispatcher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.DispatchTimeout)
	defer cancel()
	if err := r.opts.Dispatcher.Dispatch(ctx, requestID); err != nil {
		r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "direct dispatch failed; the stream delivers the request",
			slog.String("request_id", clientID), slog.String("error", err.Error()))
	}
}

// unavailable logs a store failure and returns the retryable error the client sees.
func (r *Router) unavailable(ctx context.Context, requestID string, err error) *streamer.Error {
	r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "request queue failed",
		slog.String("request_id", requestID), slog.String("error", err.Error()))
	return streamer.NewError(streamer.ErrCodeServiceUnavail, "the request queue is unavailable, retry later")
}

// errorBody returns the JSON of an error message. Details that cannot be marshalled are
// dropped rather than failing the reply.
func (r *Router) errorBody(requestID string, se *streamer.Error) string {
	body, err := json.Marshal(protocol.NewErrorMessage(requestID, se))
	if err != nil {
		plain := *se
		plain.Details = nil
		return r.marshal(protocol.NewErrorMessage(requestID, &plain))
	}
	return string(body)
}

// marshal returns the JSON of a reply whose fields always marshal (strings, numbers,
// and JSON taken from the store or validated by the decoder).
func (r *Router) marshal(v any) string {
	body, err := json.Marshal(v)
	if err != nil {
		r.opts.Logger.Error("marshalling a reply failed", slog.String("error", err.Error()))
		return `{"type":"error","request_id":"","error":{"code":"INTERNAL_ERROR","message":"internal error","retry":{"retryable":true}}}`
	}
	return string(body)
}
