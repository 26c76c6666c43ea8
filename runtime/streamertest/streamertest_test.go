package streamertest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamer"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

func TestSenderWithReporter(t *testing.T) {
	t.Parallel()
	sender := streamertest.NewSender()
	r := progress.New(t.Context(), "req-1", "conn-1", sender, progress.Options{Interval: time.Hour})
	require.NoError(t, r.Report(25, "loading", map[string]any{"items": 10}))
	res, err := r.Complete(map[string]any{"ok": true})
	require.NoError(t, err)
	require.True(t, res.Success)

	msgs := sender.GetMessages("conn-1")
	require.Len(t, msgs, 2)
	var p protocol.ProgressMessage
	require.NoError(t, msgs[0].Decode(&p))
	require.Equal(t, 25.0, p.Percentage)
	require.Equal(t, "loading", p.Message)
	require.IsType(t, &protocol.ProgressMessage{}, msgs[0].Value, "the value sent is kept")
	require.Equal(t, protocol.TypeResult, msgs[1].Type)
	require.Equal(t, map[string]any{"ok": true}, msgs[1].Fields["data"])
	require.Error(t, msgs[1].Decode(new(int)))
	require.Empty(t, sender.GetMessages("other"))

	// What the real manager refuses, the fake refuses with the same error.
	require.ErrorContains(t, sender.Send(t.Context(), "c", make(chan int)), "connection: encode message")
	require.Error(t, sender.Send(t.Context(), "c", nil))
	require.Empty(t, sender.GetMessages("c"), "refused messages are not recorded")
}

func TestFakesAreSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	send := streamertest.NewSender()
	rep := streamertest.NewSender()
	full := streamertest.NewConnectionManager()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			id := fmt.Sprint("c", i%5)
			_ = send.Send(t.Context(), id, []byte(`{"type":"pong"}`))
			rep.SetActive(id, i%2 == 0)
			_ = rep.Send(t.Context(), id, []byte(`{}`))
			_ = full.Send(t.Context(), id, []byte(`{}`))
			_ = full.Broadcast(t.Context(), []string{id}, []byte(`{}`))
			full.IsActive(t.Context(), id)
			full.GetMetrics()
		})
	}
	wg.Wait()
	total := 0
	for i := range 5 {
		total += len(send.GetMessages(fmt.Sprint("c", i)))
	}
	require.Equal(t, 50, total)
	require.Equal(t, 50, full.CallCount("Send"))
	require.Equal(t, 50, full.CallCount("Broadcast"))
	require.Equal(t, 50, full.CallCount("IsActive"))
	require.Equal(t, 50, full.GetMetrics()["Send"])
}

func TestSenderInactive(t *testing.T) {
	t.Parallel()
	sender := streamertest.NewSender()
	sender.SetActive("a", true)
	sender.SetActive("b", false)
	require.True(t, sender.IsActive(t.Context(), "a"))
	require.False(t, sender.IsActive(t.Context(), "b"))
	require.True(t, sender.IsActive(t.Context(), "unknown"))

	r := progress.New(t.Context(), "req", "b", sender, progress.Options{Interval: time.Hour})
	require.ErrorIs(t, r.Fail(streamer.NewError(streamer.ErrCodeTimeout, "slow")), connection.ErrGone)
	require.Empty(t, sender.GetMessages("b"))
	sender.SetActive("b", true)
	require.NoError(t, sender.Send(t.Context(), "b", []byte(`{}`)))
	require.Len(t, sender.GetMessages("b"), 1)
}

func TestConnectionManagerHooks(t *testing.T) {
	t.Parallel()
	fake := streamertest.NewConnectionManager()
	boom := errors.New("boom")
	fake.SendFunc = func(context.Context, string, any) error { return boom }
	fake.BroadcastFunc = func(_ context.Context, ids []string, _ any) error {
		if len(ids) > 2 {
			return boom
		}
		return nil
	}
	fake.GetMetricsFunc = func() map[string]any { return map[string]any{"sent": 7} }

	require.ErrorIs(t, fake.Send(t.Context(), "c", []byte(`{}`)), boom)
	require.ErrorIs(t, fake.Broadcast(t.Context(), []string{"a", "b", "c"}, []byte(`{}`)), boom)
	require.NoError(t, fake.Broadcast(t.Context(), []string{"a", "b"}, []byte(`{"type":"pong"}`)))
	require.True(t, fake.IsActive(t.Context(), "x"))
	require.Equal(t, map[string]any{"sent": 7}, fake.GetMetrics())
	require.Empty(t, fake.GetMessages("c"))
	require.Len(t, fake.GetMessages("a"), 1)
	require.Equal(t, "pong", fake.GetMessages("b")[0].Type)
	require.Equal(t, 1, fake.CallCount("Send"))
	require.Equal(t, 2, fake.CallCount("Broadcast"))
	require.Equal(t, 1, fake.CallCount("GetMetrics"))
	require.Zero(t, fake.CallCount("Nope"))
}

