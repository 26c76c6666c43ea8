package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// fastReconnect keeps reconnect backoffs short in tests.
var fastReconnect = client.Options{ReconnectBaseDelay: 5 * time.Millisecond, ReconnectMaxDelay: 50 * time.Millisecond}

type bundle struct {
	srv *protoServer
	c   *client.Client
}

func setup(t *testing.T, opts client.Options) *bundle {
	t.Helper()
	srv := newProtoServer(t)
	c, err := client.Dial(t.Context(), srv.URL(), testToken, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return &bundle{srv: srv, c: c}
}

// wait returns the call's outcome within a generous bound.
func wait(t *testing.T, call *client.Call) (*protocol.ResultMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return call.Wait(ctx)
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

func TestSyncEcho(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	call, err := b.c.Call(t.Context(), "echo", map[string]any{"hello": "wörld"})
	require.NoError(t, err)
	require.NotEmpty(t, call.ID, "an id is generated")

	res, err := wait(t, call)
	require.NoError(t, err)
	require.JSONEq(t, `{"hello":"wörld"}`, string(res.Data))
	require.Equal(t, call.ID, res.RequestID)
	require.Nil(t, call.Ack(), "a sync call gets its result directly")
	_, open := <-call.Progress()
	require.False(t, open, "progress is closed when the call ends")
}

func TestServerErrorIsTyped(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	call, err := b.c.Call(t.Context(), "fail", nil, client.WithID("f-1"))
	require.NoError(t, err)
	_, err = wait(t, call)
	var se *streamer.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodeValidation, se.Code)
	require.Equal(t, "payload", se.Details["field"])
}

func TestAsyncProgressChannelAndCallback(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	var mu sync.Mutex
	var seen []float64
	call, err := b.c.Call(t.Context(), "progress", json.RawMessage(`{"n":1}`), client.WithID("p-1"),
		client.OnProgress(func(p protocol.ProgressMessage) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, p.Percentage)
		}))
	require.NoError(t, err)

	var fromChan []float64
	for p := range call.Progress() {
		fromChan = append(fromChan, p.Percentage)
	}
	res, err := wait(t, call)
	require.NoError(t, err)
	require.JSONEq(t, `{"n":1}`, string(res.Data))
	require.NotNil(t, call.Ack())
	require.Equal(t, "PENDING", call.Ack().Status)

	require.Equal(t, []float64{20, 40, 60, 80, 100}, fromChan)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	require.Equal(t, 100.0, seen[len(seen)-1], "the callback saw the latest state before Wait returned")
	require.IsIncreasing(t, seen)
}

func TestSplitResultReassembled(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	call, err := b.c.Call(t.Context(), "big", nil)
	require.NoError(t, err)
	res, err := wait(t, call)
	require.NoError(t, err)
	want := bigData(t)
	require.Greater(t, len(want), 300*1000)
	require.Equal(t, string(want), string(res.Data), "byte-exact after reassembly")
	require.Nil(t, res.Part)
}

// observed collects what an OnMessage callback saw. It is written on the client's
// reading goroutine and read after Wait returns, which orders the two.
type observed struct {
	types []string
	bytes int
	times []time.Time
	ids   map[string]bool
}

func (o *observed) option() client.CallOption {
	o.ids = map[string]bool{}
	return client.OnMessage(func(m client.Message) {
		var head struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(m.Data, &head)
		o.ids[head.RequestID] = true
		o.types = append(o.types, m.Type)
		o.bytes += len(m.Data)
		o.times = append(o.times, m.Received)
	})
}

func TestOnMessageSeesEveryMessageOfItsCallBeforeWaitReturns(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	start := time.Now()
	var progress, big, echo observed
	pc, err := b.c.Call(t.Context(), "progress", json.RawMessage(`{"n":1}`), client.WithID("om-p"), progress.option())
	require.NoError(t, err)
	bc, err := b.c.Call(t.Context(), "big", nil, client.WithID("om-big"), big.option())
	require.NoError(t, err)
	ec, err := b.c.Call(t.Context(), "echo", json.RawMessage(`{}`), client.WithID("om-e"), echo.option())
	require.NoError(t, err)
	for _, call := range []*client.Call{pc, bc, ec} {
		_, err := wait(t, call)
		require.NoError(t, err)
	}
	end := time.Now()

	require.Equal(t, []string{"ack", "progress", "progress", "progress", "progress", "progress", "result"}, progress.types,
		"every message, in order, no progress update skipped")
	require.Equal(t, []string{"result"}, echo.types)
	require.Equal(t, "ack", big.types[0])
	require.Greater(t, len(big.types), 2, "each part of the split result is seen")
	for _, typ := range big.types[1:] {
		require.Equal(t, "result", typ)
	}
	require.Greater(t, big.bytes, 300*1000, "the parts carry the whole result")
	for id, o := range map[string]observed{"om-p": progress, "om-big": big, "om-e": echo} {
		require.Equal(t, map[string]bool{id: true}, o.ids, "only the call's own messages")
		require.True(t, slices.IsSortedFunc(o.times, time.Time.Compare), "read in order")
		require.False(t, o.times[0].Before(start))
		require.False(t, o.times[len(o.times)-1].After(end), "seen before Wait returned")
	}
}

