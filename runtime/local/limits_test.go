package local

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/store"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// TestBurstOverTheLimit sends a 300-job burst from one user against the default limits
// while a user of another tenant sends jobs of their own: the excess is refused with
// RATE_LIMITED, the other tenant's jobs all run, every accepted job ends with exactly one
// terminal message, and nothing stays counted in flight. On the in-memory store and on
// DynamoDB Local.
func TestBurstOverTheLimit(t *testing.T) {
	t.Parallel()
	for name, cfg := range stores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testBurstOverTheLimit(t, startStack(t, cfg(t)))
		})
	}
}

func testBurstOverTheLimit(t *testing.T, st *Stack) {
	const burst, others = 300, 8
	flood := dial(t, st, token(t, st, "mallory", "initech"))
	calm := dial(t, st, token(t, st, "alice", "acme"))
	job := map[string]any{"items": 5, "item_ms": 40}
	start := time.Now()
	for i := range burst {
		flood.call("process_data", fmt.Sprint("f-", i), job)
	}
	for i := range others {
		calm.call("process_data", fmt.Sprint("c-", i), job)
	}

	// Every frame is answered: an ack (then progress and one terminal message) or
	// RATE_LIMITED, which ends that request.
	acked, limited := collect(t, flood, burst)
	elapsed := time.Since(start)
	t.Logf("burst of %d: %d acknowledged, %d RATE_LIMITED, in %s", burst, len(acked), limited, elapsed)
	require.Equal(t, burst, len(acked)+limited)
	require.NotEmpty(t, acked)
	// The user's bucket: 20 at once, then one a second while the burst was answered.
	lim, err := store.Limits{}.WithDefaults()
	require.NoError(t, err)
	require.LessOrEqual(t, float64(len(acked)), float64(lim.UserBurst)+lim.UserRate*elapsed.Seconds()+1, "the excess is refused")
	calmAcked, calmLimited := collect(t, calm, others)
	require.Zero(t, calmLimited, "another tenant's jobs run normally")
	require.Len(t, calmAcked, others)

	for _, c := range []struct {
		tenant, user string
	}{{"initech", "mallory"}, {"acme", "alice"}} {
		usage, err := st.InFlight(t.Context(), c.tenant, c.user)
		require.NoError(t, err)
		require.Equal(t, store.Usage{}, usage, "nothing stays counted in flight for %s", c.user)
	}
	flood.call("echo", "e-1", map[string]any{"still": "usable"})
	require.Equal(t, protocol.TypeResult, flood.terminalOf("e-1")[0].Type, "the socket stays usable")
}

// collect reads a connection's messages until each of its n requests has ended and
// returns the ids that were acknowledged, checking that each had exactly one terminal
// message after its ack, and how many were refused with RATE_LIMITED.
func collect(t *testing.T, c *client, n int) (acked map[string][]wire, limited int) {
	t.Helper()
	acked = map[string][]wire{}
	ended := map[string]bool{}
	for len(ended) < n {
		m := c.next()
		switch {
		case m.Type == protocol.TypeAck:
			acked[m.RequestID] = []wire{m}
		case m.Type == protocol.TypeError && m.Error != nil && m.Error.Code == streamer.ErrCodeRateLimited && acked[m.RequestID] == nil:
			require.True(t, m.Error.Retryable(), m.Raw)
			require.Positive(t, m.Error.Retry.AfterMS, m.Raw)
			require.False(t, ended[m.RequestID], "one answer per refused request")
			ended[m.RequestID] = true
			limited++
		default:
			require.Contains(t, acked, m.RequestID, "a message of a request never acknowledged: %s", m.Raw)
			acked[m.RequestID] = append(acked[m.RequestID], m)
			if m.terminal() {
				require.False(t, ended[m.RequestID], "a second terminal message: %s", m.Raw)
				ended[m.RequestID] = true
				require.Equal(t, protocol.TypeResult, m.Type, m.Raw)
			}
		}
	}
	for _, msgs := range acked {
		checkAsyncOrder(t, msgs)
	}
	c.quiet(200 * time.Millisecond) // and no second terminal message after all
	return acked, limited
}
