package streamer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// JobFunc is a typed action: it gets the client's payload decoded into P, does the work
// and returns the result sent to the client as the result's data, or an error. The
// returned error is the only way to fail: a *Error reaches the client with its code,
// any other error as INTERNAL_ERROR (its text is logged, never sent).
type JobFunc[P, R any] func(ctx context.Context, job *Job[P]) (R, error)

// Job is one run of a typed action.
type Job[P any] struct {
	// Payload is the client's payload decoded into P and validated. An absent or null
	// payload leaves it the zero value (its Validate method can refuse that).
	Payload P
	// Request is the request the payload came with: ID, UserID and TenantID (from the
	// verified token), ConnectionID, Metadata, and the raw Payload.
	Request *Request

	reporter Reporter // nil on the synchronous path

	// The decoder's input and the run's result share the Job's allocation.
	input      bytes.Reader
	result     Result
	resultUsed bool
}

// Report sends the client a progress update: percentage 0-100 (clamped, never going
// down, also across the invocations of a job that continues), a message, and optional
// details that become the progress message's metadata.
// Updates are coalesced to at most one message per 200 ms, the latest always delivered.
// On the synchronous path there is nobody to send progress to before the result, so
// Report does nothing and returns nil.
func (j *Job[P]) Report(percentage float64, message string, details ...map[string]any) error {
	if j.reporter == nil {
		return nil
	}
	return j.reporter.Report(percentage, message, details...)
}

// TypedHandler is the Handler (and HandlerWithProgress) of a typed action, made by Sync,
// Async or Estimated. It decodes the payload once, validates it, runs the JobFunc and
// turns what it returns into the result.
type TypedHandler[P, R any] struct {
	run         JobFunc[P, R]
	mode        Mode
	estimate    time.Duration
	maxDuration time.Duration
	example     json.RawMessage
	err         error // a WithExample that could not be encoded, reported by Registry.Handle
}

var _ HandlerWithProgress = (*TypedHandler[struct{}, struct{}])(nil)

// Sync returns the handler of an action that always runs at once in the router, inside
// the sync budget (25 s by default), and answers with its result. Its Job reports no
// progress.
func Sync[P, R any](run JobFunc[P, R]) *TypedHandler[P, R] {
	return &TypedHandler[P, R]{run: run, mode: ModeSync}
}

// Async returns the handler of an action that is always queued: the client gets an ack
// at once, then the progress the Job reports, then the result.
func Async[P, R any](run JobFunc[P, R]) *TypedHandler[P, R] {
	return &TypedHandler[P, R]{run: run, mode: ModeAsync, estimate: math.MaxInt64}
}

// Estimated returns the handler of an action that runs at once when estimate is at or
// under the router's async threshold (5 s by default) and is queued above it.
func Estimated[P, R any](estimate time.Duration, run JobFunc[P, R]) *TypedHandler[P, R] {
	return &TypedHandler[P, R]{run: run, mode: ModeEstimate, estimate: estimate}
}

// WithExample returns a copy of the handler that offers example as a sample payload
// (the local stack's page prefills its form with it).
func (h *TypedHandler[P, R]) WithExample(example P) *TypedHandler[P, R] {
	c := *h
	c.example, c.err = json.Marshal(example)
	if c.err != nil {
		c.example, c.err = nil, fmt.Errorf("streamer: example payload: %w", c.err)
	}
	return &c
}

// WithMaxDuration returns a copy of the handler whose requests may take at most d in
// total, from the enqueue across every invocation that continues them (see
// Job.Checkpoint); the worker fails a request that reaches it with TIMEOUT. Without it
// the worker's default applies (executor.Config.MaxDuration, 4 hours).
func (h *TypedHandler[P, R]) WithMaxDuration(d time.Duration) *TypedHandler[P, R] {
	c := *h
	c.maxDuration = d
	return &c
}

// MaxDuration returns the limit given to WithMaxDuration, or 0 for the worker's default.
func (h *TypedHandler[P, R]) MaxDuration() time.Duration { return h.maxDuration }

// Example returns the sample payload given to WithExample, or nil.
func (h *TypedHandler[P, R]) Example() json.RawMessage { return h.example }

// Mode returns how the action chooses its path.
func (h *TypedHandler[P, R]) Mode() Mode { return h.mode }

