package streamer_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/streamer"
)

type address struct {
	City string `json:"city"`
}

type order struct {
	ID      string  `json:"id"`
	Count   int     `json:"count"`
	Address address `json:"address"`
}

// Validate refuses a zero count with a field error, and an empty id with a plain error.
func (o order) Validate() error {
	if o.ID == "" {
		return errors.New("id required")
	}
	if o.Count <= 0 {
		return streamer.InvalidField("count", "count must be positive")
	}
	return nil
}

type receipt struct {
	Total int `json:"total"`
}

func placeOrder(_ context.Context, job *streamer.Job[order]) (receipt, error) {
	return receipt{Total: job.Payload.Count * 10}, nil
}

func TestTypedPayloadErrorsNameTheField(t *testing.T) {
	t.Parallel()
	h := streamer.Sync(placeOrder)
	for _, tc := range []struct {
		name, payload, field, message string
	}{
		{"unknown field", `{"id":"o-1","count":1,"colour":"red"}`, "colour", `unknown field "colour"`},
		{"wrong type", `{"id":"o-1","count":"one"}`, "count", "count: expected number, got string"},
		{"nested wrong type", `{"id":"o-1","count":1,"address":{"city":7}}`, "address.city", "address.city: expected string, got number"},
		{"not an object", `[1,2]`, "payload", "payload: expected object, got array"},
		{"validate field error", `{"id":"o-1","count":0}`, "count", "count must be positive"},
		{"absent payload is the zero value, then validated", ``, "", "id required"},
		{"null payload likewise", `null`, "", "id required"},
	} {
		err := h.Validate(&streamer.Request{ID: "r-1", Payload: json.RawMessage(tc.payload)})
		var se *streamer.Error
		require.ErrorAs(t, err, &se, tc.name)
		require.Equal(t, streamer.ErrCodeValidation, se.Code, tc.name)
		require.Equal(t, tc.message, se.Message, tc.name)
		if tc.field == "" {
			require.Nil(t, se.Details, tc.name)
		} else {
			require.Equal(t, tc.field, se.Details["field"], tc.name)
		}
	}
	require.NoError(t, h.Validate(&streamer.Request{Payload: json.RawMessage(`{"id":"o-1","count":2}`)}))

	err := streamer.DecodePayload(json.RawMessage(`{"id":"o-1","count":1} {"id":"o-2"}`), new(order))
	require.Equal(t, "payload must be one JSON value", streamer.AsError(err).Message)
}

// pointerValidated validates with a pointer receiver.
type pointerValidated struct {
	N int `json:"n"`
}

func (p *pointerValidated) Validate() error {
	if p.N > 3 {
		return streamer.InvalidField("n", "n must be at most 3")
	}
	return nil
}

func TestTypedValidateWithPointerReceiver(t *testing.T) {
	t.Parallel()
	h := streamer.Async(func(_ context.Context, job *streamer.Job[pointerValidated]) (int, error) { return job.Payload.N, nil })
	require.NoError(t, h.Validate(&streamer.Request{Payload: json.RawMessage(`{"n":3}`)}))
	require.Equal(t, "n must be at most 3", streamer.AsError(h.Validate(&streamer.Request{Payload: json.RawMessage(`{"n":4}`)})).Message)
}

// countingPayload counts how often it is decoded.
type countingPayload struct{ decodes *atomic.Int32 }

var decodes atomic.Int32

func (c *countingPayload) UnmarshalJSON([]byte) error {
	decodes.Add(1)
	c.decodes = &decodes
	return nil
}

func TestTypedDecodesOnce(t *testing.T) {
	h := streamer.Sync(func(_ context.Context, job *streamer.Job[countingPayload]) (int32, error) {
		return job.Payload.decodes.Load(), nil
	})
	req := &streamer.Request{ID: "r-1", Payload: json.RawMessage(`{"x":1}`)}
	require.NoError(t, h.Validate(req))
	res, err := h.Process(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, int32(1), res.Data, "Validate's decoding is reused by the run")

	res, err = h.Process(t.Context(), &streamer.Request{ID: "r-2", Payload: json.RawMessage(`{"x":1}`)})
	require.NoError(t, err)
	require.Equal(t, int32(2), res.Data, "a run without Validate (the worker's) decodes once itself")
}

