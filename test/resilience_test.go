package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/conformance"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// resilienceTenant is the tenant of the users these tests mint tokens for.
const resilienceTenant = "tenant-a"

// TestNeverReadingClientLeavesRSSBounded: a client that tries to send 150 MB of 100 KB
// echoes and never reads a reply. The `streamer local` process stops reading it once its
// replies fill the TCP buffers, so the client's writes stall (TCP pushes back) or the
// stack drops it when its writes time out; the process's peak RSS stays under 150 MB,
// and another connection is still answered.
func TestNeverReadingClientLeavesRSSBounded(t *testing.T) {
	const total, limit = 150 << 20, 150 << 20
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ls := startLocal(t)
	before := ls.peakRSS(t)

	ws, _, err := websocket.DefaultDialer.DialContext(ctx, ls.wsURL+"?token="+url.QueryEscape(ls.token(t, "mallory", "initech", time.Hour)), nil)
	require.NoError(t, err)
	defer ws.Close()
	frame := []byte(`{"action":"echo","id":"flood","payload":"` + strings.Repeat("x", 100<<10) + `"}`)
	// The flood ends one of two ways: the client's write stalls (TCP pushes back), or the
	// stack drops the connection once its own write to the client has timed out. Either
	// way the stack did not take in what the client kept sending.
	sent, stopped := 0, ""
	for sent < total {
		require.NoError(t, ws.SetWriteDeadline(time.Now().Add(10*time.Second)))
		err := ws.WriteMessage(websocket.TextMessage, frame)
		var ne net.Error
		switch {
		case err == nil:
			sent += len(frame)
			continue
		case errors.As(err, &ne) && ne.Timeout():
			stopped = "the client's write stalled"
		case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
			stopped = "the stack dropped the connection"
		default:
			require.NoError(t, err)
		}
		break
	}
	peak := ls.peakRSS(t)
	t.Logf("peak RSS of streamer local: %d MB at start, %d MB after the client sent %d MB (%s)", before>>20, peak>>20, sent>>20, stopped)
	require.NotEmpty(t, stopped, "the whole 150 MB went into a stack whose replies are never read")
	require.Less(t, peak, int64(limit), "peak RSS of the stack")

	other := conformance.Dial(ctx, t, ls.wsURL, ls.token(t, "alice", resilienceTenant, time.Hour))
	other.Call(actionEcho, "still-served", map[string]any{"n": 1})
	require.Equal(t, protocol.TypeResult, other.Collect("still-served")[0].Type, "another connection is answered")
}

// TestKillAndRestartOnDynamoDB kills `streamer local` on DynamoDB Local (SIGKILL: no
// shutdown) while acknowledged jobs are queued or running, and starts it again on the
// same tables. The client reconnects and asks for each job's status: every acknowledged
// job ends with exactly one outcome (a terminal message, or a status that is already
// terminal), and nothing more comes.
func TestKillAndRestartOnDynamoDB(t *testing.T) {
	const jobs, items, itemMS = 6, 30, 200 // 6 s of work each
	flags := dynamoDBFlags(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	user, run := "crash-"+strings.ToLower(rand.Text()[:8]), strings.ToLower(rand.Text()[:8])

	first := startLocal(t, flags...)
	s := conformance.Dial(ctx, t, first.wsURL, first.token(t, user, resilienceTenant, time.Hour))
	for i := range jobs {
		s.Call(actionProcessData, fmt.Sprintf("%s-%d", run, i), processData(items, itemMS))
	}
	acked, endedBefore := map[string]bool{}, map[string]int{}
	progressed := false
	for len(acked) < jobs || !progressed {
		f := s.Next()
		switch {
		case f.Type == protocol.TypeAck:
			acked[f.RequestID] = true
		case f.Type == protocol.TypeProgress:
			progressed = true
		case f.Terminal():
			require.True(t, acked[f.RequestID], "a job refused before its ack: %s", f.Raw)
			endedBefore[f.RequestID]++
		}
	}
	first.kill(t) // mid-run: the jobs are queued or running
	t.Logf("killed with %d jobs acknowledged, %d ended before the kill", len(acked), len(endedBefore))

	second := startLocal(t, flags...)
	s2 := conformance.Dial(ctx, t, second.wsURL, second.token(t, user, resilienceTenant, time.Hour))
	var resumed []string
	for id := range acked {
		if endedBefore[id] == 0 {
			resumed = append(resumed, id)
			s2.System(protocol.ActionStatus, id)
		}
	}
	slices.Sort(resumed)
	outcomes := map[string][]conformance.Frame{}
	for len(outcomes) < len(resumed) {
		f := s2.Next()
		if !slices.Contains(resumed, f.RequestID) || !outcome(f) {
			continue
		}
		outcomes[f.RequestID] = append(outcomes[f.RequestID], f)
	}
	for _, id := range resumed {
		s2.Quiet(id) // no second outcome
	}
	for _, id := range resumed {
		got := outcomes[id]
		require.Len(t, got, 1, "%s: exactly one outcome after the restart", id)
		f := got[0]
		if f.Type == protocol.TypeStatus {
			require.Equal(t, protocol.StatusCompleted, f.Status, f.Raw)
			require.JSONEq(t, fmt.Sprintf(`{"items_processed":%d}`, items), string(f.Result), f.Raw)
			continue
		}
		require.Equal(t, protocol.TypeResult, f.Type, f.Raw)
		require.JSONEq(t, fmt.Sprintf(`{"items_processed":%d}`, items), string(f.Data), f.Raw)
	}
	for id, n := range endedBefore {
		require.Equal(t, 1, n, "%s: one terminal message before the kill", id)
	}
}

// outcome reports whether f tells a client how its request ended: a terminal message, or
// the answer to streamer.status of a request that had already ended.
func outcome(f conformance.Frame) bool {
	if f.Type == protocol.TypeStatus {
		return slices.Contains([]string{protocol.StatusCompleted, protocol.StatusFailed, protocol.StatusCancelled}, f.Status)
	}
	return f.Terminal()
}