func TestOnMessageSeesTheStatusOfAResume(t *testing.T) {
	t.Parallel()
	b := setup(t, fastReconnect)
	var seen observed
	call, err := b.c.Call(t.Context(), "hold", json.RawMessage(`1`), client.WithID("om-h"), seen.option())
	require.NoError(t, err)
	require.Equal(t, "om-h", recv(t, b.srv.held))
	b.srv.dropAll()
	require.Equal(t, "om-h", recv(t, b.srv.statuses))
	b.srv.releaseHeld("om-h")
	_, err = wait(t, call)
	require.NoError(t, err)
	require.Equal(t, "ack", seen.types[0])
	require.Equal(t, []string{"status", "result"}, seen.types[len(seen.types)-2:], "the answer to streamer.status, then the result")
}

func TestMessagesInAnyShape(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	var seen observed
	call, err := b.c.Call(t.Context(), "raw", []string{
		`not JSON: ignored`,
		`{ "request_id" : "$ID", "status" : "PENDING", "action" : "raw", "type" : "ack" }`,
		`{"request_id":"$ID","type":"progress","percentage":50,"message":"half","timestamp":"2026-01-02T03:04:05Z"}`,
		`{"type":"progress","request_id":"someone-else","percentage":60}`,
		`{"data":{"type":"ack"},"success":true,"request_id":"$ID","type":"result"}`,
	}, client.WithID("shapes"), seen.option())
	require.NoError(t, err)
	p := recv(t, call.Progress())
	require.Equal(t, 50.0, p.Percentage)
	require.Equal(t, "half", p.Message)
	res, err := wait(t, call)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"ack"}`, string(res.Data))
	require.Equal(t, "PENDING", call.Ack().Status)
	require.Equal(t, []string{"ack", "progress", "result"}, seen.types)
}

func TestMalformedMessageFailsItsCall(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	call, err := b.c.Call(t.Context(), "raw", []string{
		`{"type":"ack","request_id":"$ID","action":"raw","status":"PENDING"}`,
		`{"type":"progress","request_id":"$ID","percentage":"half"}`,
	}, client.WithID("malformed"))
	require.NoError(t, err)
	_, err = wait(t, call)
	require.ErrorContains(t, err, "bad progress message")

	next, err := b.c.Call(t.Context(), "echo", json.RawMessage(`1`))
	require.NoError(t, err)
	_, err = wait(t, next)
	require.NoError(t, err, "the client goes on")
}

func TestResumeAfterDropThenComplete(t *testing.T) {
	t.Parallel()
	b := setup(t, fastReconnect)
	call, err := b.c.Call(t.Context(), "hold", json.RawMessage(`{"v":7}`), client.WithID("h-1"))
	require.NoError(t, err)
	require.Equal(t, "h-1", recv(t, b.srv.held))

	b.srv.dropAll()
	require.Equal(t, "h-1", recv(t, b.srv.statuses), "the client resumes with streamer.status")
	b.srv.releaseHeld("h-1")

	res, err := wait(t, call)
	require.NoError(t, err)
	require.JSONEq(t, `{"v":7}`, string(res.Data))
	require.Equal(t, 2, b.srv.connectCount())
	require.Equal(t, 1, b.c.Reconnects())
	require.Equal(t, 1, b.srv.runCount("h-1"), "resuming never runs the work again")
}

func TestResumeFindsRequestFinishedWhileAway(t *testing.T) {
	t.Parallel()
	b := setup(t, fastReconnect)
	call, err := b.c.Call(t.Context(), "hold", json.RawMessage(`"done"`), client.WithID("h-2"))
	require.NoError(t, err)
	require.Equal(t, "h-2", recv(t, b.srv.held))

	// The socket drops and reconnecting fails for a while; the request completes
	// meanwhile, its result pushed to a dead socket.
	b.srv.setRefuse(true)
	b.srv.dropAll()
	b.srv.releaseHeld("h-2")
	require.Eventually(t, func() bool { return b.srv.statusByID("h-2") == "COMPLETED" }, 10*time.Second, time.Millisecond)
	b.srv.setRefuse(false)

	res, err := wait(t, call)
	require.NoError(t, err, "the terminal status of the resume completes the call")
	require.JSONEq(t, `"done"`, string(res.Data))
	require.Equal(t, "h-2", recv(t, b.srv.statuses))
}

func TestUnacknowledgedCallIsSentAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, fastReconnect)
	call, err := b.c.Call(t.Context(), "syncwait", json.RawMessage(`[1,2]`), client.WithID("s-1"))
	require.NoError(t, err)
	require.Equal(t, "s-1", recv(t, b.srv.held))
	b.srv.dropAll()

	res, err := wait(t, call)
	require.NoError(t, err)
	require.JSONEq(t, `[1,2]`, string(res.Data))
	require.Equal(t, 2, b.srv.runCount("s-1"), "a sync call lost with its socket is sent again, same id")
	b.srv.releaseHeld("s-1")
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			action := "echo"
			if i%4 == 0 {
				action = "progress"
			}
			call, err := b.c.Call(t.Context(), action, map[string]int{"i": i})
			if err != nil {
				errs <- err
				return
			}
			res, err := wait(t, call)
			if err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf(`{"i":%d}`, i); string(res.Data) != want {
				errs <- fmt.Errorf("call %d got %s", i, res.Data)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestKeepAlivePings(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{PingInterval: 20 * time.Millisecond})
	for range 3 {
		recv(t, b.srv.pings)
	}
	require.NoError(t, b.c.Ping(t.Context()))
}

func TestDuplicateIDGetsStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	first, err := b.c.Call(t.Context(), "progress", json.RawMessage(`{"x":1}`), client.WithID("dup-1"))
	require.NoError(t, err)
	_, err = b.c.Call(t.Context(), "progress", nil, client.WithID("dup-1"))
	require.ErrorIs(t, err, client.ErrDuplicateCall, "one id in flight at a time")
	_, err = wait(t, first)
	require.NoError(t, err)

	// Sent again after it finished: the server answers with the stored outcome.
	again, err := b.c.Call(t.Context(), "progress", json.RawMessage(`{"x":1}`), client.WithID("dup-1"))
	require.NoError(t, err)
	res, err := wait(t, again)
	require.NoError(t, err)
	require.JSONEq(t, `{"x":1}`, string(res.Data))
	require.Equal(t, 2, b.srv.runCount("dup-1"))
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, client.Options{})
	call, err := b.c.Call(t.Context(), "hold", nil, client.WithID("c-1"))
	require.NoError(t, err)
	require.Equal(t, "c-1", recv(t, b.srv.held))
	require.NoError(t, call.Cancel(t.Context()))
	_, err = wait(t, call)
	var se *streamer.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodeCancelled, se.Code)
	b.srv.releaseHeld("c-1")
}

func TestCloseFailsCallsInFlight(t *testing.T) {
	t.Parallel()
	srv := newProtoServer(t)
	c, err := client.Dial(t.Context(), srv.URL(), testToken, client.Options{})
	require.NoError(t, err)
	call, err := c.Call(t.Context(), "hold", nil, client.WithID("x-1"))
	require.NoError(t, err)
	require.Equal(t, "x-1", recv(t, srv.held))
	require.NoError(t, c.Close())
	_, err = wait(t, call)
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = c.Call(t.Context(), "echo", nil)
	require.ErrorIs(t, err, client.ErrClosed)
	require.NoError(t, c.Close(), "Close twice is fine")
	srv.releaseHeld("x-1")
}

func TestDialErrorsAndBadCalls(t *testing.T) {
	t.Parallel()
	srv := newProtoServer(t)
	_, err := client.Dial(t.Context(), srv.URL(), "bad-token", client.Options{})
	require.ErrorIs(t, err, client.ErrUnauthorized)
	require.NotContains(t, err.Error(), "bad-token", "tokens stay out of errors")
	_, err = client.Dial(t.Context(), "http://example.com", testToken, client.Options{})
	require.Error(t, err)

	b := setup(t, client.Options{})
	_, err = b.c.Call(t.Context(), "streamer.status", nil)
	require.Error(t, err)
	_, err = b.c.Call(t.Context(), "echo", nil, client.WithID("bad id"))
	require.Error(t, err)
	_, err = b.c.Call(t.Context(), "echo", json.RawMessage(`{`))
	require.Error(t, err)
	var se *streamer.Error
	big := map[string]string{"s": string(make([]byte, 200*1024))}
	_, err = b.c.Call(t.Context(), "echo", big)
	require.ErrorAs(t, err, &se)
	require.Equal(t, streamer.ErrCodePayloadTooLarge, se.Code)
}

func TestGivesUpWhenReconnectKeepsFailing(t *testing.T) {
	t.Parallel()
	opts := fastReconnect
	opts.MaxReconnectAttempts = 2
	b := setup(t, opts)
	call, err := b.c.Call(t.Context(), "hold", nil, client.WithID("g-1"))
	require.NoError(t, err)
	require.Equal(t, "g-1", recv(t, b.srv.held))
	b.srv.setRefuse(true)
	b.srv.dropAll()
	_, err = wait(t, call)
	require.ErrorIs(t, err, client.ErrClosed)
	require.ErrorContains(t, err, "reconnect failed")
	b.srv.releaseHeld("g-1")
}

func BenchmarkCallEcho(b *testing.B) {
	srv := newProtoServer(b)
	c, err := client.Dial(b.Context(), srv.URL(), testToken, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	payload := json.RawMessage(`{"hello":"world"}`)
	for b.Loop() {
		call, err := c.Call(b.Context(), "echo", payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := call.Wait(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