// EstimatedDuration returns the estimate of an Estimated action, 0 for a Sync one and
// the longest duration for an Async one, so that the estimate rule (queued when the
// estimate is above the threshold) agrees with the mode.
func (h *TypedHandler[P, R]) EstimatedDuration() time.Duration { return h.estimate }

// Validate decodes and validates the payload; the run reuses what it decoded.
func (h *TypedHandler[P, R]) Validate(req *Request) error {
	_, err := h.job(req)
	return err
}

// Process runs the action without progress (the synchronous path).
func (h *TypedHandler[P, R]) Process(ctx context.Context, req *Request) (*Result, error) {
	return h.exec(ctx, req, nil)
}

// ProcessWithProgress runs the action with progress going to reporter (the worker).
func (h *TypedHandler[P, R]) ProcessWithProgress(ctx context.Context, req *Request, reporter Reporter) (*Result, error) {
	return h.exec(ctx, req, reporter)
}

// check refuses a handler that cannot run, at registration.
func (h *TypedHandler[P, R]) check() error {
	if h == nil || h.run == nil {
		return ErrNilHandler
	}
	if h.maxDuration < 0 {
		return fmt.Errorf("streamer: negative max duration %s", h.maxDuration)
	}
	return h.err
}

func (h *TypedHandler[P, R]) exec(ctx context.Context, req *Request, reporter Reporter) (*Result, error) {
	job, err := h.job(req)
	if err != nil {
		return nil, err
	}
	job.reporter = reporter
	out, err := h.run(ctx, job)
	if err != nil {
		return nil, err
	}
	res := &job.result
	if job.resultUsed { // run again on the same request (a retrying middleware): a fresh one
		res = new(Result)
	}
	job.resultUsed = true
	*res = Result{RequestID: req.ID, Success: true, Data: out}
	return res, nil
}

// job returns the request's decoded and validated payload, decoding it on first use.
func (h *TypedHandler[P, R]) job(req *Request) (*Job[P], error) {
	if j, ok := req.decoded.(*Job[P]); ok && j.Request == req {
		return j, nil
	}
	j := &Job[P]{Request: req}
	if err := decodePayload(&j.input, req.Payload, &j.Payload); err != nil {
		return nil, err
	}
	req.decoded = j
	return j, nil
}

// DecodePayload decodes a JSON payload into v strictly and validates it, as typed
// actions do: an absent or null payload leaves v unchanged; unknown fields, wrong types
// and anything but one JSON value are a VALIDATION_ERROR whose details name the field;
// then v's Validate method, when it has one, is called, and an error from it that is
// not a *Error becomes a VALIDATION_ERROR with its text.
func DecodePayload(payload json.RawMessage, v any) error {
	return decodePayload(new(bytes.Reader), payload, v)
}

// decodePayload is DecodePayload reading through in.
func decodePayload(in *bytes.Reader, payload json.RawMessage, v any) error {
	if p := bytes.TrimSpace(payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		in.Reset(p)
		dec := json.NewDecoder(in)
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return payloadError(err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return InvalidField("payload", "payload must be one JSON value")
		}
	}
	return validate(v)
}

// validate calls the Validate method of v (or of what v points to).
func validate(v any) error {
	var err error
	switch x := v.(type) {
	case interface{ Validate() error }:
		err = x.Validate()
	default:
		return nil
	}
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	return NewError(ErrCodeValidation, err.Error())
}

// payloadError describes a decoding failure for the client, naming the field.
func payloadError(err error) *Error {
	var (
		se     *Error
		te     *json.UnmarshalTypeError
		syntax *json.SyntaxError
	)
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "payload"
		}
		return InvalidField(field, fmt.Sprintf("%s: expected %s, got %s", field, kindOf(te.Type.Kind().String()), te.Value))
	case errors.As(err, &syntax):
		return InvalidField("payload", "payload is not valid JSON")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unquoted, uerr := strconv.Unquote(name); uerr == nil {
			name = unquoted
		}
		return InvalidField(name, fmt.Sprintf("unknown field %q", name))
	}
	return InvalidField("payload", "invalid payload: "+err.Error())
}

// kindOf names a Go kind the way a JSON user thinks of it.
func kindOf(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "struct", kind == "map":
		return "object"
	case kind == "slice", kind == "array":
		return "array"
	case kind == "bool":
		return "boolean"
	}
	return kind
}
