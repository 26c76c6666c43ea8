package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/local"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// Soak defaults and bounds.
const (
	// DefaultSoakConnections is how many connections the soak keeps busy.
	DefaultSoakConnections = 1_000
	// DefaultSoakDuration is how long the soak sends new requests.
	DefaultSoakDuration = time.Minute
	// soakUsersPerTenant: the soak's users are spread over tenants of this many users,
	// so the tenants' limits are exercised but not reached by well-behaved users.
	soakUsersPerTenant = 10
	// soakRequestWait bounds the wait for one request's terminal message; a request
	// without one by then is lost.
	soakRequestWait = time.Minute
	// soakQuiet is how long the sockets are still read after the last terminal message:
	// a duplicate would arrive then.
	soakQuiet = 2 * time.Second
	// greedyBurst is how many async jobs the user over its limit sends at once, every
	// greedyEvery.
	greedyBurst = 30
	greedyEvery = 2 * time.Second
)

// Payloads of the soak's async requests: a short job (200 ms), and a 2 s job that is
// cancelled right after its ack.
const (
	soakJob       = `{"items":5,"item_ms":40}`
	soakCancelJob = `{"items":50,"item_ms":40}`
)

// soakRequest is what the soak knows of one request it sent.
type soakRequest struct {
	sent      time.Time
	acked     time.Duration // from sent; 0 without an ack
	terminals int
	code      string        // the error code of the first terminal message, "" for a result
	done      chan struct{} // closed by the first terminal message
}

// soakBook records every request of the soak and every terminal message, so that lost
// and duplicated terminal messages are counted per request id.
type soakBook struct {
	mu         sync.Mutex
	reqs       map[string]*soakRequest
	unexpected int // terminal messages about ids the soak never sent
	notJSON    int // messages that were not JSON
}

func (b *soakBook) add(id string) *soakRequest {
	r := &soakRequest{sent: time.Now(), done: make(chan struct{})}
	b.mu.Lock()
	b.reqs[id] = r
	b.mu.Unlock()
	return r
}

// soakMessage is the part of a server message the soak reads.
type soakMessage struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	Part      *protocol.Part  `json:"part"`
	Error     *protocol.Error `json:"error"`
}

// observe books one message read off a socket.
func (b *soakBook) observe(data []byte, at time.Time) {
	var m soakMessage
	if json.Unmarshal(data, &m) != nil {
		b.mu.Lock()
		b.notJSON++
		b.mu.Unlock()
		return
	}
	terminal := m.Type == protocol.TypeError || (m.Type == protocol.TypeResult && (m.Part == nil || m.Part.Index == m.Part.Count-1))
	if m.RequestID == "" || (m.Type != protocol.TypeAck && !terminal) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.reqs[m.RequestID]
	switch {
	case !ok:
		if terminal {
			b.unexpected++
		}
	case m.Type == protocol.TypeAck:
		r.acked = at.Sub(r.sent)
	default:
		r.terminals++
		if r.terminals == 1 {
			if m.Error != nil {
				r.code = m.Error.Code
			}
			close(r.done)
		}
	}
}

// soakConn is one raw connection of the soak, read by its own goroutine.
type soakConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	read sync.WaitGroup
}

func (c *soakConn) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

// hangUp closes c before the end of the soak (a reconnect).
func (s *soakRun) hangUp(c *soakConn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	_ = c.ws.Close()
	c.read.Wait()
}

// closeAll closes the connections still open.
func (s *soakRun) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.open {
		_ = c.ws.Close()
		c.read.Wait()
	}
	clear(s.open)
}

// soakRun is one soak: its stack, its book and its measurements.
type soakRun struct {
	wsURL   string
	token   func(user, tenant string) (string, error)
	metrics func(ctx context.Context) (local.Snapshot, error)
	runID   string
	book    soakBook

	mu                          sync.Mutex
	open                        map[*soakConn]bool // closed after the quiet time at the end
	connect, echo, ack, done    []time.Duration
	cancelled, cancelCompleted  int
	reconnects, dialErrors      int
	greedySent, greedyRefused   int
	otherRefused, otherFailures int
}

