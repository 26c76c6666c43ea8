package client_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

const testToken = "good-token"

// protoServer is a small WebSocket server that speaks the Streamer protocol the way the
// router and worker do, with actions made for the tests:
//
//	echo      sync: result with data = payload
//	fail      sync: error VALIDATION_ERROR
//	progress  async: ack, progress 20..100, result with data = payload
//	big       async: ack, a result of about 300 KB split into parts
//	hold      async: ack, then waits for release(id) and completes with data = payload
//	syncwait  sync: the first run waits for release(id); every run answers data = payload
//	raw       sends each string of the payload (a JSON array) as one message, as it is but
//	          for $ID, replaced by the request id
//
// and the system actions streamer.ping, streamer.status (rebinds the request to the
// asking socket, like the router) and streamer.cancel. An async id sent again gets a
// status and is rebound, as the router does.
type protoServer struct {
	t   testing.TB
	srv *httptest.Server

	pings    chan struct{} // one per streamer.ping
	statuses chan string   // the id of every streamer.status
	held     chan string   // the id of every hold / syncwait that started waiting

	mu       sync.Mutex
	conns    map[*serverConn]bool
	connects int
	refuse   bool
	reqs     map[string]*serverReq
	release  map[string]chan struct{}
	runs     map[string]int
}

type serverConn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (sc *serverConn) send(v any) {
	b, _ := json.Marshal(v)
	sc.sendRaw(b)
}

func (sc *serverConn) sendRaw(b []byte) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	_ = sc.ws.WriteMessage(websocket.TextMessage, b)
}

type serverReq struct {
	id, action string
	status     string
	pct        float64
	result     json.RawMessage
	err        *streamer.Error
	conn       *serverConn
}

func newProtoServer(t testing.TB) *protoServer {
	t.Helper()
	s := &protoServer{
		t:        t,
		pings:    make(chan struct{}, 1000),
		statuses: make(chan string, 1000),
		held:     make(chan string, 100),
		conns:    make(map[*serverConn]bool),
		reqs:     make(map[string]*serverReq),
		release:  make(map[string]chan struct{}),
		runs:     make(map[string]int),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.dropAll()
		s.srv.Close()
	})
	return s
}

func (s *protoServer) URL() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/prod" }

// dropAll kills every socket, as API Gateway does at 2 hours.
func (s *protoServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		_ = sc.ws.NetConn().Close()
		delete(s.conns, sc)
	}
}

// setRefuse makes new connections fail (503) until called with false.
func (s *protoServer) setRefuse(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = v
}

func (s *protoServer) connectCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

func (s *protoServer) runCount(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

// releaseHeld lets a held request finish.
func (s *protoServer) releaseHeld(id string) {
	s.mu.Lock()
	ch := s.release[id]
	s.mu.Unlock()
	close(ch)
}

func (s *protoServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	if refuse {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Query().Get("token") != testToken || r.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	sc := &serverConn{ws: ws}
	s.mu.Lock()
	s.conns[sc] = true
	s.connects++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, sc)
		s.mu.Unlock()
		_ = ws.Close()
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var m protocol.ClientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			sc.send(protocol.NewErrorMessage("", streamer.NewError(streamer.ErrCodeValidation, "not JSON")))
			continue
		}
		s.handle(sc, &m)
	}
}

func (s *protoServer) handle(sc *serverConn, m *protocol.ClientMessage) {
	switch m.Action {
	case protocol.ActionPing:
		s.pings <- struct{}{}
		sc.send(protocol.PongMessage{Type: protocol.TypePong})
		return
	case protocol.ActionStatus, protocol.ActionCancel:
		var p struct{ ID string }
		_ = json.Unmarshal(m.Payload, &p)
		s.mu.Lock()
		req := s.reqs[p.ID]
		if req != nil {
			req.conn = sc
			if m.Action == protocol.ActionCancel && (req.status == contract.StatusPending || req.status == contract.StatusProcessing) {
				req.status, req.err = contract.StatusCancelled, streamer.NewError(streamer.ErrCodeCancelled, "cancelled by the client")
			}
		}
		s.mu.Unlock()
		if req == nil {
			sc.send(protocol.NewErrorMessage(p.ID, streamer.NewError(streamer.ErrCodeNotFound, "no such request")))
			return
		}
		sc.send(s.statusOf(req))
		if m.Action == protocol.ActionStatus {
			s.statuses <- p.ID // after the rebind: later pushes reach this socket
		}
		return
	case "echo":
		sc.send(result(m.ID, m.Action, m.Payload))
	case "fail":
		sc.send(protocol.NewErrorMessage(m.ID, streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "bad payload", map[string]any{"field": "payload"})))
	case "syncwait":
		s.mu.Lock()
		s.runs[m.ID]++
		first := s.runs[m.ID] == 1
		ch := make(chan struct{})
		if first {
			s.release[m.ID] = ch
		}
		s.mu.Unlock()
		if first {
			s.held <- m.ID
			go func() {
				<-ch
				sc.send(result(m.ID, m.Action, m.Payload)) // to the socket it came on, maybe dead
			}()
			return
		}
		sc.send(result(m.ID, m.Action, m.Payload))
	case "raw":
		var frames []string
		if err := json.Unmarshal(m.Payload, &frames); err != nil {
			s.t.Errorf("raw: payload: %v", err)
		}
		for _, f := range frames {
			sc.sendRaw([]byte(strings.ReplaceAll(f, "$ID", m.ID)))
		}
	case "progress", "big", "hold":
		s.async(sc, m)
	default:
		sc.send(protocol.NewErrorMessage(m.ID, streamer.NewError(streamer.ErrCodeInvalidAction, "unknown action")))
	}
}

