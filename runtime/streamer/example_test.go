package streamer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/streamer-go/streamer/runtime/streamer"
)

// GreetRequest is the payload of greet.
type GreetRequest struct {
	Name string `json:"name"`
}

// Validate runs before anything else: the router refuses a bad payload at once.
func (p GreetRequest) Validate() error {
	if p.Name == "" {
		return streamer.InvalidField("name", "name required")
	}
	return nil
}

// Greeting is the result of greet.
type Greeting struct {
	Greeting string `json:"greeting"`
}

// A synchronous typed action: a plain function from a decoded payload to a result.
func ExampleSync() {
	greet := func(_ context.Context, job *streamer.Job[GreetRequest]) (Greeting, error) {
		return Greeting{Greeting: "Hello, " + job.Payload.Name}, nil
	}
	reg := streamer.NewRegistry()
	if err := reg.Handle("greet", streamer.Sync(greet)); err != nil {
		fmt.Println(err)
	}
	fmt.Println(reg.Actions())
	// Output: [greet]
}

// CountdownRequest is the payload of countdown.
type CountdownRequest struct {
	From int `json:"from"`
}

// An asynchronous typed action reports progress through its Job and returns its result.
// The function is plain Go: a unit test can call it with a Job it builds (Report then
// does nothing); streamertest.Run runs it as the deployed stack would.
func ExampleAsync() {
	countdown := func(_ context.Context, job *streamer.Job[CountdownRequest]) (map[string]bool, error) {
		for i := job.Payload.From; i > 0; i-- {
			_ = job.Report(float64(job.Payload.From-i+1)*100/float64(job.Payload.From), fmt.Sprint(i))
		}
		return map[string]bool{"done": true}, nil
	}
	reg := streamer.NewRegistry()
	if err := reg.Handle("countdown", streamer.Async(countdown)); err != nil {
		fmt.Println(err)
	}

	result, err := countdown(context.Background(), &streamer.Job[CountdownRequest]{Payload: CountdownRequest{From: 3}})
	fmt.Println(result, err)
	// Output: map[done:true] <nil>
}

// ImportRequest is the payload of import_rows.
type ImportRequest struct {
	Rows int `json:"rows"`
}

// importState is what import_rows needs to resume: the next row.
type importState struct {
	NextRow int `json:"next_row"`
}

// A job longer than one worker invocation (a Lambda timeout, 15 minutes at most): it
// saves a small checkpoint after each unit of work and returns when its context ends;
// the worker then hands the request on to a new invocation, where Resume returns the
// latest checkpoint. The client sees one request: its progress goes on, then one result.
func ExampleJob_Checkpoint() {
	importRows := func(ctx context.Context, job *streamer.Job[ImportRequest]) (map[string]int, error) {
		st := importState{NextRow: 1}
		if _, err := job.Resume(&st); err != nil {
			return nil, err
		}
		for ; st.NextRow <= job.Payload.Rows; st.NextRow++ {
			if err := ctx.Err(); err != nil {
				return nil, err // out of time (or cancelled): the job goes on from the checkpoint
			}
			// ... import row st.NextRow ...
			if err := job.Checkpoint(importState{NextRow: st.NextRow + 1}); err != nil {
				return nil, err
			}
			_ = job.Report(float64(st.NextRow)*100/float64(job.Payload.Rows), "importing")
		}
		return map[string]int{"rows": job.Payload.Rows}, nil
	}
	reg := streamer.NewRegistry()
	if err := reg.Handle("import_rows", streamer.Async(importRows).WithMaxDuration(6*time.Hour)); err != nil {
		fmt.Println(err)
	}
	fmt.Println(reg.Actions())
	// Output: [import_rows]
}
