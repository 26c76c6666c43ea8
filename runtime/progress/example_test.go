package progress_test

import (
	"context"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/progress"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// printSender prints what a client would see; a real program passes the connection
// manager.
type printSender struct{}

func (printSender) Send(_ context.Context, connectionID string, message any) error {
	switch m := message.(type) {
	case *protocol.ProgressMessage:
		fmt.Printf("%s: progress %.0f%% %s\n", connectionID, m.Percentage, m.Message)
	case *protocol.ResultMessage:
		fmt.Printf("%s: result %s\n", connectionID, m.Data)
	}
	return nil
}

func Example() {
	// A long window makes the output independent of timing; the default is 200 ms.
	r := progress.New(context.Background(), "r-42", "conn-1", printSender{}, progress.Options{Interval: time.Minute})

	_ = r.Report(10, "loading")                       // the first report is pushed at once
	_ = r.Report(60, "processing")                    // inside the window: kept as the pending state
	_ = r.Report(40, "processing more")               // lower: the percentage stays at 60, the message changes
	res, err := r.Complete(map[string]any{"rows": 3}) // flushes the pending state first
	fmt.Println(res.Success, err)

	// Output:
	// conn-1: progress 10% loading
	// conn-1: progress 60% processing more
	// conn-1: result {"rows":3}
	// true <nil>
}