// async queues a request like the router (ack, or status for an id seen before) and
// runs it like a worker, pushing to the socket the request is bound to at push time.
func (s *protoServer) async(sc *serverConn, m *protocol.ClientMessage) {
	s.mu.Lock()
	s.runs[m.ID]++
	if req := s.reqs[m.ID]; req != nil {
		req.conn = sc
		s.mu.Unlock()
		sc.send(s.statusOf(req))
		return
	}
	req := &serverReq{id: m.ID, action: m.Action, status: contract.StatusPending, conn: sc}
	s.reqs[m.ID] = req
	ch := make(chan struct{})
	s.release[m.ID] = ch
	s.mu.Unlock()
	sc.send(protocol.AckMessage{Type: protocol.TypeAck, RequestID: m.ID, Action: m.Action, Status: contract.StatusPending})

	go func() {
		switch m.Action {
		case "progress":
			for pct := 20.0; pct <= 100; pct += 20 {
				s.push(req, func() any {
					req.status, req.pct = contract.StatusProcessing, pct
					return protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: req.id, Percentage: pct, Message: "working", Timestamp: time.Now()}
				})
			}
			s.complete(req, m.Payload)
		case "big":
			s.complete(req, bigData(s.t))
		case "hold":
			s.push(req, func() any {
				req.status, req.pct = contract.StatusProcessing, 50
				return protocol.ProgressMessage{Type: protocol.TypeProgress, RequestID: req.id, Percentage: 50, Message: "held", Timestamp: time.Now()}
			})
			s.held <- req.id
			<-ch
			s.complete(req, m.Payload)
		}
	}()
}

// push updates req under the lock and sends the message it returns to req's socket.
func (s *protoServer) push(req *serverReq, update func() any) {
	s.mu.Lock()
	if req.status == contract.StatusCancelled {
		s.mu.Unlock()
		return
	}
	msg := update()
	conn := req.conn
	s.mu.Unlock()
	b, _ := json.Marshal(msg)
	if len(b) <= protocol.MaxMessageBytes {
		conn.sendRaw(b)
		return
	}
	parts, err := protocol.SplitResult(msg.(*protocol.ResultMessage), protocol.MaxMessageBytes)
	if err != nil {
		s.t.Errorf("split: %v", err)
		return
	}
	for _, p := range parts {
		conn.sendRaw(p)
	}
}

func (s *protoServer) complete(req *serverReq, data json.RawMessage) {
	s.push(req, func() any {
		req.status, req.pct, req.result = contract.StatusCompleted, 100, data
		return result(req.id, req.action, data)
	})
}

// statusByID returns the status of request id ("" when unknown).
func (s *protoServer) statusByID(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req := s.reqs[id]; req != nil {
		return req.status
	}
	return ""
}

func (s *protoServer) statusOf(req *serverReq) *protocol.StatusMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &protocol.StatusMessage{Type: protocol.TypeStatus, RequestID: req.id, Status: req.status, Percentage: req.pct, Message: "state", Result: req.result, Error: req.err}
}

func result(id, action string, data json.RawMessage) *protocol.ResultMessage {
	return &protocol.ResultMessage{Type: protocol.TypeResult, RequestID: id, Action: action, Success: true, Data: data, DurationMS: 5}
}

// bigData is about 300 KB of JSON with characters that JSON escaping grows.
func bigData(t testing.TB) json.RawMessage {
	rows := make([]string, 1000)
	for i := range rows {
		rows[i] = strings.Repeat("é\"<>", 20) + string(rune('a'+i%26))
	}
	b, err := json.Marshal(map[string]any{"rows": rows})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
