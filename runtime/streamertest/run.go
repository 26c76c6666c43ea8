package streamertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/router"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/store/memstore"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Identity and connection of the client Run plays.
const (
	RunUser       = "test-user"
	RunTenant     = "test-tenant"
	RunConnection = "test-connection"
	RunRequestID  = "r-1"
)

// RunOption changes how Run runs a request.
type RunOption func(*runConfig)

type runConfig struct {
	action           string
	progressInterval time.Duration
	timeout          time.Duration
	logger           *slog.Logger
}

// WithAction sets the action name the handler is registered under (default "test"); it
// appears in result messages.
func WithAction(name string) RunOption { return func(c *runConfig) { c.action = name } }

// WithProgressInterval sets the coalescing interval of progress messages (default the
// deployed 200 ms). A shorter one makes every report of a fast test handler visible.
func WithProgressInterval(d time.Duration) RunOption {
	return func(c *runConfig) { c.progressInterval = d }
}

// WithTimeout sets the time limit of each worker invocation, as the worker function's
// Lambda timeout does (default 15 minutes). The worker stops the handler shortly before
// it and hands the request on: to a new invocation when the handler saved a checkpoint
// (Job.Checkpoint), else back for another attempt.
func WithTimeout(d time.Duration) RunOption { return func(c *runConfig) { c.timeout = d } }

// WithLogger sends the router's and the worker's logs to l (default: discarded).
func WithLogger(l *slog.Logger) RunOption { return func(c *runConfig) { c.logger = l } }

// Outcome is what the client received for one request run by Run.
type Outcome struct {
	// Async reports whether the request was queued (acknowledged, then run by the worker)
	// rather than answered at once.
	Async bool
	// Messages are every message the client received for the request, in order: the ack
	// of an async request, its progress, and the terminal result (possibly in parts) or
	// error.
	Messages []Message
	// Progress are the progress messages among them, decoded.
	Progress []protocol.ProgressMessage
	// Terminal is the terminal message: a result (parts reassembled) or an error.
	Terminal Message
}

// Err returns the terminal error, or nil when the request succeeded.
func (o *Outcome) Err() *streamer.Error {
	if o.Terminal.Type != protocol.TypeError {
		return nil
	}
	var m protocol.ErrorMessage
	if err := o.Terminal.Decode(&m); err != nil || m.Error == nil {
		return streamer.NewError(streamer.ErrCodeInternalError, "streamertest: unreadable error message")
	}
	return m.Error
}

// DecodeResult decodes the result's data into v; it returns the terminal error when the
// request failed.
func (o *Outcome) DecodeResult(v any) error {
	if e := o.Err(); e != nil {
		return e
	}
	var m protocol.ResultMessage
	if err := o.Terminal.Decode(&m); err != nil {
		return err
	}
	return json.Unmarshal(m.Data, v)
}

// Run runs one request of h with payload as a deployed stack runs it, and returns what
// the client receives. The request goes through the real router (frame, validation,
// sync or async by the handler's mode or estimate) and, when queued, the real worker
// over the in-memory store (claim, lease, the coalescing reporter, retries of retryable
// failures up to the attempts a request gets, the terminal message after the stored
// outcome); messages reach the client through the real connection manager and AWS SDK
// client, posting to an APIGateway (results over 128 KiB in parts). payload is
// marshalled to JSON (a json.RawMessage is sent as it is; nil sends none). Run fails the
// test when the messages break a guarantee of PROTOCOL.md (see RequireProtocol) or the
// stack fails.
func Run(tb testing.TB, h streamer.Handler, payload any, opts ...RunOption) *Outcome {
	tb.Helper()
	cfg := runConfig{action: "test", timeout: 15 * time.Minute, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	reg := streamer.NewRegistry()
	if err := reg.Handle(cfg.action, h); err != nil {
		tb.Fatalf("streamertest: %v", err)
	}
	msg := protocol.ClientMessage{Action: cfg.action, ID: RunRequestID}
	if payload != nil {
		raw, ok := payload.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(payload); err != nil {
				tb.Fatalf("streamertest: encode payload: %v", err)
			}
		}
		msg.Payload = raw
	}

	st := memstore.New(memstore.Options{})
	queue := st.Requests()
	api := NewAPIGateway(tb)
	api.AddConnection(RunConnection, nil)
	sender := connection.NewManager(st.Connections(), api.Client(), connection.Options{})
	r := router.New(reg, queue, sender, router.Options{Logger: cfg.logger})
	resp, err := r.Route(tb.Context(), MessageEvent(tb, RunConnection, RunUser, RunTenant, msg))
	if err != nil {
		tb.Fatalf("streamertest: route: %v", err)
	}
	var reply []Message
	if resp.Body != "" {
		m, err := newMessage(RunConnection, json.RawMessage(resp.Body))
		if err != nil {
			tb.Fatalf("streamertest: reply: %v", err)
		}
		reply = []Message{m}
	}
	out := &Outcome{Async: len(reply) == 1 && reply[0].Type == protocol.TypeAck}
	if out.Async {
		runWorker(tb, reg, queue, sender, cfg)
		out.Messages = append(reply, api.GetMessages(RunConnection)...)
	} else {
		out.Messages = append(api.GetMessages(RunConnection), reply...)
	}
	out.Terminal = RequireProtocol(tb, out.Messages, RunRequestID)
	for _, m := range out.Messages {
		if m.Type == protocol.TypeProgress {
			var p protocol.ProgressMessage
			if err := m.Decode(&p); err != nil {
				tb.Fatalf("streamertest: %v", err)
			}
			out.Progress = append(out.Progress, p)
		}
	}
	return out
}

// runWorker runs the queued request to its end: one worker invocation, and another for
// every retry or continuation the worker hands it back for, as the stream would deliver
// them.
func runWorker(tb testing.TB, reg *streamer.Registry, queue *store.Queue, sender executor.Sender, cfg runConfig) {
	tb.Helper()
	w, err := executor.NewWorker(queue, reg, sender, executor.Config{ProgressInterval: cfg.progressInterval, Logger: cfg.logger})
	if err != nil {
		tb.Fatalf("streamertest: %v", err)
	}
	id := store.ScopedID(RunTenant, RunUser, RunRequestID)
	continuations := 0
	for n := 0; n < contract.DefaultMaxAttempts+1+continuations; n++ {
		ctx, cancel := context.WithTimeout(tb.Context(), cfg.timeout)
		err := w.Handle(ctx, executor.WorkerEvent{RequestID: id})
		cancel()
		if err != nil {
			tb.Fatalf("streamertest: worker: %v", err)
		}
		stored, err := queue.Get(tb.Context(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			tb.Fatalf("streamertest: %v", err)
		}
		if err != nil || stored.Status.Terminal() {
			return
		}
		continuations = stored.Continuations
	}
	tb.Fatalf("streamertest: request %s not finished after %d worker invocations", RunRequestID, contract.DefaultMaxAttempts+1+continuations)
}
