package local

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// protocolSuite exercises every guarantee of PROTOCOL.md over real sockets against a
// local stack made by newStack.
func protocolSuite(t *testing.T, newStack func(t *testing.T) *Stack) {
	t.Run("SyncEcho", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))
		before := st.Metrics()

		c.call("echo", "e-1", map[string]any{"hello": "world"})
		m := c.next()
		require.Equal(t, streamer.TypeResult, m.Type, m.Raw)
		require.Equal(t, "e-1", m.RequestID)
		require.True(t, m.Success)
		jsonEq(t, `{"hello":"world"}`, m.Data)

		c.call("echo", "e-2", nil)
		m = c.next()
		require.Equal(t, streamer.TypeError, m.Type, m.Raw)
		require.Equal(t, "e-2", m.RequestID)
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code)

		// A synchronous answer is the route response: no @connections call.
		d := st.Metrics().Sub(before)
		require.Zero(t, d.ConnectionsAPI[APIPostToConnection])
		require.Equal(t, int64(2), d.Lambda["router"].Invocations)
	})

	t.Run("GeneratedIDsAndSplitResults", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))

		// No id: the server makes one up and says which.
		c.call("echo", "", "hi")
		m := c.next()
		require.Equal(t, streamer.TypeResult, m.Type, m.Raw)
		require.NotEmpty(t, m.RequestID)

		// A result over 128 KB arrives in ordered parts that reassemble to the data: echo
		// a message of exactly 128 KB, whose result (with its envelope) is larger.
		const envelope = `{"action":"echo","id":"big-result","payload":""}`
		big := strings.Repeat("z", 128*1024-len(envelope))
		c.send([]byte(`{"action":"echo","id":"big-result","payload":"` + big + `"}`))
		var parts streamer.Reassembler
		var whole *streamer.ResultMessage
		count := 0
		for whole == nil {
			m := c.next()
			var rm streamer.ResultMessage
			require.NoError(t, json.Unmarshal([]byte(m.Raw), &rm), m.Raw[:min(len(m.Raw), 200)])
			require.Equal(t, "big-result", rm.RequestID)
			require.NotNil(t, rm.Part, "a result this large comes in parts")
			require.Equal(t, count, rm.Part.Index, "parts arrive in order")
			require.LessOrEqual(t, len(m.Raw), 128*1024, "each part fits in a message")
			count++
			done, ok, err := parts.Add(rm)
			require.NoError(t, err)
			if ok {
				whole = done
			}
		}
		require.Greater(t, count, 1)
		var data string
		require.NoError(t, json.Unmarshal(whole.Data, &data))
		require.Equal(t, big, data)
	})

	t.Run("AsyncOrdering", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))
		c.call("process_data", "p-1", map[string]any{"items": 10, "item_ms": 60})
		msgs := c.terminalOf("p-1")
		checkAsyncOrder(t, msgs)
		require.Equal(t, "PENDING", msgs[0].Status)
		res := msgs[len(msgs)-1]
		require.Equal(t, streamer.TypeResult, res.Type, res.Raw)
		jsonEq(t, `{"items_processed":10}`, res.Data)

		var progress []wire
		for _, m := range msgs {
			if m.Type == streamer.TypeProgress {
				progress = append(progress, m)
			}
		}
		require.NotEmpty(t, progress)
		require.InDelta(t, 100, progress[len(progress)-1].Percentage, 0.001, "the final state is delivered")
		// At most one progress message per 200 ms (with slack for delivery jitter).
		span := progress[len(progress)-1].At.Sub(progress[0].At)
		require.LessOrEqual(t, len(progress), int(span/(200*time.Millisecond))+2, "progress messages: %d over %s", len(progress), span)
		c.quiet(300 * time.Millisecond) // nothing after the terminal message

		// The same id again never runs the work twice: the current state comes back.
		c.call("process_data", "p-1", map[string]any{"items": 10, "item_ms": 60})
		again := c.next()
		require.Equal(t, "p-1", again.RequestID, again.Raw)
		require.NotEqual(t, streamer.TypeProgress, again.Type)
		c.quiet(300 * time.Millisecond)
	})

	t.Run("BadFrames", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))

		c.send([]byte("this is not json"))
		m := c.next()
		require.Equal(t, streamer.TypeError, m.Type, m.Raw)
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code)
		require.Empty(t, m.RequestID)

		c.send(map[string]any{"id": "no-action"})
		m = c.next()
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code, m.Raw)
		require.Equal(t, "no-action", m.RequestID)

		c.call("no_such_action", "x-1", nil)
		m = c.next()
		require.Equal(t, streamer.ErrCodeInvalidAction, m.Error.Code, m.Raw)
		require.Equal(t, "x-1", m.RequestID)
		require.False(t, m.Error.Retry.Retryable)

		// Still open.
		c.call(streamer.ActionPing, "", nil)
		require.Equal(t, streamer.TypePong, c.next().Type)
	})

	t.Run("OversizedFrame", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))
		before := st.Metrics()

		big := strings.Repeat("x", 200*1024)
		c.send([]byte(`{"id":"big-1","action":"echo","payload":"` + big + `"}`))
		m := c.next()
		require.Equal(t, streamer.TypeError, m.Type, m.Raw)
		require.Equal(t, streamer.ErrCodePayloadTooLarge, m.Error.Code)
		require.Equal(t, "big-1", m.RequestID)
		require.Zero(t, st.Metrics().Sub(before).Lambda["router"].Invocations, "API Gateway refuses it before the integration")

		// Exactly at the limit still reaches the router (which answers: no such action).
		payload := strings.Repeat("y", 128*1024-len(`{"action":"nope","id":"fit","payload":""}`))
		c.send([]byte(`{"action":"nope","id":"fit","payload":"` + payload + `"}`))
		m = c.next()
		require.Equal(t, streamer.ErrCodeInvalidAction, m.Error.Code, m.Raw)
		require.Equal(t, "fit", m.RequestID)

		c.call(streamer.ActionPing, "", nil)
		require.Equal(t, streamer.TypePong, c.next().Type)
	})

	t.Run("BadTokens", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		expired, err := st.Token("alice", "acme", -time.Minute)
		require.NoError(t, err)
		other := newStack(t) // another stack: another signing key
		for name, tok := range map[string]string{
			"missing":        "",
			"garbage":        "not-a-jwt",
			"expired":        expired,
			"foreign issuer": token(t, other, "alice", "acme"),
		} {
			_, resp, err := tryDial(t, st, tok, nil)
			require.Error(t, err, name)
			require.NotNil(t, resp, name)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
		}
		require.Zero(t, st.Metrics().APIGateway.Connects)
		require.Zero(t, st.Metrics().Lambda["connect"].Invocations, "no $connect for a refused token")

		// The header works as well as the query string.
		c, resp, err := tryDial(t, st, "", http.Header{"Authorization": {"Bearer " + token(t, st, "alice", "acme")}})
		require.NoError(t, err, "%+v", resp)
		c.call(streamer.ActionPing, "", nil)
		require.Equal(t, streamer.TypePong, c.next().Type)
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		owner := dial(t, st, token(t, st, "alice", "acme"))
		owner.call("process_data", "shared-id", map[string]any{"items": 8, "item_ms": 100})
		require.Equal(t, streamer.TypeAck, owner.next().Type)

		for name, tok := range map[string]string{
			"other tenant, same user": token(t, st, "alice", "globex"),
			"same tenant, other user": token(t, st, "bob", "acme"),
		} {
			intruder := dial(t, st, tok)
			for _, action := range []string{streamer.ActionStatus, streamer.ActionCancel} {
				intruder.call(action, "", map[string]any{"id": "shared-id"})
				m := intruder.next()
				require.Equal(t, streamer.TypeError, m.Type, "%s %s: %s", name, action, m.Raw)
				require.Contains(t, []string{streamer.ErrCodeNotFound, streamer.ErrCodeForbidden}, m.Error.Code)
			}
			// The same client id in another tenant is a different request.
			intruder.call("echo", "shared-id", map[string]any{"mine": true})
			require.Equal(t, streamer.TypeResult, intruder.next().Type)
		}

		// Nothing changed for the owner: the request completes.
		msgs := owner.terminalOf("shared-id")
		res := msgs[len(msgs)-1]
		require.Equal(t, streamer.TypeResult, res.Type, res.Raw)
		jsonEq(t, `{"items_processed":8}`, res.Data)
	})

	t.Run("Resume", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		tok := token(t, st, "alice", "acme")
		first := dial(t, st, tok)
		first.call("process_data", "r-1", map[string]any{"items": 30, "item_ms": 100})
		first.until(func(m wire) bool { return m.Type == streamer.TypeProgress && m.Percentage > 0 })
		require.NoError(t, first.ws.Close())

		second := dial(t, st, tok)
		second.call(streamer.ActionStatus, "", map[string]any{"id": "r-1"})
		status := second.next()
		require.Equal(t, streamer.TypeStatus, status.Type, status.Raw)
		require.Equal(t, "r-1", status.RequestID)
		require.Contains(t, []string{"PENDING", "PROCESSING"}, status.Status)

		rest := second.terminalOf("r-1")
		res := rest[len(rest)-1]
		require.Equal(t, streamer.TypeResult, res.Type, res.Raw)
		jsonEq(t, `{"items_processed":30}`, res.Data)
		last := status.Percentage
		progressed := false
		for _, m := range rest {
			if m.Type == streamer.TypeProgress {
				require.GreaterOrEqual(t, m.Percentage, last)
				last, progressed = m.Percentage, true
			}
		}
		require.True(t, progressed, "the rest of the progress reaches the new connection")
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))
		c.call("process_data", "c-1", map[string]any{"items": 100, "item_ms": 100})
		c.until(func(m wire) bool { return m.Type == streamer.TypeProgress })
		c.call(streamer.ActionCancel, "", map[string]any{"id": "c-1"})
		msgs := c.terminalOf("c-1")
		var sawStatus bool
		for _, m := range msgs {
			sawStatus = sawStatus || m.Type == streamer.TypeStatus
		}
		require.True(t, sawStatus, "cancel answers status")
		term := msgs[len(msgs)-1]
		require.Equal(t, streamer.TypeError, term.Type, term.Raw)
		require.Equal(t, streamer.ErrCodeCancelled, term.Error.Code)

		c.call(streamer.ActionStatus, "", map[string]any{"id": "c-1"})
		m := c.next()
		require.Equal(t, "CANCELLED", m.Status, m.Raw)
	})

	// Not parallel with its siblings: it measures, and runs alone while they wait.
	t.Run("FiftyJobsOnOneShard", func(t *testing.T) {
		st := newStack(t)
		c := dial(t, st, token(t, st, "alice", "acme"))
		const jobs = 50
		start := time.Now()
		for i := range jobs {
			c.call("process_data", fmt.Sprintf("j-%d", i), map[string]any{"items": 10, "item_ms": 100})
		}
		done := map[string]bool{}
		for len(done) < jobs {
			m := c.next()
			if m.terminal() {
				require.Equal(t, streamer.TypeResult, m.Type, m.Raw)
				done[m.RequestID] = true
			}
		}
		elapsed := time.Since(start)
		t.Logf("%d one-second jobs on one shard finished in %s", jobs, elapsed.Round(time.Millisecond))
		require.Less(t, elapsed, 10*time.Second, "the dispatcher must not serialise long work")
		require.Eventually(t, func() bool { return st.Metrics().Lambda["worker"].Invocations == jobs },
			waitFor, 10*time.Millisecond, "one worker invocation per job")
	})
}

func TestProtocolInMemory(t *testing.T) {
	t.Parallel()
	protocolSuite(t, func(t *testing.T) *Stack { return startStack(t, Config{}) })
}

// TestProtocolOnDynamoDBLocal runs the same suite with the DynamoDB store and the real
// DynamoDB Streams API, when STREAMER_TEST_DYNAMODB_ENDPOINT names a DynamoDB Local.
func TestProtocolOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	endpoint := os.Getenv("STREAMER_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		const reason = "STREAMER_TEST_DYNAMODB_ENDPOINT is not set (start DynamoDB Local and point it there)"
		if os.Getenv("CI") == "true" || os.Getenv("STREAMER_REQUIRE_DYNAMODB") == "1" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	protocolSuite(t, func(t *testing.T) *Stack { return startStack(t, Config{DynamoDBEndpoint: endpoint}) })
}
