package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// floorRounds interleaves the two targets, so load that comes and goes on a shared
// machine hits both alike.
const floorRounds = 3

// echoReply is the local stack's reply to the echo request.
func echoReply() []byte {
	b, _ := json.Marshal(protocol.ResultMessage{Type: protocol.TypeResult, RequestID: echoID, Action: demo.ActionEcho,
		Success: true, Data: json.RawMessage(echoPayload)}) // a ResultMessage of valid JSON always encodes
	return b
}

// echoServer is a bare WebSocket server on gorilla/websocket, the library of the local
// stack: it answers every text message with echoReply, the reply of the local stack to
// the echo request (whose id never changes), without parsing it. It is the floor of a
// round trip.
func echoServer() *httptest.Server {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	reply := echoReply()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, _, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(mt, reply); err != nil {
				return
			}
		}
	}))
}

// floorTarget is one side of the floor comparison.
type floorTarget struct {
	name string
	dial dialFunc
	one  loadResult // one connection: latency
	many loadResult // C connections: throughput
}

// floor measures the echo round trip of a local stack in this process against a bare
// WebSocket echo server, with the same client loop and frame, alternating between them.
func (r *runner) floor(ctx context.Context) (Result, error) {
	srv := echoServer()
	defer srv.Close()
	st, err := startStack(ctx, local.Config{})
	if err != nil {
		return Result{}, err
	}
	defer shutdown(st)
	t, err := inProcessTarget(st)
	if err != nil {
		return Result{}, err
	}
	bareURL := "ws" + strings.TrimPrefix(srv.URL, "http")
	targets := []*floorTarget{
		{name: "bare echo server", dial: func(ctx context.Context) (*client.Client, error) { return dial(ctx, bareURL, "") }},
		{name: "local stack", dial: t.dialer()},
	}
	n, c := r.opts.requests(ScenarioFloor), r.opts.Connections
	nOne := max(n/5, 1)
	bar := newProgressBar(r.opts.Progress, ScenarioFloor, 2*(n+nOne))
	defer bar.Finish()
	if err := latencySideBySide(ctx, targets, nOne, bar); err != nil {
		return Result{}, err
	}
	for range floorRounds {
		for _, ft := range targets {
			if err := ft.measure(ctx, c, n/floorRounds, &ft.many, bar); err != nil {
				return Result{}, err
			}
		}
	}
	bare, stack := targets[0], targets[1]
	res := Result{Notes: []string{
		fmt.Sprintf("both in this process with the client (runtime/client), same request (action echo, id %q, payload %s) and client loop; the bare server answers every message with the stack's reply %s; 1 connection: one round trip to each in turn; %d connections: %d rounds alternating bare and stack", echoID, echoPayload, echoReply(), c, floorRounds),
		"a local stack round trip: read the frame, invoke the router function (parse, route, echo handler), write the route response",
	}}
	for _, ft := range targets {
		res.Latencies = append(res.Latencies,
			Latency{Name: ft.name + ", 1 connection", Summary: ft.one.summary()},
			Latency{Name: fmt.Sprintf("%s, %d connections", ft.name, c), Summary: ft.many.summary()})
	}
	one, many := stack.one.summary(), stack.many.summary()
	res.Figures = []Figure{
		atMost("p50 round trip, local stack / bare (1 connection)", Ratio(one.P50MS, bare.one.summary().P50MS), "x", 2),
		figure(fmt.Sprintf("p50 round trip, local stack / bare (%d connections)", c), Ratio(many.P50MS, bare.many.summary().P50MS), "x"),
		atLeast(fmt.Sprintf("local stack echoes per second, %d connections", c), many.Throughput, "echo/s", 10_000),
		figure(fmt.Sprintf("bare echoes per second, %d connections", c), bare.many.summary().Throughput, "echo/s"),
	}
	return res, nil
}

// latencySideBySide opens one connection to each target and runs n round trips on each,
// one to each in turn, so both see the same moment's load; each target's wall time is
// the sum of its own round trips.
func latencySideBySide(ctx context.Context, targets []*floorTarget, n int, bar *progressBar) error {
	conns := make([]*client.Client, len(targets))
	defer closeAll(conns)
	for i, ft := range targets {
		c, err := ft.dial(ctx)
		if err != nil {
			return err
		}
		conns[i] = c
		_, _ = echo(ctx, c) // warm-up
	}
	for range n {
		if ctx.Err() != nil {
			return nil
		}
		for i, ft := range targets {
			d, err := echo(ctx, conns[i])
			bar.Add(1)
			if err != nil {
				if ctx.Err() != nil {
					return nil // cut off by the limit
				}
				ft.one.errors++
				if errors.Is(err, client.ErrClosed) {
					return err
				}
				continue
			}
			ft.one.latencies = append(ft.one.latencies, d)
			ft.one.wall += d
		}
	}
	return nil
}

// measure opens conns connections, runs n echoes over them and adds the figures to into.
func (ft *floorTarget) measure(ctx context.Context, conns, n int, into *loadResult, bar *progressBar) error {
	cs, _, err := dialAll(ctx, ft.dial, conns, nil)
	if err != nil {
		return err
	}
	defer closeAll(cs)
	into.merge(echoLoad(ctx, cs, n, bar))
	return nil
}
