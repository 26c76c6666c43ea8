// Package store defines the durable state of Streamer: connections and async requests,
// their statuses, and the ConnectionStore and RequestQueue interfaces. Package dynamostore
// implements them on DynamoDB, package memstore in memory with the same behaviour, and
// package storetest holds the conformance suite both pass.
//
// Every status change is a conditional write: PENDING -> PROCESSING -> COMPLETED | FAILED
// | CANCELLED, with PROCESSING -> PENDING (attempt+1) for a retryable failure,
// PROCESSING -> PENDING (continuations+1) for a job that goes on in a new invocation, and
// a PROCESSING request whose lease expired claimable again.
//
// The rules live here once: Queue implements RequestQueue on a RequestTable (the three
// primitives conditional create, consistent read, conditional update), and both stores
// supply only the table. EncodeImage and DecodeImage are the item encoding dynamostore
// writes and the Requests table's stream carries as NewImage.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/streamer-go/streamer/runtime/contract"
)

// Sentinel errors. Implementations wrap them; test with errors.Is.
var (
	// ErrNotFound: no such item, or it expired (reads ignore items past their TTL), or it
	// belongs to another tenant or user.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a conditional write failed: the item is not in the state the
	// transition needs (already claimed, finished, lease lost, ...).
	ErrConflict = errors.New("store: condition failed")
	// ErrDuplicate: Enqueue found a request with the same id; the error is a
	// *DuplicateError holding it.
	ErrDuplicate = errors.New("store: duplicate request")
	// ErrTooLarge: the item would exceed DynamoDB's 400 KB limit.
	ErrTooLarge = errors.New("store: item too large")
)

// DuplicateError is returned by Enqueue when a request with the same id exists. Existing
// is that request as stored.
type DuplicateError struct {
	Existing *AsyncRequest
}

// Error implements error.
func (e *DuplicateError) Error() string { return ErrDuplicate.Error() + ": " + e.Existing.RequestID }

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// RequestStatus is the status of an async request.
type RequestStatus string

// Request statuses.
const (
	StatusPending    RequestStatus = contract.StatusPending
	StatusProcessing RequestStatus = contract.StatusProcessing
	StatusCompleted  RequestStatus = contract.StatusCompleted
	StatusFailed     RequestStatus = contract.StatusFailed
	StatusCancelled  RequestStatus = contract.StatusCancelled
)

// Terminal reports whether no further transition is possible.
func (s RequestStatus) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Connection is one open WebSocket connection. Attribute names are the contract's
// (contract.AttrConnectionID, ...).
type Connection struct {
	ConnectionID string            // API Gateway's connection id
	UserID       string            // from the verified token
	TenantID     string            // from the verified token
	Endpoint     string            // @connections callback URL
	ConnectedAt  time.Time         // when $connect succeeded
	LastSeen     time.Time         // last message seen
	Metadata     map[string]string // free-form
	TTL          int64             // Unix seconds; ConnectionTTL after connect
}

// Expired reports whether the record is past its TTL at now (TTL deletion is lazy, so
// reads must check).
func (c *Connection) Expired(now time.Time) bool { return c.TTL > 0 && now.Unix() >= c.TTL }

// AsyncRequest is one queued request and its processing state. Its item (and stream
// image) encoding is EncodeImage's.
type AsyncRequest struct {
	RequestID    string          // ScopedID(tenant, user, client id)
	ClientID     string          // the id the client sees
	ConnectionID string          // where progress and the result go
	Status       RequestStatus   // PENDING, PROCESSING, or terminal
	CreatedAt    time.Time       // when it was enqueued
	UpdatedAt    time.Time       // the last write
	Action       string          // the handler's action
	Payload      json.RawMessage // JSON, stored as a string

	// Processing state.
	Attempt          int       // 1 for the first attempt
	MaxAttempts      int       // attempts before FAILED
	LeaseUntil       time.Time // the claim holds until then
	LeaseOwner       string    // the worker (invocation) holding the claim
	StartedAt        time.Time // when the current attempt was claimed
	EndedAt          time.Time // when it became terminal
	Progress         float64   // percentage, 0-100
	ProgressMessage  string
	ProgressMetadata json.RawMessage // JSON object
	Result           json.RawMessage // JSON of the result data
	Error            json.RawMessage // JSON of a streamer.Error
	CancelRequested  bool            // the client asked to cancel while it was PROCESSING
	Checkpoint       json.RawMessage // JSON the handler saved to resume from; removed by Finish
	Continuations    int             // invocations that handed the request on to the next (Continue)

	// Multi-tenancy: from the verified token.
	UserID   string
	TenantID string
	TTL      int64 // Unix seconds; RequestTTL after enqueue
}

