package streamertest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/connection"
	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/protocol"
	"github.com/streamer-go/streamer/runtime/streamertest"
)

// A handler's progress reporter writes to a Sender; the test reads back what the client
// would have seen.
func ExampleNewSender() {
	sender := streamertest.NewSender()
	reporter := progress.New(context.Background(), "req-1", "conn-1", sender, progress.Options{Interval: time.Minute})

	_ = reporter.Report(50, "halfway")
	_, _ = reporter.Complete(map[string]any{"rows": 3})

	for _, m := range sender.GetMessages("conn-1") {
		fmt.Println(m.Type, m.RequestID, m.Fields["percentage"], m.Fields["data"])
	}
	// Output:
	// progress req-1 50 <nil>
	// result req-1 <nil> map[rows:3]
}

// SendFunc injects failures: here one connection is banned.
func ExampleSender_SendFunc() {
	sender := streamertest.NewSender()
	sender.SendFunc = func(_ context.Context, connectionID string, _ any) error {
		if connectionID == "banned" {
			return errors.New("user banned")
		}
		return nil // record the message
	}
	fmt.Println(sender.Send(context.Background(), "banned", map[string]string{"type": "pong"}))
	fmt.Println(sender.Send(context.Background(), "conn-1", map[string]string{"type": "pong"}))
	fmt.Println(len(sender.GetMessages("banned")), len(sender.GetMessages("conn-1")))
	// Output:
	// user banned
	// <nil>
	// 0 1
}

// A client that went away: the reporter's pushes fail with connection.ErrGone.
func ExampleSender_SetActive() {
	sender := streamertest.NewSender()
	sender.SetActive("inactive-conn", false)

	err := sender.Send(context.Background(), "inactive-conn", &protocol.ProgressMessage{Type: protocol.TypeProgress})
	fmt.Println(errors.Is(err, connection.ErrGone), sender.IsActive(context.Background(), "active-conn"))
	// Output:
	// true true
}

// The fake ConnectionManager replaces any method and counts the calls.
func ExampleConnectionManager() {
	fake := streamertest.NewConnectionManager()
	fake.IsActiveFunc = func(_ context.Context, connectionID string) bool { return connectionID != "gone" }

	var cm connection.ConnectionManager = fake
	_ = cm.Send(context.Background(), "conn-1", map[string]string{"type": "pong"})
	_ = cm.Broadcast(context.Background(), []string{"conn-1", "conn-2"}, map[string]string{"type": "pong"})
	fmt.Println(cm.IsActive(context.Background(), "gone"), fake.CallCount("Send"), fake.CallCount("Broadcast"), len(fake.GetMessages("conn-1")))
	// Output:
	// false 1 1 2
}

// The fake @connections API runs the real connection manager and AWS SDK client.
func ExampleNewAPIGateway() {
	api := streamertest.NewAPIGateway(nil) // in a test, pass t: it closes the server
	defer api.Close()
	api.AddConnection("conn-123", &streamertest.ConnectionInfo{IP: "192.168.1.1"})
	api.SimulateThrottling("conn-123", 2) // two 429s, then success
	api.SimulateGoneError("conn-456")     // the client left

	mgr := connection.NewManager(nil, api.Client(), connection.Options{BaseDelay: time.Millisecond})
	ctx := context.Background()
	fmt.Println(mgr.Send(ctx, "conn-123", map[string]string{"type": "pong"}))
	fmt.Println(errors.Is(mgr.Send(ctx, "conn-456", map[string]string{"type": "pong"}), connection.ErrGone))
	fmt.Println(len(api.GetMessages("conn-123")), api.Attempts("conn-123"))
	// Output:
	// <nil>
	// true
	// 1 3
}
