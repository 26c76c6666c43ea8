package streamer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// Standard error codes (PROTOCOL.md), under the names handlers use.
const (
	ErrCodeValidation      = protocol.CodeValidation      // payload or message invalid
	ErrCodeInvalidAction   = protocol.CodeInvalidAction   // unknown action
	ErrCodeNotFound        = protocol.CodeNotFound        // no such request (for this user)
	ErrCodeUnauthorized    = protocol.CodeUnauthorized    // bad token
	ErrCodeForbidden       = protocol.CodeForbidden       // not yours
	ErrCodePayloadTooLarge = protocol.CodePayloadTooLarge // over the message or item limit
	ErrCodeRateLimited     = protocol.CodeRateLimited     // throttled
	ErrCodeTimeout         = protocol.CodeTimeout         // ran out of time
	ErrCodeInternalError   = protocol.CodeInternalError   // unexpected; details are logged, not sent
	ErrCodeServiceUnavail  = protocol.CodeServiceUnavail  // a dependency is down
	ErrCodeCancelled       = protocol.CodeCancelled       // cancelled by the client
)

// Error is a protocol error: a code, a message for people, optional details and retry
// information (protocol.Error). Return one from a handler to tell the client what went
// wrong; it works with errors.As.
type Error = protocol.Error

// RetryInfo tells the client whether and when a failed request may be retried.
type RetryInfo = protocol.RetryInfo

// NewError returns an error with a code and a message.
func NewError(code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// NewErrorf is NewError with a formatted message.
func NewErrorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewErrorWithDetails returns an error with a code, a message and details.
func NewErrorWithDetails(code, message string, details map[string]any) *Error {
	return &Error{Code: code, Message: message, Details: details}
}

// NewRetryableError returns an error the client may retry after retryAfter: its retry
// information carries both the time (after) and the wait (retry_after_ms).
func NewRetryableError(code, message string, retryAfter time.Duration) *Error {
	return &Error{
		Code:    code,
		Message: message,
		Retry:   protocol.RetryAfter(time.Now(), retryAfter),
	}
}

// InvalidField returns the VALIDATION_ERROR for one field of the payload: message for
// the client, and details {"field": field}. Validate methods return it.
func InvalidField(field, message string) *Error {
	return &Error{Code: ErrCodeValidation, Message: message, Details: map[string]any{"field": field}}
}

// AsError converts any error to a *Error: a *Error in err's chain is returned as is,
// context deadlines become TIMEOUT, cancellations CANCELLED, and anything else
// INTERNAL_ERROR with a generic message (the original is for logs, never for clients).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return NewError(ErrCodeTimeout, "the operation ran out of time")
	case errors.Is(err, context.Canceled):
		return NewError(ErrCodeCancelled, "the operation was cancelled")
	}
	return NewError(ErrCodeInternalError, "internal error")
}
