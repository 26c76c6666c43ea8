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

func TestSendOnlyMockWithReporter(t *testing.T) {
	t.Parallel()
	mock := streamertest.NewSendOnlyMock()
	r := progress.New(t.Context(), "req-1", "conn-1", mock, progress.Options{Interval: time.Hour})
	require.NoError(t, r.Report(25, "loading", map[string]any{"items": 10}))
	res, err := r.Complete(map[string]any{"ok": true})
	require.NoError(t, err)
	require.True(t, res.Success)

	msgs := mock.GetMessages("conn-1")
	require.Len(t, msgs, 2)
	var p protocol.ProgressMessage
	require.NoError(t, msgs[0].Decode(&p))
	require.Equal(t, 25.0, p.Percentage)
	require.Equal(t, "loading", p.Message)
	require.IsType(t, &protocol.ProgressMessage{}, msgs[0].Value, "the value sent is kept")
	require.Equal(t, protocol.TypeResult, msgs[1].Type)
	require.Equal(t, map[string]any{"ok": true}, msgs[1].Fields["data"])
	require.Error(t, msgs[1].Decode(new(int)))
	require.Empty(t, mock.GetMessages("other"))

	// What the real manager refuses, the mock refuses with the same error.
	require.ErrorContains(t, mock.Send(t.Context(), "c", make(chan int)), "connection: encode message")
	require.Error(t, mock.Send(t.Context(), "c", nil))
	require.Empty(t, mock.GetMessages("c"), "refused messages are not recorded")
}

func TestMocksAreSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	send := streamertest.NewSendOnlyMock()
	rep := streamertest.NewProgressReporterMock()
	full := streamertest.NewMockConnectionManager()
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

func TestProgressReporterMockInactive(t *testing.T) {
	t.Parallel()
	mock := streamertest.NewProgressReporterMock()
	mock.SetActive("a", true)
	mock.SetActive("b", false)
	require.True(t, mock.IsActive(t.Context(), "a"))
	require.False(t, mock.IsActive(t.Context(), "b"))
	require.True(t, mock.IsActive(t.Context(), "unknown"))

	r := progress.New(t.Context(), "req", "b", mock, progress.Options{Interval: time.Hour})
	require.ErrorIs(t, r.Fail(streamer.NewError(streamer.ErrCodeTimeout, "slow")), connection.ErrGone)
	require.Empty(t, mock.GetMessages("b"))
	mock.SetActive("b", true)
	require.NoError(t, mock.Send(t.Context(), "b", []byte(`{}`)))
	require.Len(t, mock.GetMessages("b"), 1)
}

func TestMockConnectionManagerHooks(t *testing.T) {
	t.Parallel()
	mock := streamertest.NewMockConnectionManager()
	boom := errors.New("boom")
	mock.SendFunc = func(context.Context, string, any) error { return boom }
	mock.BroadcastFunc = func(_ context.Context, ids []string, _ any) error {
		if len(ids) > 2 {
			return boom
		}
		return nil
	}
	mock.GetMetricsFunc = func() map[string]any { return map[string]any{"sent": 7} }

	require.ErrorIs(t, mock.Send(t.Context(), "c", []byte(`{}`)), boom)
	require.ErrorIs(t, mock.Broadcast(t.Context(), []string{"a", "b", "c"}, []byte(`{}`)), boom)
	require.NoError(t, mock.Broadcast(t.Context(), []string{"a", "b"}, []byte(`{"type":"pong"}`)))
	require.True(t, mock.IsActive(t.Context(), "x"))
	require.Equal(t, map[string]any{"sent": 7}, mock.GetMetrics())
	require.Empty(t, mock.GetMessages("c"))
	require.Len(t, mock.GetMessages("a"), 1)
	require.Equal(t, "pong", mock.GetMessages("b")[0].Type)
	require.Equal(t, 1, mock.CallCount("Send"))
	require.Equal(t, 2, mock.CallCount("Broadcast"))
	require.Equal(t, 1, mock.CallCount("GetMetrics"))
	require.Zero(t, mock.CallCount("Nope"))
}

func TestTestableAPIGatewaySpeaksConnectionsAPI(t *testing.T) {
	t.Parallel()
	gw := streamertest.NewTestableAPIGatewayClient(t)
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
	gw := streamertest.NewTestableAPIGatewayClient(t)
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
	gw := streamertest.NewTestableAPIGatewayClient(nil)
	gw.AddConnection("c", nil)
	_, err := gw.Client().PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c"), Data: []byte(`{}`)})
	require.NoError(t, err)
	gw.Close()
	gw.Close()
	_, err = gw.Client().PostToConnection(t.Context(), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c"), Data: []byte(`{}`)})
	require.Error(t, err, "closed")
}
