package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/client"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// testClientSurvivesServerDrop drops the client's socket from the server side in the
// middle of a call, as API Gateway does after 2 hours (DeleteConnection on the
// @connections API): the client reconnects, resumes the request with streamer.status and
// the call ends with the right result, its caller none the wiser.
func testClientSurvivesServerDrop(t *testing.T, b *bundle) {
	ls := b.needLocal("dropping a connection needs its id, which only the stack's logs show, and the @connections API")
	c := b.client(client.Options{ReconnectBaseDelay: 50 * time.Millisecond})
	// 5 s of work: the drop, after the first progress, comes well before the end even on
	// a loaded machine, so the call is still running when its socket goes away.
	call, err := c.Call(b.ctx, actionProcessData, processData(50, 100), client.WithID(b.id("dropped")))
	require.NoError(t, err)

	before := waitProgress(t, b, call)
	ls.dropConnection(b.ctx, t, ls.connectionID(b.ctx, t, b.user))
	dropped := time.Now()

	after, updates := before.Percentage, 0
	for p := range call.Progress() {
		require.GreaterOrEqual(t, p.Percentage, after, "progress went down across the reconnect")
		after = p.Percentage
		updates++
	}
	res, err := call.Wait(b.ctx)
	require.NoError(t, err)
	require.JSONEq(t, `{"items_processed":50}`, string(res.Data))
	require.Equal(t, 1, c.Reconnects(), "the client reconnected once")
	require.NotZero(t, updates, "progress went on after the reconnect")
	require.InDelta(t, 100, after, 0.001, "the last progress reached the resumed call")
	t.Logf("server-side drop at %.0f%%: call completed %s later after 1 reconnect, %d progress updates after the drop",
		before.Percentage, time.Since(dropped).Round(time.Millisecond), updates)

	// The new socket serves new calls.
	require.NoError(t, c.Ping(b.ctx))
}

// waitProgress returns the call's first progress update.
func waitProgress(t *testing.T, b *bundle, call *client.Call) protocol.ProgressMessage {
	t.Helper()
	select {
	case p, ok := <-call.Progress():
		require.True(t, ok, "the call ended before any progress")
		return p
	case <-b.ctx.Done():
		t.Fatal("no progress")
	}
	return protocol.ProgressMessage{}
}