func TestTypedModes(t *testing.T) {
	t.Parallel()
	run := func(context.Context, *streamer.Job[struct{}]) (struct{}, error) { return struct{}{}, nil }
	sync, async := streamer.Sync(run), streamer.Async(run)
	require.Equal(t, streamer.ModeSync, sync.Mode())
	require.Equal(t, streamer.ModeAsync, async.Mode())
	require.False(t, streamer.RunsAsync(sync, 0), "sync whatever the threshold")
	require.True(t, streamer.RunsAsync(async, time.Duration(math.MaxInt64)), "async whatever the threshold")
	require.Equal(t, "sync", sync.Mode().String())

	est := streamer.Estimated(10*time.Second, run)
	require.Equal(t, streamer.ModeEstimate, est.Mode())
	require.Equal(t, 10*time.Second, est.EstimatedDuration())
	require.True(t, streamer.RunsAsync(est, 5*time.Second))
	require.False(t, streamer.RunsAsync(est, 10*time.Second), "equal to the threshold runs at once")
	require.False(t, streamer.RunsAsync(streamer.HandlerFunc(echo), 0), "the seed's rule for other handlers")
}

func TestTypedRunReportsAndReturns(t *testing.T) {
	t.Parallel()
	failure := streamer.NewError(streamer.ErrCodeNotFound, "no such customer")
	h := streamer.Async(func(_ context.Context, job *streamer.Job[order]) (receipt, error) {
		if err := job.Report(25, "priced", map[string]any{"lines": job.Payload.Count}); err != nil {
			return receipt{}, err
		}
		if job.Payload.ID == "missing" {
			return receipt{}, failure
		}
		return receipt{Total: job.Payload.Count}, nil
	})

	rep := &recordingReporter{}
	res, err := h.ProcessWithProgress(t.Context(), &streamer.Request{ID: "r-1", Payload: json.RawMessage(`{"id":"o-1","count":3}`)}, rep)
	require.NoError(t, err)
	require.Equal(t, &streamer.Result{RequestID: "r-1", Success: true, Data: receipt{Total: 3}}, res)
	require.Equal(t, []float64{25}, rep.percentages)

	res, err = h.Process(t.Context(), &streamer.Request{ID: "r-2", Payload: json.RawMessage(`{"id":"o-1","count":3}`)})
	require.NoError(t, err, "without a reporter (the sync path) Report does nothing")
	require.Equal(t, receipt{Total: 3}, res.Data)

	_, err = h.Process(t.Context(), &streamer.Request{ID: "r-3", Payload: json.RawMessage(`{"id":"missing","count":1}`)})
	require.Same(t, failure, err)
	_, err = h.Process(t.Context(), &streamer.Request{ID: "r-4", Payload: json.RawMessage(`{"count":1}`)})
	require.Equal(t, streamer.ErrCodeValidation, streamer.AsError(err).Code, "the worker's run validates too")
}

func TestTypedExample(t *testing.T) {
	t.Parallel()
	h := streamer.Sync(placeOrder)
	require.Nil(t, h.Example())
	withExample := h.WithExample(order{ID: "o-1", Count: 2})
	require.JSONEq(t, `{"id":"o-1","count":2,"address":{"city":""}}`, string(withExample.Example()))
	require.Nil(t, h.Example(), "WithExample returns a copy")

	type withChannel struct{ C chan int }
	bad := streamer.Sync(func(context.Context, *streamer.Job[withChannel]) (int, error) { return 0, nil }).WithExample(withChannel{C: make(chan int)})
	err := streamer.NewRegistry().Handle("bad", bad)
	require.ErrorContains(t, err, "example payload")
}