func (s *soakRun) dial(ctx context.Context, user, tenant string) (*soakConn, error) {
	tok, err := s.token(user, tenant)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, s.wsURL+"?token="+url.QueryEscape(tok), nil)
	if err != nil {
		s.mu.Lock()
		s.dialErrors++
		s.mu.Unlock()
		return nil, fmt.Errorf("bench: soak: dial: %w", err)
	}
	s.mu.Lock()
	s.connect = append(s.connect, time.Since(start))
	s.mu.Unlock()
	c := &soakConn{ws: ws}
	s.mu.Lock()
	s.open[c] = true
	s.mu.Unlock()
	c.read.Go(func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			s.book.observe(data, time.Now())
		}
	})
	return c, nil
}

// call sends one request and waits for its terminal message (or soakRequestWait).
func (s *soakRun) call(ctx context.Context, c *soakConn, id, action, payload string, cancel bool) *soakRequest {
	r := s.book.add(id)
	if err := c.send(map[string]any{"action": action, "id": id, "payload": json.RawMessage(payload)}); err != nil {
		return r
	}
	deadline := time.Now().Add(soakRequestWait)
	if cancel {
		for !s.book.ackedOrDone(r) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		_ = c.send(map[string]any{"action": protocol.ActionCancel, "payload": map[string]string{"id": id}})
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	}
	return r
}

// ackedOrDone reports whether r has its ack or its end.
func (b *soakBook) ackedOrDone(r *soakRequest) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return r.acked > 0 || r.terminals > 0
}

// user runs one well-behaved user until stop: sync echoes, short jobs, jobs it cancels
// and reconnects, with a pause of 1 to 3 s between two.
func (s *soakRun) user(ctx context.Context, i int, stop <-chan struct{}) {
	user, tenant := fmt.Sprintf("soak-u%d", i), fmt.Sprintf("soak-t%d", i/soakUsersPerTenant)
	c, err := s.dial(ctx, user, tenant)
	if err != nil {
		return
	}
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Second + rand.N(2*time.Second)):
		}
		id := fmt.Sprintf("s-%s-%d-%d", s.runID, i, n)
		switch p := rand.N(10); {
		case p < 5:
			r := s.call(ctx, c, id, demo.ActionEcho, `{"message":"soak"}`, false)
			s.record(r, &s.echo)
		case p < 8:
			r := s.call(ctx, c, id, demo.ActionProcessData, soakJob, false)
			s.record(r, &s.done)
		case p < 9:
			r := s.call(ctx, c, id, demo.ActionProcessData, soakCancelJob, true)
			s.mu.Lock()
			switch s.book.code(r) {
			case protocol.CodeCancelled:
				s.cancelled++
			case "":
				s.cancelCompleted++ // it finished before the cancel arrived
			}
			s.mu.Unlock()
		default:
			s.hangUp(c)
			if c, err = s.dial(ctx, user, tenant); err != nil {
				return
			}
			s.mu.Lock()
			s.reconnects++
			s.mu.Unlock()
		}
	}
}

// code returns the error code of r's first terminal message.
func (b *soakBook) code(r *soakRequest) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return r.code
}

// record adds r's latencies: the ack, when there was one, and the end into to.
func (s *soakRun) record(r *soakRequest, to *[]time.Duration) {
	s.book.mu.Lock()
	acked, terminals, code, sent := r.acked, r.terminals, r.code, r.sent
	s.book.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if acked > 0 {
		s.ack = append(s.ack, acked)
	}
	switch {
	case terminals == 0:
	case code == protocol.CodeRateLimited:
		s.otherRefused++
	case code != "":
		s.otherFailures++
	default:
		*to = append(*to, time.Since(sent))
	}
}

