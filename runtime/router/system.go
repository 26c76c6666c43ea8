package router

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// systemPayload is the payload of streamer.status and streamer.cancel.
type systemPayload struct {
	ID string `json:"id"`
}

// system answers the reserved actions. The owner comes from the authorizer context, so a
// request of another tenant or user is NOT_FOUND, as a missing one.
func (r *Router) system(ctx context.Context, connectionID string, owner store.Owner, msg *protocol.ClientMessage) string {
	if msg.Action == protocol.ActionPing {
		return pongBody
	}
	if msg.Action != protocol.ActionStatus && msg.Action != protocol.ActionCancel {
		return r.errorBody(msg.ID, streamer.UnknownAction(msg.Action))
	}
	var p systemPayload
	if len(msg.Payload) == 0 || json.Unmarshal(msg.Payload, &p) != nil || !protocol.ValidID(p.ID) {
		return r.errorBody(readableID(p.ID), streamer.NewErrorWithDetails(streamer.ErrCodeValidation,
			msg.Action+" needs payload {\"id\": \"<request id>\"}", map[string]any{"field": "payload.id"}))
	}
	if r.queue == nil {
		return r.errorBody(p.ID, r.unavailable(ctx, p.ID, errors.New("router: no request queue configured")))
	}
	var (
		req       *store.AsyncRequest
		cancelled bool
		err       error
	)
	if msg.Action == protocol.ActionStatus {
		req, err = r.queue.Rebind(ctx, owner, p.ID, connectionID)
	} else {
		req, cancelled, err = r.queue.RequestCancel(ctx, owner, p.ID, r.cancelledJSON)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return r.errorBody(p.ID, streamer.NewError(streamer.ErrCodeNotFound, "no such request"))
	case err != nil:
		return r.errorBody(p.ID, r.unavailable(ctx, p.ID, err))
	}
	if cancelled && r.sender != nil {
		return r.cancelledBody(ctx, connectionID, p.ID, req)
	}
	return r.statusBody(ctx, connectionID, p.ID, req)
}

// cancelledBody answers a streamer.cancel that ended a pending request. No worker will
// run that request, so the router sends its one terminal message: the status answer goes
// first through the connection sender, and the terminal CANCELLED error is the route
// response, which API Gateway delivers after everything the function sent. If the status
// cannot be sent, the client still gets the terminal error, and a later streamer.status
// reads the stored CANCELLED state.
func (r *Router) cancelledBody(ctx context.Context, connectionID, clientID string, req *store.AsyncRequest) string {
	if err := r.sender.Send(ctx, connectionID, newStatusMessage(clientID, req)); err != nil {
		r.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "sending the status of a cancelled request failed",
			slog.String("request_id", clientID), slog.String("connection_id", connectionID), slog.String("error", err.Error()))
	}
	return r.marshal(protocol.NewErrorMessage(clientID, cancelledError()))
}

// statusBody returns the status message of a stored request. A completed request whose
// result does not fit in one message gets a status without the result, after the result
// itself was sent through the connection sender in parts, as a result message.
func (r *Router) statusBody(ctx context.Context, connectionID, clientID string, req *store.AsyncRequest) string {
	msg := newStatusMessage(clientID, req)
	body := r.marshal(msg)
	if len(body) <= protocol.MaxMessageBytes || msg.Result == nil {
		return body
	}
	large := &protocol.ResultMessage{
		Type:       protocol.TypeResult,
		RequestID:  clientID,
		Action:     req.Action,
		Success:    true,
		Data:       msg.Result,
		DurationMS: req.EndedAt.Sub(req.StartedAt).Milliseconds(),
	}
	if err := r.sendLarge(ctx, connectionID, large); err != nil {
		return r.errorBody(clientID, err)
	}
	msg.Result = nil
	return r.marshal(msg)
}

// newStatusMessage describes a stored request: its status and progress, its result when
// COMPLETED, its error when FAILED or CANCELLED.
func newStatusMessage(clientID string, req *store.AsyncRequest) *protocol.StatusMessage {
	msg := &protocol.StatusMessage{
		Type:       protocol.TypeStatus,
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
func storedError(req *store.AsyncRequest) *streamer.Error {
	var se streamer.Error
	if json.Unmarshal(req.Error, &se) == nil && se.Code != "" {
		return redacted(&se).WireError()
	}
	if req.Status == store.StatusCancelled {
		return cancelledError().WireError()
	}
	return streamer.NewError(streamer.ErrCodeInternalError, "the request failed").WireError()
}

// cancelledError is the error of a request the client cancelled.
func cancelledError() *streamer.Error {
	return streamer.NewError(streamer.ErrCodeCancelled, "cancelled by the client")
}

// redacted returns se as a client may see it: an INTERNAL_ERROR loses its details, which
// are for logs only.
func redacted(se *streamer.Error) *streamer.Error {
	if se.Code != streamer.ErrCodeInternalError || se.Details == nil {
		return se
	}
	return &streamer.Error{Code: se.Code, Message: se.Message, Retry: se.Retry}
}
