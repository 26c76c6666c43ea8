package local

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// waitFor bounds every wait for a message; generous for a loaded 2-core box.
const waitFor = 15 * time.Second

// echoHandler is the demo echo action: the payload back as data; none is an error.
var echoHandler = streamer.HandlerFunc(func(_ context.Context, req *streamer.Request) (*streamer.Result, error) {
	if len(req.Payload) == 0 {
		return nil, streamer.NewErrorWithDetails(streamer.ErrCodeValidation, "payload required", map[string]any{"field": "payload"})
	}
	return &streamer.Result{Success: true, Data: req.Payload}, nil
})

// slowSyncHandler is a synchronous action that takes longer than a short integration
// timeout.
var slowSyncHandler = streamer.HandlerFunc(func(ctx context.Context, _ *streamer.Request) (*streamer.Result, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(2 * time.Second):
		return &streamer.Result{Success: true}, nil
	}
})

// processData is the demo process_data action: item_ms per item, progress with
// items_processed, cancellation honoured.
type processData struct{}

type processDataPayload struct {
	Items    int `json:"items"`
	ItemMS   int `json:"item_ms"`
	ResultKB int `json:"result_kb"` // pads the result, for results over the message limit
}

func (processData) EstimatedDuration() time.Duration { return time.Minute }

func (processData) Validate(req *streamer.Request) error {
	var p processDataPayload
	if err := req.UnmarshalPayload(&p); err != nil {
		return err
	}
	if p.Items < 1 || p.Items > 10000 || p.ItemMS < 0 || p.ItemMS > 10000 {
		return streamer.NewError(streamer.ErrCodeValidation, "items must be 1..10000 and item_ms 0..10000")
	}
	return nil
}

func (h processData) Process(ctx context.Context, req *streamer.Request) (*streamer.Result, error) {
	return nil, streamer.NewError(streamer.ErrCodeInternalError, "process_data runs asynchronously")
}

func (processData) ProcessWithProgress(ctx context.Context, req *streamer.Request, r streamer.Reporter) (*streamer.Result, error) {
	var p processDataPayload
	if err := req.UnmarshalPayload(&p); err != nil {
		return nil, err
	}
	for i := 1; i <= p.Items; i++ {
		sleep(ctx, time.Duration(p.ItemMS)*time.Millisecond)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.Report(float64(i)*100/float64(p.Items), fmt.Sprintf("processed %d of %d", i, p.Items),
			map[string]any{"items_processed": i, "items_total": p.Items}); err != nil {
			return nil, err
		}
	}
	result := map[string]any{"items_processed": p.Items}
	if p.ResultKB > 0 {
		result["padding"] = strings.Repeat("p", p.ResultKB*1024)
	}
	return r.Complete(result)
}

// testApp is the application of the tests: the demo actions' behaviour, registered the
// way a Lambda main registers them, with opts.
func testApp(t *testing.T, opts ...lambdas.Option) *lambdas.App {
	t.Helper()
	app := lambdas.New(opts...)
	require.NoError(t, app.Handle("echo", echoHandler))
	require.NoError(t, app.Handle("slow_sync", slowSyncHandler))
	require.NoError(t, app.Handle("process_data", processData{}))
	return app
}

// testLogger writes the stack's logs to the test log only when STREAMER_TEST_LOGS is
// set; they are noisy otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("STREAMER_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startStack runs a stack on a free port until the test ends.
func startStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	cfg.Addr = cmp.Or(cfg.Addr, "127.0.0.1:0")
	if cfg.App == nil {
		cfg.App = testApp(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond // tests need not wait a real poll cycle
	}
	st, err := Start(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, st.Shutdown(ctx))
	})
	return st
}

// wire is one message from the server, decoded loosely.
type wire struct {
	Type       string          `json:"type"`
	RequestID  string          `json:"request_id"`
	Status     string          `json:"status"`
	Percentage float64         `json:"percentage"`
	Message    string          `json:"message"`
	Metadata   map[string]any  `json:"metadata"`
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data"`
	Result     json.RawMessage `json:"result"`
	Error      *streamer.Error `json:"error"`
	Part       *protocol.Part  `json:"part"`
	Raw        string          `json:"-"`
	At         time.Time       `json:"-"`
}

// terminal reports whether w is a request's terminal message: its error, its result,
// or the last part of a split result.
func (w wire) terminal() bool {
	if w.Part != nil {
		return w.Part.Index == w.Part.Count-1
	}
	return w.Type == protocol.TypeResult || w.Type == protocol.TypeError
}

// client is a test WebSocket client; a goroutine reads every message into msgs.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	msgs   chan wire
	closed chan error // the read error that ended the connection
}

// dial connects with token (in the query string), failing the test unless it upgrades.
func dial(t *testing.T, st *Stack, token string) *client {
	t.Helper()
	c, resp, err := tryDial(t, st, token, nil)
	require.NoError(t, err, "dial: %v", resp)
	return c
}