// greedy is the user over its limit: every greedyEvery it sends greedyBurst async jobs at
// once and waits for them all.
func (s *soakRun) greedy(ctx context.Context, stop <-chan struct{}) {
	c, err := s.dial(ctx, "soak-greedy", "soak-greedy")
	if err != nil {
		return
	}
	for n := 0; ; n++ {
		var wg sync.WaitGroup
		for j := range greedyBurst {
			id := fmt.Sprintf("s-%s-greedy-%d-%d", s.runID, n, j)
			wg.Go(func() {
				r := s.call(ctx, c, id, demo.ActionProcessData, soakJob, false)
				s.mu.Lock()
				s.greedySent++
				if s.book.code(r) == protocol.CodeRateLimited {
					s.greedyRefused++
				}
				s.mu.Unlock()
			})
		}
		wg.Wait()
		select {
		case <-stop:
			return
		case <-time.After(greedyEvery):
		}
	}
}

// soak keeps SoakConnections connections busy for SoakDuration against a local stack with
// the default limits, then counts every request's terminal messages.
func (r *runner) soak(ctx context.Context) (Result, error) {
	s := &soakRun{runID: r.runID, book: soakBook{reqs: map[string]*soakRequest{}}, open: map[*soakConn]bool{}}
	if r.opts.URL != "" {
		if !isLoopback(hostOf(r.opts.URL)) {
			return Result{}, errors.New("bench: soak mints tokens for many users: it needs a local stack")
		}
		base := httpBase(r.opts.URL)
		s.wsURL = r.opts.URL
		s.token = func(user, tenant string) (string, error) {
			var t local.TokenResponse
			err := getJSON(ctx, base+"/dev/token?ttl=1h&user="+url.QueryEscape(user)+"&tenant="+url.QueryEscape(tenant), &t)
			return t.Token, err
		}
		s.metrics = func(ctx context.Context) (local.Snapshot, error) { return fetchMetrics(ctx, base) }
	} else {
		st, err := r.startStack(ctx, local.Config{}) // the default limits
		if err != nil {
			return Result{}, err
		}
		defer shutdown(st)
		s.wsURL = st.WebSocketURL()
		s.token = func(user, tenant string) (string, error) { return st.Token(user, tenant, time.Hour) }
		s.metrics = func(context.Context) (local.Snapshot, error) { return st.Metrics(), nil }
	}
	rssBefore := peakRSS()
	before, err := s.metrics(ctx)
	if err != nil {
		return Result{}, err
	}

	n, d := r.opts.SoakConnections, r.opts.SoakDuration
	bar := newProgressBar(r.opts.Progress, ScenarioSoak, int(d/time.Second))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.greedy(ctx, stop) })
	for i := range n {
		wg.Go(func() { s.user(ctx, i, stop) })
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	for time.Since(start) < d && ctx.Err() == nil {
		<-tick.C
		bar.Add(1)
	}
	tick.Stop()
	close(stop)
	wg.Wait() // every request has its terminal message, or waited soakRequestWait
	wall := time.Since(start)
	time.Sleep(soakQuiet) // the sockets are still read: a late duplicate is counted
	s.closeAll()
	bar.Finish()
	res := s.result(n, d, wall, rssBefore)
	if after, err := s.metrics(ctx); err == nil {
		res.Figures = append(res.Figures, s.limiterCost(before, after)...)
	}
	return res, nil
}