// Expired reports whether the record is past its TTL at now.
func (r *AsyncRequest) Expired(now time.Time) bool { return r.TTL > 0 && now.Unix() >= r.TTL }

// ScopedID returns the table key of a client's request id: two tenants (or two users) can
// use the same client id without meeting.
func ScopedID(tenantID, userID, clientID string) string {
	return tenantID + "#" + userID + "#" + clientID
}

// SplitScopedID is the inverse of ScopedID.
func SplitScopedID(requestID string) (tenantID, userID, clientID string, ok bool) {
	tenantID, rest, ok1 := strings.Cut(requestID, "#")
	userID, clientID, ok2 := strings.Cut(rest, "#")
	return tenantID, userID, clientID, ok1 && ok2
}

// Owner identifies who may see a request: the tenant and user of the verified token.
type Owner struct {
	TenantID string
	UserID   string
}

// ProgressState is the progress persisted for a request, with the handler's latest
// checkpoint.
type ProgressState struct {
	Percentage float64
	Message    string
	Metadata   map[string]any
	// Checkpoint is the JSON the handler saved to resume from; nil keeps the stored one.
	Checkpoint json.RawMessage
}

// ConnectionStore keeps the records of open connections: $connect saves one,
// $disconnect deletes it, and so does the connection manager when API Gateway reports
// the connection gone. Nothing reads them back: a request carries its connection id,
// and the authorizer's context carries the user and tenant to every route.
type ConnectionStore interface {
	// Save creates or replaces a connection record, filling in what PrepareConnection
	// says.
	Save(ctx context.Context, conn *Connection) error
	// Delete removes a connection record; deleting a missing one is not an error.
	Delete(ctx context.Context, connectionID string) error
}

// RequestQueue is the request queue for application code: enqueue a request, read it
// back, and move it by id (an administrative status change, progress, completion,
// failure). *Queue implements it. The runtime's own components do not use it: they
// depend on the ports they declare (router.Queue, executor.Queue), which *Queue also
// implements with its lease-checked and owner-scoped transitions. Every transition is
// conditional; a transition from the wrong state returns ErrConflict.
type RequestQueue interface {
	// Enqueue stores a new PENDING request (idempotent on RequestID). It sets CreatedAt,
	// UpdatedAt, Attempt (1), MaxAttempts (DefaultMaxAttempts when zero) and TTL when they
	// are zero. A duplicate returns a *DuplicateError holding the existing request; a
	// payload over the item limit returns ErrTooLarge.
	Enqueue(ctx context.Context, req *AsyncRequest) error
	// Get returns a request by its scoped id (ScopedID); ErrNotFound when missing or
	// expired.
	Get(ctx context.Context, requestID string) (*AsyncRequest, error)
	// UpdateStatus sets a status unconditionally except that a terminal request is never
	// changed (ErrConflict). It is for administrative use: the worker uses the
	// lease-checked transitions of Queue.
	UpdateStatus(ctx context.Context, requestID string, status RequestStatus, message string) error
	// UpdateProgress records progress of a PROCESSING request (ErrConflict otherwise).
	UpdateProgress(ctx context.Context, requestID string, progress float64, message string, details map[string]any) error
	// CompleteRequest marks a PROCESSING request COMPLETED with result as its data.
	CompleteRequest(ctx context.Context, requestID string, result map[string]any) error
	// FailRequest marks a non-terminal request FAILED with an INTERNAL_ERROR carrying errMsg.
	FailRequest(ctx context.Context, requestID string, errMsg string) error
}

// ErrInvalidOwner is wrapped by CheckOwner's error.
var ErrInvalidOwner = errors.New("store: identity cannot be stored")

// CheckOwner reports whether o can be stored and keyed: a tenant of 1 to
// contract.MaxTenantIDBytes bytes and a user of 1 to contract.MaxUserIDBytes, valid
// UTF-8, without '#' (the separator of ScopedID: two owners' request keys would meet)
// and without control characters. The authorizer refuses any other identity at
// $connect; the router checks again.
func CheckOwner(o Owner) error {
	if err := checkIdentity("tenant", o.TenantID, contract.MaxTenantIDBytes); err != nil {
		return err
	}
	return checkIdentity("user", o.UserID, contract.MaxUserIDBytes)
}

func checkIdentity(what, v string, maxBytes int) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidOwner, what)
	case len(v) > maxBytes:
		return fmt.Errorf("%w: %s of %d bytes (limit %d)", ErrInvalidOwner, what, len(v), maxBytes)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidOwner, what)
	case strings.Contains(v, "#"):
		return fmt.Errorf("%w: %s contains '#'", ErrInvalidOwner, what)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %s contains a control character", ErrInvalidOwner, what)
	}
	return nil
}