// tryDial connects and returns the HTTP response of a refused upgrade.
func tryDial(t *testing.T, st *Stack, token string, header http.Header) (*client, *http.Response, error) {
	t.Helper()
	u := st.WebSocketURL()
	if token != "" {
		u += "?token=" + token
	}
	ws, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, header)
	if err != nil {
		return nil, resp, err
	}
	c := &client{t: t, ws: ws, msgs: make(chan wire, 4096), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				c.closed <- err
				close(c.msgs)
				return
			}
			var m wire
			if err := json.Unmarshal(data, &m); err != nil {
				m.Type = "unparsable"
			}
			m.Raw, m.At = string(data), time.Now()
			c.msgs <- m
		}
	}()
	t.Cleanup(func() { _ = ws.Close() })
	return c, resp, nil
}

func (c *client) send(v any) {
	c.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		b, err = json.Marshal(v)
		require.NoError(c.t, err)
	}
	require.NoError(c.t, c.ws.WriteMessage(websocket.TextMessage, b))
}

// call sends one action frame.
func (c *client) call(action, id string, payload any) {
	c.t.Helper()
	frame := map[string]any{"action": action}
	if id != "" {
		frame["id"] = id
	}
	if payload != nil {
		frame["payload"] = payload
	}
	c.send(frame)
}

// next returns the next message.
func (c *client) next() wire {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		require.True(c.t, ok, "connection closed while waiting for a message")
		return m
	case <-time.After(waitFor):
		c.t.Fatal("no message within", waitFor)
		return wire{}
	}
}

// until returns the messages up to and including the first for which stop is true.
func (c *client) until(stop func(wire) bool) []wire {
	c.t.Helper()
	var got []wire
	for {
		m := c.next()
		got = append(got, m)
		if stop(m) {
			return got
		}
	}
}

// terminalOf reads until the terminal message of request id and returns every message
// of that request.
func (c *client) terminalOf(id string) []wire {
	c.t.Helper()
	var mine []wire
	for _, m := range c.until(func(m wire) bool { return m.RequestID == id && m.terminal() }) {
		if m.RequestID == id {
			mine = append(mine, m)
		}
	}
	return mine
}

// quiet asserts that no message arrives for d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if ok {
			c.t.Fatalf("unexpected message: %s", m.Raw)
		}
	case <-time.After(d):
	}
}

// closedWith waits until the server closed the connection and returns the close code.
func (c *client) closedWith() int {
	c.t.Helper()
	select {
	case err := <-c.closed:
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		return -1
	case <-time.After(waitFor):
		c.t.Fatal("connection still open")
		return 0
	}
}

// token mints a token for user in tenant.
func token(t *testing.T, st *Stack, user, tenant string) string {
	t.Helper()
	tok, err := st.Token(user, tenant, time.Hour)
	require.NoError(t, err)
	return tok
}

// checkAsyncOrder asserts the protocol's guarantees on one async request's messages:
// ack first, progress never down, exactly one terminal, last.
func checkAsyncOrder(t *testing.T, msgs []wire) {
	t.Helper()
	require.NotEmpty(t, msgs)
	require.Equal(t, protocol.TypeAck, msgs[0].Type, "first message: %s", msgs[0].Raw)
	last := -1.0
	terminals := 0
	for i, m := range msgs {
		switch {
		case m.Type == protocol.TypeProgress:
			require.Zero(t, terminals, "progress after the terminal message")
			require.GreaterOrEqual(t, m.Percentage, last, "progress went down at message %d", i)
			last = m.Percentage
		case m.terminal():
			terminals++
		}
	}
	require.Equal(t, 1, terminals)
	require.True(t, msgs[len(msgs)-1].terminal())
}

func jsonEq(t *testing.T, want string, got json.RawMessage) {
	t.Helper()
	require.JSONEq(t, want, strings.TrimSpace(string(got)))
}

// stores returns the configurations a test runs on: the in-memory store, and DynamoDB
// Local at STREAMER_TEST_DYNAMODB_ENDPOINT in tables of the test's own, which skips
// (fails in CI) without one.
func stores() map[string]func(t *testing.T) Config {
	return map[string]func(t *testing.T) Config{
		"memory":   func(*testing.T) Config { return Config{} },
		"dynamodb": dynamoDBConfig,
	}
}

// dynamoDBConfig is a Config on DynamoDB Local in fresh tables that are dropped when the
// stack stops.
func dynamoDBConfig(t *testing.T) Config {
	t.Helper()
	endpoint := os.Getenv("STREAMER_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		const reason = "STREAMER_TEST_DYNAMODB_ENDPOINT is not set (start DynamoDB Local and point it there)"
		if os.Getenv("CI") == "true" || os.Getenv("STREAMER_REQUIRE_DYNAMODB") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	return Config{
		DynamoDBEndpoint:     endpoint,
		TablePrefix:          "test-" + strings.ToLower(rand.Text()[:8]) + "-", // stacks must not share tables
		DropTablesOnShutdown: true,
	}
}
