package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/protocol"
)

// TestNeverReadingClientLeavesRSSBounded: a client that tries to send 150 MB of 100 KB
// echoes and never reads a reply. The `streamer local` process stops reading it once its
// replies fill the TCP buffers, so the client's writes stall (TCP pushes back) and the
// process's peak RSS stays under 150 MB; another connection is still answered.
func TestNeverReadingClientLeavesRSSBounded(t *testing.T) {
	const total, limit = 150 << 20, 150 << 20
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ls := startLocal(t)
	before := ls.peakRSS(t)

	ws, _, err := tryDial(ctx, t, ls.wsURL, ls.token(t, "mallory", "initech", time.Hour))
	require.NoError(t, err)
	defer ws.Close()
	frame := []byte(`{"action":"echo","id":"flood","payload":"` + strings.Repeat("x", 100<<10) + `"}`)
	sent, stalled := 0, false
	for sent < total {
		require.NoError(t, ws.SetWriteDeadline(time.Now().Add(10*time.Second)))
		if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "the write stalls, the connection is not dropped: %v", err)
			stalled = true
			break
		}
		sent += len(frame)
	}
	peak := ls.peakRSS(t)
	t.Logf("peak RSS of streamer local: %d MB at start, %d MB after the client sent %d MB (stalled: %v)", before>>20, peak>>20, sent>>20, stalled)
	require.True(t, stalled, "the whole 150 MB went into a stack whose replies are never read")
	require.Less(t, peak, int64(limit), "peak RSS of the stack")

	other := dialSocket(ctx, t, ls.wsURL, ls.token(t, "alice", tenantA, time.Hour))
	other.call(actionEcho, "still-served", map[string]any{"n": 1})
	require.Equal(t, protocol.TypeResult, other.collect("still-served")[0].Type, "another connection is answered")
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
	s := dialSocket(ctx, t, first.wsURL, first.token(t, user, tenantA, time.Hour))
	for i := range jobs {
		s.call(actionProcessData, fmt.Sprintf("%s-%d", run, i), processData(items, itemMS))
	}
	acked, endedBefore := map[string]bool{}, map[string]int{}
	progressed := false
	for len(acked) < jobs || !progressed {
		f := s.next()
		switch {
		case f.Type == protocol.TypeAck:
			acked[f.RequestID] = true
		case f.Type == protocol.TypeProgress:
			progressed = true
		case f.terminal():
			require.True(t, acked[f.RequestID], "a job refused before its ack: %s", f.raw)
			endedBefore[f.RequestID]++
		}
	}
	first.kill(t) // mid-run: the jobs are queued or running
	t.Logf("killed with %d jobs acknowledged, %d ended before the kill", len(acked), len(endedBefore))

	second := startLocal(t, flags...)
	s2 := dialSocket(ctx, t, second.wsURL, second.token(t, user, tenantA, time.Hour))
	var resumed []string
	for id := range acked {
		if endedBefore[id] == 0 {
			resumed = append(resumed, id)
			s2.call(protocol.ActionStatus, "", map[string]string{"id": id})
		}
	}
	slices.Sort(resumed)
	outcomes := map[string][]frame{}
	for len(outcomes) < len(resumed) {
		f := s2.next()
		if !slices.Contains(resumed, f.RequestID) || !outcome(f) {
			continue
		}
		outcomes[f.RequestID] = append(outcomes[f.RequestID], f)
	}
	for _, id := range resumed {
		s2.quiet(id) // no second outcome
	}
	for _, id := range resumed {
		got := outcomes[id]
		require.Len(t, got, 1, "%s: exactly one outcome after the restart", id)
		f := got[0]
		if f.Type == protocol.TypeStatus {
			require.Equal(t, protocol.StatusCompleted, f.Status, f.raw)
			require.JSONEq(t, fmt.Sprintf(`{"items_processed":%d}`, items), string(f.Result), f.raw)
			continue
		}
		require.Equal(t, protocol.TypeResult, f.Type, f.raw)
		require.JSONEq(t, fmt.Sprintf(`{"items_processed":%d}`, items), string(f.Data), f.raw)
	}
	for id, n := range endedBefore {
		require.Equal(t, 1, n, "%s: one terminal message before the kill", id)
	}
}

// outcome reports whether f tells a client how its request ended: a terminal message, or
// the answer to streamer.status of a request that had already ended.
func outcome(f frame) bool {
	if f.Type == protocol.TypeStatus {
		return slices.Contains([]string{protocol.StatusCompleted, protocol.StatusFailed, protocol.StatusCancelled}, f.Status)
	}
	return f.terminal()
}
