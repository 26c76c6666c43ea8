package local

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/contract"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// protocolSuite exercises every guarantee of PROTOCOL.md over real sockets against a
// local stack made by newStack (from cfg and the store under test).
func protocolSuite(t *testing.T, newStack func(t *testing.T, cfg Config) *Stack) {
	t.Run("SyncEcho", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))
		before := st.Metrics()

		c.call("echo", "e-1", map[string]any{"hello": "world"})
		m := c.next()
		require.Equal(t, protocol.TypeResult, m.Type, m.Raw)
		require.Equal(t, "e-1", m.RequestID)
		require.True(t, m.Success)
		jsonEq(t, `{"hello":"world"}`, m.Data)

		c.call("echo", "e-2", nil)
		m = c.next()
		require.Equal(t, protocol.TypeError, m.Type, m.Raw)
		require.Equal(t, "e-2", m.RequestID)
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code)

		// A synchronous answer is the route response: no @connections call.
		d := st.Metrics().Sub(before)
		require.Zero(t, d.ConnectionsAPI[APIPostToConnection])
		require.Equal(t, int64(2), d.Lambda["router"].Invocations)
	})

	t.Run("GeneratedIDsAndSplitResults", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))

		// No id: the server makes one up and says which.
		c.call("echo", "", "hi")
		m := c.next()
		require.Equal(t, protocol.TypeResult, m.Type, m.Raw)
		require.NotEmpty(t, m.RequestID)

		// A result over 128 KB arrives in ordered parts that reassemble to the data: echo
		// a message of exactly 128 KB, whose result (with its envelope) is larger.
		const envelope = `{"action":"echo","id":"big-result","payload":""}`
		big := strings.Repeat("z", 128*1024-len(envelope))
		c.send([]byte(`{"action":"echo","id":"big-result","payload":"` + big + `"}`))
		var parts protocol.Reassembler
		var whole *protocol.ResultMessage
		count := 0
		for whole == nil {
			m := c.next()
			var rm protocol.ResultMessage
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
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))
		sent := time.Now()
		c.call("process_data", "p-1", map[string]any{"items": 10, "item_ms": 60})
		msgs := c.terminalOf("p-1")
		checkAsyncOrder(t, msgs)
		require.Equal(t, "PENDING", msgs[0].Status)
		res := msgs[len(msgs)-1]
		require.Equal(t, protocol.TypeResult, res.Type, res.Raw)
		jsonEq(t, `{"items_processed":10}`, res.Data)

		var progress []wire
		for _, m := range msgs {
			if m.Type == protocol.TypeProgress {
				progress = append(progress, m)
			}
		}
		require.NotEmpty(t, progress)
		require.InDelta(t, 100, progress[len(progress)-1].Percentage, 0.001, "the final state is delivered")
		// At most one progress message per 200 ms, plus the flush before the result. Every
		// one was sent after the request and before the result arrived; arrival times
		// bunch up on a loaded machine, that span cannot shrink.
		span := res.At.Sub(sent)
		require.LessOrEqual(t, len(progress), int(span/(200*time.Millisecond))+2, "progress messages: %d within %s", len(progress), span)
		c.quiet(300 * time.Millisecond) // nothing after the terminal message

		// The same id again never runs the work twice: a status with the current state
		// comes back, and nothing else.
		c.call("process_data", "p-1", map[string]any{"items": 10, "item_ms": 60})
		again := c.next()
		require.Equal(t, protocol.TypeStatus, again.Type, again.Raw)
		require.Equal(t, "p-1", again.RequestID)
		require.Equal(t, "COMPLETED", again.Status)
		jsonEq(t, `{"items_processed":10}`, again.Result)
		c.quiet(300 * time.Millisecond)
		require.Equal(t, int64(2), st.Metrics().Lambda["worker"].Invocations,
			"one invocation per delivery (the router's dispatch, the stream's record): the second ran nothing, or progress would have started over")
	})

	t.Run("BadFrames", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))

		c.send([]byte("this is not json"))
		m := c.next()
		require.Equal(t, protocol.TypeError, m.Type, m.Raw)
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

		// A bad id is not echoed: request_id is empty.
		c.call("echo", "bad id/with spaces", "x")
		m = c.next()
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code, m.Raw)
		require.Empty(t, m.RequestID)
		c.call("echo", strings.Repeat("i", 129), "x")
		m = c.next()
		require.Equal(t, streamer.ErrCodeValidation, m.Error.Code, m.Raw)
		require.Empty(t, m.RequestID)

		// Still open.
		c.call(protocol.ActionPing, "", nil)
		require.Equal(t, protocol.TypePong, c.next().Type)
	})

	t.Run("OversizedFrame", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))
		before := st.Metrics()

		big := strings.Repeat("x", 200*1024)
		c.send([]byte(`{"id":"big-1","action":"echo","payload":"` + big + `"}`))
		m := c.next()
		require.Equal(t, protocol.TypeError, m.Type, m.Raw)
		require.Equal(t, streamer.ErrCodePayloadTooLarge, m.Error.Code)
		require.Equal(t, "big-1", m.RequestID)
		require.Zero(t, st.Metrics().Sub(before).Lambda["router"].Invocations, "API Gateway refuses it before the integration")

		// Exactly at the limit still reaches the router (which answers: no such action).
		payload := strings.Repeat("y", 128*1024-len(`{"action":"nope","id":"fit","payload":""}`))
		c.send([]byte(`{"action":"nope","id":"fit","payload":"` + payload + `"}`))
		m = c.next()
		require.Equal(t, streamer.ErrCodeInvalidAction, m.Error.Code, m.Raw)
		require.Equal(t, "fit", m.RequestID)

		c.call(protocol.ActionPing, "", nil)
		require.Equal(t, protocol.TypePong, c.next().Type)
	})

	t.Run("BadTokens", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		expired, err := st.Token("alice", "acme", -time.Minute)
		require.NoError(t, err)
		other := newStack(t, Config{}) // another stack: another signing key
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
		require.EqualValues(t, 3, st.Metrics().Lambda["authorizer"].Invocations, "a missing token is refused before the authorizer runs")

		// The identity source is ?token=: a token in the header alone is refused before the
		// authorizer runs, as API Gateway does, and so is a missing token.
		bearer := http.Header{"Authorization": {"Bearer " + token(t, st, "alice", "acme")}}
		_, resp, err := tryDial(t, st, "", bearer)
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.EqualValues(t, 3, st.Metrics().Lambda["authorizer"].Invocations, "no authorizer run without the identity source")

		// With the header as the identity source, the header is what counts.
		hs := newStack(t, Config{IdentitySource: []string{contract.IdentitySourceAuthorizationHeader}})
		_, resp, err = tryDial(t, hs, token(t, hs, "alice", "acme"), nil)
		require.Error(t, err)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the query parameter alone does not carry the header identity source")
		c, resp, err := tryDial(t, hs, "", http.Header{"Authorization": {"Bearer " + token(t, hs, "alice", "acme")}})
		require.NoError(t, err, "%+v", resp)
		c.call(protocol.ActionPing, "", nil)
		require.Equal(t, protocol.TypePong, c.next().Type)
	})

	t.Run("UnusableIdentity", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		// Signed by the stack's own issuer and valid, but no store could key them: the
		// authorizer refuses them at $connect instead of every frame failing later.
		for name, tok := range map[string]string{
			"tenant with #": token(t, st, "alice", "ac#me"),
			"user with #":   token(t, st, "al#ice", "acme"),
			"10 KB tenant":  token(t, st, "alice", strings.Repeat("t", 10<<10)),
		} {
			_, resp, err := tryDial(t, st, tok, nil)
			require.Error(t, err, name)
			require.NotNil(t, resp, name)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
		}
		require.Zero(t, st.Metrics().APIGateway.Connects)
		require.Zero(t, st.Metrics().Lambda["connect"].Invocations, "no $connect for a refused identity")
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		owner := dial(t, st, token(t, st, "alice", "acme"))
		owner.call("process_data", "shared-id", map[string]any{"items": 8, "item_ms": 100})
		require.Equal(t, protocol.TypeAck, owner.next().Type)

		for name, tok := range map[string]string{
			"other tenant, same user": token(t, st, "alice", "globex"),
			"same tenant, other user": token(t, st, "bob", "acme"),
		} {
			intruder := dial(t, st, tok)
			for _, action := range []string{protocol.ActionStatus, protocol.ActionCancel} {
				intruder.call(action, "", map[string]any{"id": "shared-id"})
				m := intruder.next()
				require.Equal(t, protocol.TypeError, m.Type, "%s %s: %s", name, action, m.Raw)
				require.Contains(t, []string{streamer.ErrCodeNotFound, streamer.ErrCodeForbidden}, m.Error.Code)
			}
			// Claiming the owner's identity in the message changes nothing: identity comes
			// from the token only.
			intruder.send(map[string]any{"action": protocol.ActionCancel, "user_id": "alice", "tenant_id": "acme",
				"payload": map[string]any{"id": "shared-id", "user_id": "alice", "tenant_id": "acme"}})
			m := intruder.next()
			require.Equal(t, protocol.TypeError, m.Type, "%s: %s", name, m.Raw)
			require.Contains(t, []string{streamer.ErrCodeNotFound, streamer.ErrCodeForbidden}, m.Error.Code)
			// The same client id in another tenant is a different request.
			intruder.call("echo", "shared-id", map[string]any{"mine": true})
			require.Equal(t, protocol.TypeResult, intruder.next().Type)
		}

		// Nothing changed for the owner: the request completes.
		msgs := owner.terminalOf("shared-id")
		res := msgs[len(msgs)-1]
		require.Equal(t, protocol.TypeResult, res.Type, res.Raw)
		jsonEq(t, `{"items_processed":8}`, res.Data)
	})

	t.Run("Resume", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		tok := token(t, st, "alice", "acme")
		first := dial(t, st, tok)
		first.call("process_data", "r-1", map[string]any{"items": 30, "item_ms": 100})
		first.until(func(m wire) bool { return m.Type == protocol.TypeProgress && m.Percentage > 0 })
		require.NoError(t, first.ws.Close())

		second := dial(t, st, tok)
		second.call(protocol.ActionStatus, "", map[string]any{"id": "r-1"})
		status := second.next()
		require.Equal(t, protocol.TypeStatus, status.Type, status.Raw)
		require.Equal(t, "r-1", status.RequestID)
		require.Contains(t, []string{"PENDING", "PROCESSING"}, status.Status)

		rest := second.terminalOf("r-1")
		res := rest[len(rest)-1]
		require.Equal(t, protocol.TypeResult, res.Type, res.Raw)
		jsonEq(t, `{"items_processed":30}`, res.Data)
		last := status.Percentage
		progressed := false
		for _, m := range rest {
			if m.Type == protocol.TypeProgress {
				require.GreaterOrEqual(t, m.Percentage, last)
				last, progressed = m.Percentage, true
			}
		}
		require.True(t, progressed, "the rest of the progress reaches the new connection")
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))
		c.call("process_data", "c-1", map[string]any{"items": 100, "item_ms": 100})
		c.until(func(m wire) bool { return m.Type == protocol.TypeProgress })
		c.call(protocol.ActionCancel, "", map[string]any{"id": "c-1"})
		msgs := c.terminalOf("c-1")
		var sawStatus bool
		for _, m := range msgs {
			sawStatus = sawStatus || m.Type == protocol.TypeStatus
		}
		require.True(t, sawStatus, "cancel answers status")
		term := msgs[len(msgs)-1]
		require.Equal(t, protocol.TypeError, term.Type, term.Raw)
		require.Equal(t, streamer.ErrCodeCancelled, term.Error.Code)

		c.call(protocol.ActionStatus, "", map[string]any{"id": "c-1"})
		m := c.next()
		require.Equal(t, "CANCELLED", m.Status, m.Raw)

		// Cancelling a finished request changes nothing and sends no second terminal.
		for id, status := range map[string]string{"c-1": "CANCELLED", "c-2": "COMPLETED"} {
			if id == "c-2" {
				c.call("process_data", id, map[string]any{"items": 1, "item_ms": 0})
				done := c.terminalOf(id)
				require.Equal(t, protocol.TypeResult, done[len(done)-1].Type, done[len(done)-1].Raw)
			}
			c.call(protocol.ActionCancel, "", map[string]any{"id": id})
			m := c.next()
			require.Equal(t, protocol.TypeStatus, m.Type, m.Raw)
			require.Equal(t, status, m.Status, m.Raw)
		}
		c.quiet(300 * time.Millisecond)
	})

	t.Run("StatusOfALargeResult", func(t *testing.T) {
		t.Parallel()
		st := newStack(t, Config{})
		c := dial(t, st, token(t, st, "alice", "acme"))
		c.call("process_data", "big-1", map[string]any{"items": 1, "item_ms": 0, "result_kb": 300})
		pushed := c.terminalOf("big-1")
		require.NotNil(t, reassemble(t, pushed[1:]), "the pushed result comes in parts")

		// Asked for later, the result comes first as parts, then the status without it.
		c.call(protocol.ActionStatus, "", map[string]any{"id": "big-1"})
		msgs := c.until(func(m wire) bool { return m.Type == protocol.TypeStatus })
		require.Greater(t, len(msgs), 2, "parts, then the status")
		whole := reassemble(t, msgs[:len(msgs)-1])
		require.NotNil(t, whole)
		require.Contains(t, string(whole.Data), `"items_processed":1`)
		status := msgs[len(msgs)-1]
		require.Equal(t, "COMPLETED", status.Status, status.Raw)
		require.Equal(t, "null", string(status.Result), "the result is not repeated in the status")
	})

	// Not parallel with its siblings: it measures, and runs alone while they wait.
	t.Run("FiftyJobsOnOneShard", func(t *testing.T) {
		const jobs = 50
		// One user with 50 jobs at once, more than the default limits let in: this is about
		// dispatch, so no limits (each would add a read and a write before the ack).
		app := testApp(t, lambdas.WithLimits(store.NoLimits()))
		st := newStack(t, Config{Shards: 1, App: app})
		c := dial(t, st, token(t, st, "alice", "acme"))
		start := time.Now()
		for i := range jobs {
			c.call("process_data", fmt.Sprintf("j-%d", i), map[string]any{"items": 20, "item_ms": 100})
		}
		// Each job runs from its first progress message to its terminal one, as the
		// client sees it; the most jobs running at once shows whether the one shard's
		// records were dispatched or worked through a few at a time.
		first, done := map[string]time.Time{}, map[string]time.Time{}
		for len(done) < jobs {
			m := c.next()
			switch {
			case m.Type == protocol.TypeProgress && first[m.RequestID].IsZero():
				first[m.RequestID] = m.At
			case m.terminal():
				require.Equal(t, protocol.TypeResult, m.Type, m.Raw)
				done[m.RequestID] = m.At
			}
		}
		elapsed := time.Since(start)
		peak := mostAtOnce(first, done)
		t.Logf("%d two-second jobs on one shard finished in %s; at most %d ran at once", jobs, elapsed.Round(time.Millisecond), peak)
		// One at a time, or ten at a time (a stream consumer with the largest
		// ParallelizationFactor), at most 1 or 10 would run together. The peak is the
		// check, not the elapsed time, which a loaded machine stretches (to a minute,
		// seen); jobs of 2 s leave it time to start 41 of them before the first ends.
		require.Greater(t, peak, 40, "the dispatcher must not serialise long work")
		// Two worker invocations per job when the router's dispatch reached the worker (the
		// stream's record then runs nothing), one when the dispatch gave up after its
		// DispatchTimeout, which a loaded machine can exceed, and the stream delivered it.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.GreaterOrEqual(c, st.Metrics().Lambda["worker"].Invocations, int64(jobs), "a worker invocation per job at least")
		}, waitFor, 10*time.Millisecond)
		require.LessOrEqual(t, st.Metrics().Lambda["worker"].Invocations, int64(2*jobs), "two worker invocations per job at most")
	})
}

