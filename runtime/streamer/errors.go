package streamer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Standard error codes (PROTOCOL.md).
const (
	ErrCodeValidation      = "VALIDATION_ERROR"    // payload or message invalid
	ErrCodeInvalidAction   = "INVALID_ACTION"      // unknown action
	ErrCodeNotFound        = "NOT_FOUND"           // no such request (for this user)
	ErrCodeUnauthorized    = "UNAUTHORIZED"        // bad token
	ErrCodeForbidden       = "FORBIDDEN"           // not yours
	ErrCodePayloadTooLarge = "PAYLOAD_TOO_LARGE"   // over the message or item limit
	ErrCodeRateLimited     = "RATE_LIMITED"        // throttled
	ErrCodeTimeout         = "TIMEOUT"             // ran out of time
	ErrCodeInternalError   = "INTERNAL_ERROR"      // unexpected; details are logged, not sent
	ErrCodeServiceUnavail  = "SERVICE_UNAVAILABLE" // a dependency is down
	ErrCodeCancelled       = "CANCELLED"           // cancelled by the client
)

// IsRetryableCode reports whether PROTOCOL.md marks code as retryable.
func IsRetryableCode(code string) bool {
	switch code {
	case ErrCodeRateLimited, ErrCodeTimeout, ErrCodeInternalError, ErrCodeServiceUnavail:
		return true
	}
	return false
}

// Error is a protocol error: a code from the table in PROTOCOL.md, a message for people,
// optional details and retry information. It implements error and works with errors.As.
type Error struct {
	Code    string         `json:"code"`              // one of the ErrCode constants
	Message string         `json:"message"`           // human-readable
	Details map[string]any `json:"details,omitempty"` // additional details
	Retry   *RetryInfo     `json:"retry,omitempty"`   // retry information
}

// RetryInfo tells the client whether and when a failed request may be retried.
type RetryInfo struct {
	Retryable bool      `json:"retryable"`           // whether this error is retryable
	After     time.Time `json:"after,omitzero"`      // when to retry (if retryable)
	MaxTries  int       `json:"max_tries,omitempty"` // maximum number of tries
	Attempt   int       `json:"attempt,omitempty"`   // the attempt that failed
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	return e.Code + ": " + e.Message
}

// Retryable reports whether the error may be retried: its RetryInfo when set, otherwise
// what PROTOCOL.md says of its code.
func (e *Error) Retryable() bool {
	if e == nil {
		return false
	}
	if e.Retry != nil {
		return e.Retry.Retryable
	}
	return IsRetryableCode(e.Code)
}

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

// NewRetryableError returns an error the client may retry after retryAfter.
func NewRetryableError(code, message string, retryAfter time.Duration) *Error {
	return &Error{
		Code:    code,
		Message: message,
		Retry:   &RetryInfo{Retryable: true, After: time.Now().Add(retryAfter)},
	}
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

// WireError returns the error as sent to a client: the same code, message and details,
// with RetryInfo filled in from the code when the handler left it out.
func (e *Error) WireError() *Error {
	if e == nil || e.Retry != nil {
		return e
	}
	c := *e
	c.Retry = &RetryInfo{Retryable: IsRetryableCode(e.Code)}
	return &c
}