// The other names of the fakes are the same types, made ready to use by their New
// functions, and used as they always were.
func TestOtherNamesAreTheFakes(t *testing.T) {
	t.Parallel()
	var sendOnly *streamertest.Sender = streamertest.NewSendOnlyMock()
	sendOnly.SendFunc = func(_ context.Context, connectionID string, _ any) error {
		if connectionID == "banned" {
			return errors.New("user banned")
		}
		return nil
	}
	require.Error(t, sendOnly.Send(t.Context(), "banned", []byte(`{}`)))
	require.NoError(t, sendOnly.Send(t.Context(), "conn-123", []byte(`{}`)))
	require.Len(t, sendOnly.GetMessages("conn-123"), 1)

	var reporterMock *streamertest.Sender = streamertest.NewProgressReporterMock()
	reporterMock.SetActive("inactive-conn", false)
	r := progress.New(t.Context(), "req-123", "active-conn", reporterMock, progress.Options{Interval: time.Hour})
	require.NoError(t, r.Report(50, "Halfway done!"))
	require.Len(t, reporterMock.GetMessages("active-conn"), 1)
	require.ErrorIs(t, reporterMock.Send(t.Context(), "inactive-conn", []byte(`{}`)), connection.ErrGone)

	var full *streamertest.ConnectionManager = streamertest.NewMockConnectionManager()
	full.IsActiveFunc = func(context.Context, string) bool { return false }
	require.NoError(t, full.Send(t.Context(), "conn-123", []byte(`{}`)))
	require.False(t, full.IsActive(t.Context(), "conn-123"))
	require.Equal(t, 1, full.CallCount("Send"))

	var testAPI *streamertest.APIGateway = streamertest.NewTestableAPIGatewayClient(t)
	testAPI.AddConnection("conn-123", &streamertest.ConnectionInfo{IP: "192.168.1.1"})
	testAPI.SimulateGoneError("conn-456")
	mgr := connection.NewManager(nil, testAPI.Client(), connection.Options{})
	require.NoError(t, mgr.Send(t.Context(), "conn-123", []byte(`{}`)))
	require.ErrorIs(t, mgr.Send(t.Context(), "conn-456", []byte(`{}`)), connection.ErrGone)
	require.Len(t, testAPI.GetMessages("conn-123"), 1)
}

func TestAPIGatewaySpeaksConnectionsAPI(t *testing.T) {
	t.Parallel()
	gw := streamertest.NewAPIGateway(t)
	connected := time.Date(2026, 11, 27, 10, 0, 0, 123e6, time.UTC)
	gw.AddConnection("c=1", &streamertest.ConnectionInfo{IP: "192.168.1.1", UserAgent: "ua", ConnectedAt: connected})
	api := gw.Client()
	ctx := t.Context()

	out, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String("c=1")})
	require.NoError(t, err)
	require.Equal(t, "192.168.1.1", aws.ToString(out.Identity.SourceIp))
	require.Equal(t, "ua", aws.ToString(out.Identity.UserAgent))
	require.True(t, connected.Equal(aws.ToTime(out.ConnectedAt)))

	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c=1"), Data: []byte(`{"type":"pong"}`)})
	require.NoError(t, err)
	require.Equal(t, "pong", gw.GetMessages("c=1")[0].Type)
	require.Nil(t, gw.GetMessages("c=1")[0].Value)

	// Over 128 KiB: PayloadTooLargeException, nothing delivered.
	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c=1"), Data: []byte(`"` + strings.Repeat("x", protocol.MaxMessageBytes) + `"`)})
	var tooLarge *types.PayloadTooLargeException
	require.ErrorAs(t, err, &tooLarge)
	require.Len(t, gw.GetMessages("c=1"), 1)

	// Every simulated status maps to the SDK's exception type.
	gw.SimulateFailure("c=1", http.StatusForbidden, 1)
	gw.SimulateThrottling("c=1", 1)
	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c=1"), Data: []byte(`{}`)})
	var forbidden *types.ForbiddenException
	require.ErrorAs(t, err, &forbidden)
	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c=1"), Data: []byte(`{}`)})
	var limit *types.LimitExceededException
	require.ErrorAs(t, err, &limit)
	require.Equal(t, 4, gw.Attempts("c=1"))

	// DELETE closes the connection; then it is gone.
	_, err = api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String("c=1")})
	require.NoError(t, err)
	require.False(t, gw.IsConnected("c=1"))
	_, err = api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String("c=1")})
	var gone *types.GoneException
	require.ErrorAs(t, err, &gone)
}

func TestTestableAPIGatewayLatency(t *testing.T) {
	t.Parallel()
	gw := streamertest.NewAPIGateway(t)
	gw.AddConnection("c", nil)
	gw.SetLatency(50 * time.Millisecond)
	start := time.Now()
	_, err := gw.Client().PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c"), Data: []byte(`{}`)})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	// The request's cancellation cuts the wait short.
	gw.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = gw.Client().PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c"), Data: []byte(`{}`)})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, gw.GetMessages("c"), 1)
}

func TestTestableAPIGatewayWithoutTB(t *testing.T) {
	t.Parallel()
	gw := streamertest.NewAPIGateway(nil)
	gw.AddConnection("c", nil)
	_, err := gw.Client().PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c"), Data: []byte(`{}`)})
	require.NoError(t, err)
	gw.Close()
	gw.Close()
	_, err = gw.Client().PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c"), Data: []byte(`{}`)})
	require.Error(t, err, "closed")
}
