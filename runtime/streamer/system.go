package streamer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/store"
)

// systemPayload is the payload of streamer.status and streamer.cancel.
type systemPayload struct {
	ID string `json:"id"`
}

// system answers the reserved actions. The owner comes from the authorizer context, so a
// request of another tenant or user is NOT_FOUND, as a missing one.
func (r *DefaultRouter) system(ctx context.Context, t *routing, connectionID string, owner store.Owner, msg *ClientMessage) string {
	if msg.Action == ActionPing {
		return pongBody
	}
	if msg.Action != ActionStatus && msg.Action != ActionCancel {
		return t.errorBody(msg.ID, unknownAction(msg.Action))
	}
	var p systemPayload
	if len(msg.Payload) == 0 || json.Unmarshal(msg.Payload, &p) != nil || !ValidID(p.ID) {
		return t.errorBody(readableID(p.ID), NewErrorWithDetails(ErrCodeValidation,
			msg.Action+" needs payload {\"id\": \"<request id>\"}", map[string]any{"field": "payload.id"}))
	}
	if r.queue == nil {
		return t.errorBody(p.ID, t.unavailable(ctx, p.ID, errors.New("streamer: no request queue configured")))
	}
	var (
		req       *store.AsyncRequest
		cancelled bool
		err       error
	)
	if msg.Action == ActionStatus {
		req, err = r.queue.Rebind(ctx, owner, p.ID, connectionID)
	} else {
		req, cancelled, err = r.queue.RequestCancel(ctx, owner, p.ID, t.cancelledJSON)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return t.errorBody(p.ID, NewError(ErrCodeNotFound, "no such request"))
	case err != nil:
		return t.errorBody(p.ID, t.unavailable(ctx, p.ID, err))
	}
	if cancelled && r.connections != nil {
		return r.cancelledBody(ctx, t, connectionID, p.ID, req)
	}
	return r.statusBody(ctx, t, connectionID, p.ID, req)
}

// cancelledBody answers a streamer.cancel that ended a pending request. No worker will
// run that request, so the router sends its one terminal message: the status answer goes
// first through the connection sender, and the terminal CANCELLED error is the route
// response, which API Gateway delivers after everything the function sent. If the status
// cannot be sent, the client still gets the terminal error, and a later streamer.status
// reads the stored CANCELLED state.
func (r *DefaultRouter) cancelledBody(ctx context.Context, t *routing, connectionID, clientID string, req *store.AsyncRequest) string {
	if err := r.connections.Send(ctx, connectionID, newStatusMessage(clientID, req)); err != nil {
		t.logger.LogAttrs(ctx, slog.LevelWarn, "sending the status of a cancelled request failed",
			slog.String("request_id", clientID), slog.String("connection_id", connectionID), slog.String("error", err.Error()))
	}
	return t.marshal(NewErrorMessage(clientID, cancelledError()))
}

// statusBody returns the status message of a stored request. A completed request whose
// result does not fit in one message gets a status without the result, after the result
// itself was sent through the connection sender in parts, as a result message.
func (r *DefaultRouter) statusBody(ctx context.Context, t *routing, connectionID, clientID string, req *store.AsyncRequest) string {
	msg := newStatusMessage(clientID, req)
	body := t.marshal(msg)
	if len(body) <= contract.MaxMessageBytes || msg.Result == nil {
		return body
	}
	large := &ResultMessage{
		Type:       TypeResult,
		RequestID:  clientID,
		Action:     req.Action,
		Success:    true,
		Data:       msg.Result,
		DurationMS: req.EndedAt.Sub(req.StartedAt).Milliseconds(),
	}
	if err := r.sendLarge(ctx, t, connectionID, large); err != nil {
		return t.errorBody(clientID, err)
	}
	msg.Result = nil
	return t.marshal(msg)
}

// newStatusMessage describes a stored request: its status and progress, its result when
// COMPLETED, its error when FAILED or CANCELLED.
func newStatusMessage(clientID string, req *store.AsyncRequest) *StatusMessage {
	msg := &StatusMessage{
		Type:       TypeStatus,
		RequestID:  clientID,
		Status:     string(req.Status),
		Percentage: req.Progress,
		Message:    req.ProgressMessage,
	}
	switch req.Status {
	case store.StatusCompleted:
		if json.Valid(req.Result) {
			msg.Result = req.Result
		}
	case store.StatusFailed, store.StatusCancelled:
		msg.Error = storedError(req)
	}
	return msg
}

// storedError decodes the error stored with a finished request; a missing or unreadable
// one is described by the status alone.
func storedError(req *store.AsyncRequest) *Error {
	var se Error
	if json.Unmarshal(req.Error, &se) == nil && se.Code != "" {
		return redacted(&se).WireError()
	}
	if req.Status == store.StatusCancelled {
		return cancelledError().WireError()
	}
	return NewError(ErrCodeInternalError, "the request failed").WireError()
}

// cancelledError is the error of a request the client cancelled.
func cancelledError() *Error { return NewError(ErrCodeCancelled, "cancelled by the client") }

// redacted returns se as a client may see it: an INTERNAL_ERROR loses its details, which
// are for logs only.
func redacted(se *Error) *Error {
	if se.Code != ErrCodeInternalError || se.Details == nil {
		return se
	}
	return &Error{Code: se.Code, Message: se.Message, Retry: se.Retry}
}