// limiterCost is what the limits cost in DynamoDB calls per async request: the Limits
// item's consistent read and conditional write, and the reads of the Requests statuses
// when an in-flight set was full.
func (s *soakRun) limiterCost(before, after local.Snapshot) []Figure {
	calls := func(table, op string) float64 { return float64(after.DynamoDB[table][op] - before.DynamoDB[table][op]) }
	var async, admitted int
	s.book.mu.Lock()
	for id, r := range s.book.reqs {
		if strings.Contains(id, "-greedy-") || r.acked > 0 || r.code == protocol.CodeRateLimited {
			async++
		}
		if r.acked > 0 {
			admitted++
		}
	}
	s.book.mu.Unlock()
	return []Figure{
		figure("async requests (admitted or refused)", float64(async), ""),
		figure("async requests admitted", float64(admitted), ""),
		atMost("Limits writes (conditional PutItem) per async request", Ratio(calls(local.TableLimits, local.OpPutItem), float64(async)), "", 1),
		figure("Limits writes per admitted async request", Ratio(calls(local.TableLimits, local.OpPutItem), float64(admitted)), ""),
		figure("Limits reads (consistent GetItem) per async request", Ratio(calls(local.TableLimits, local.OpGetItem), float64(async)), ""),
		figure("lost write races (ConditionalCheckFailed on Limits)", calls(local.TableLimits, local.OpConditionalCheckFailed), ""),
		figure("Requests BatchGetItem per async request (pruning full in-flight sets)", Ratio(calls(local.TableRequests, local.OpBatchGetItem), float64(async)), ""),
	}
}

// result counts the terminal messages of every request and summarizes the soak.
func (s *soakRun) result(n int, d, wall time.Duration, rssBefore int64) Result {
	var lost, duplicated, requests int
	s.book.mu.Lock()
	for _, r := range s.book.reqs {
		requests++
		switch {
		case r.terminals == 0:
			lost++
		case r.terminals > 1:
			duplicated += r.terminals - 1
		}
	}
	unexpected, bad := s.book.unexpected, s.book.notJSON
	s.book.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	res := Result{
		Latencies: []Latency{
			{Name: "connect ($connect + authorizer)", Summary: Summarize(s.connect, s.dialErrors, wall)},
			{Name: "sync echo round trip", Summary: Summarize(s.echo, 0, wall)},
			{Name: "async ack (200 ms job)", Summary: Summarize(s.ack, 0, wall)},
			{Name: "async completion (200 ms job)", Summary: Summarize(s.done, s.otherFailures, wall)},
		},
		Figures: []Figure{
			figure("requests sent", float64(requests), ""),
			atMost("lost terminal messages (a request without one)", float64(lost), "", 0),
			atMost("duplicated terminal messages", float64(duplicated+unexpected), "", 0),
			atMost("messages that were not JSON", float64(bad), "", 0),
			figure("jobs cancelled (CANCELLED)", float64(s.cancelled), ""),
			figure("jobs that finished before their cancel", float64(s.cancelCompleted), ""),
			figure("reconnects", float64(s.reconnects), ""),
			figure("user over its limit: async requests sent", float64(s.greedySent), ""),
			atLeast("user over its limit: refused with RATE_LIMITED", float64(s.greedyRefused), "", 1),
			atMost("other users: refused with RATE_LIMITED", float64(s.otherRefused), "", 0),
		},
		Notes: []string{
			fmt.Sprintf("%d connections (users in tenants of %d) for %s: each sends, with a pause of 1-3 s, a sync echo (50%%), a process_data %s (30%%), a process_data %s cancelled after its ack (10%%), or reconnects (10%%)", n, soakUsersPerTenant, d, soakJob, soakCancelJob),
			fmt.Sprintf("one more user sends %d process_data jobs at once every %s, over its limits (the defaults)", greedyBurst, greedyEvery),
			fmt.Sprintf("a request is lost when it has no terminal message %s after it was sent; the sockets are read %s after the last one, so late duplicates are counted", soakRequestWait, soakQuiet),
		},
	}
	if rss := peakRSS(); rss > 0 {
		res.Figures = append(res.Figures, figure("peak RSS of the bench process (stack and clients), at the start", float64(rssBefore)/(1<<20), "MB"),
			figure("peak RSS of the bench process (stack and clients)", float64(rss)/(1<<20), "MB"))
		res.Notes = append(res.Notes, "peak RSS is the process's VmHWM: with the in-process stack it counts the clients' sockets and buffers too, so the stack alone stays below it")
	}
	return res
}

// peakRSS returns this process's peak resident set size in bytes (VmHWM), 0 where
// /proc/self/status has none.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