// mostAtOnce returns the largest number of the intervals [from[id], to[id]] that
// overlap at one instant.
func mostAtOnce(from, to map[string]time.Time) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for id, f := range from {
		edges = append(edges, edge{f, 1}, edge{to[id], -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	running, peak := 0, 0
	for _, e := range edges {
		running += e.delta
		peak = max(peak, running)
	}
	return peak
}

// reassemble puts the result parts among msgs back together; nil when they do not
// make a whole result.
func reassemble(t *testing.T, msgs []wire) *protocol.ResultMessage {
	t.Helper()
	var parts protocol.Reassembler
	for _, m := range msgs {
		var rm protocol.ResultMessage
		require.NoError(t, json.Unmarshal([]byte(m.Raw), &rm))
		if rm.Part == nil {
			continue
		}
		require.LessOrEqual(t, len(m.Raw), 128*1024, "each part fits in a message")
		whole, ok, err := parts.Add(rm)
		require.NoError(t, err)
		if ok {
			return whole
		}
	}
	return nil
}

func TestProtocolInMemory(t *testing.T) {
	t.Parallel()
	protocolSuite(t, startStack)
}

// TestProtocolOnDynamoDBLocal runs the same suite with the DynamoDB store and the real
// DynamoDB Streams API, when STREAMER_TEST_DYNAMODB_ENDPOINT names a DynamoDB Local.
func TestProtocolOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	dynamoDBConfig(t) // skips here, not in each subtest
	protocolSuite(t, func(t *testing.T, cfg Config) *Stack {
		ddb := dynamoDBConfig(t)
		cfg.DynamoDBEndpoint, cfg.TablePrefix, cfg.DropTablesOnShutdown = ddb.DynamoDBEndpoint, ddb.TablePrefix, ddb.DropTablesOnShutdown
		return startStack(t, cfg)
	})
}
