package protocol

import "time"

// Error codes (PROTOCOL.md).
const (
	CodeValidation      = "VALIDATION_ERROR"    // payload or message invalid
	CodeInvalidAction   = "INVALID_ACTION"      // unknown action
	CodeNotFound        = "NOT_FOUND"           // no such request (for this user)
	CodeUnauthorized    = "UNAUTHORIZED"        // bad token
	CodeForbidden       = "FORBIDDEN"           // not yours
	CodePayloadTooLarge = "PAYLOAD_TOO_LARGE"   // over the message or item limit
	CodeRateLimited     = "RATE_LIMITED"        // throttled
	CodeTimeout         = "TIMEOUT"             // ran out of time
	CodeInternalError   = "INTERNAL_ERROR"      // unexpected; details are logged, not sent
	CodeServiceUnavail  = "SERVICE_UNAVAILABLE" // a dependency is down
	CodeCancelled       = "CANCELLED"           // cancelled by the client
)

// Codes lists every error code of PROTOCOL.md.
var Codes = []string{
	CodeValidation, CodeInvalidAction, CodeNotFound, CodeUnauthorized, CodeForbidden,
	CodePayloadTooLarge, CodeRateLimited, CodeTimeout, CodeInternalError, CodeServiceUnavail,
	CodeCancelled,
}

// IsRetryableCode reports whether PROTOCOL.md marks code as retryable.
func IsRetryableCode(code string) bool {
	switch code {
	case CodeRateLimited, CodeTimeout, CodeInternalError, CodeServiceUnavail:
		return true
	}
	return false
}

// Error is a protocol error: a code from the table in PROTOCOL.md, a message for people,
// optional details and retry information. It implements error and works with errors.As.
type Error struct {
	Code    string         `json:"code"`              // one of the Code constants
	Message string         `json:"message"`           // human-readable
	Details map[string]any `json:"details,omitempty"` // additional details
	Retry   *RetryInfo     `json:"retry,omitempty"`   // retry information
}

// RetryInfo tells the client whether and when a failed request may be retried. After and
// AfterMS say the same thing two ways: a time on the server's clock, and a wait that
// needs no clock agreement (clients that know retry_after_ms prefer it; older ones read
// after and ignore it).
type RetryInfo struct {
	Retryable bool      `json:"retryable"`                // whether this error is retryable
	After     time.Time `json:"after,omitzero"`           // when to retry (if retryable)
	AfterMS   int64     `json:"retry_after_ms,omitempty"` // how many milliseconds to wait before retrying
	MaxTries  int       `json:"max_tries,omitempty"`      // maximum number of tries
	Attempt   int       `json:"attempt,omitempty"`        // the attempt that failed
}

// RetryAfter returns retry information for an error the client may retry after wait,
// measured from now: both After and AfterMS (rounded up to a whole millisecond).
func RetryAfter(now time.Time, wait time.Duration) *RetryInfo {
	wait = max(wait, 0)
	ms := int64((wait + time.Millisecond - 1) / time.Millisecond)
	return &RetryInfo{Retryable: true, After: now.Add(wait), AfterMS: ms}
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

// WireError returns the error as sent to a client: the same code, message and details,
// with RetryInfo filled in from the code when it was left out.
func (e *Error) WireError() *Error {
	if e == nil || e.Retry != nil {
		return e
	}
	c := *e
	c.Retry = &RetryInfo{Retryable: IsRetryableCode(e.Code)}
	return &c
}
