package local

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamer-go/streamer/runtime/executor"
	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/protocol"
)

// TestInlineProcessing queues two 1 s jobs together on one shard, with a processor
// that takes one record at a time: dispatched, the second starts while the first runs;
// inline, it starts only after the first has finished. The jobs are long enough that a
// loaded machine starts the dispatched second one well within the first.
func TestInlineProcessing(t *testing.T) {
	t.Parallel()
	for _, inline := range []bool{false, true} {
		name := "dispatch"
		if inline {
			name = "inline"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The router's direct dispatch is off: this is about the stream consumer.
			app := lambdas.New(lambdas.WithProcessorConfig(executor.ProcessorConfig{Concurrency: 1}), lambdas.WithDirectDispatch(false))
			require.NoError(t, app.Handle("process_data", processData{}))
			st := startStack(t, Config{App: app, Inline: inline})
			c := dial(t, st, token(t, st, "u", "t"))
			job := map[string]int{"items": 10, "item_ms": 100}
			c.call("process_data", "a", job)
			c.call("process_data", "b", job)
			ended := map[string]bool{}
			msgs := c.until(func(m wire) bool {
				if m.terminal() {
					ended[m.RequestID] = true
				}
				return len(ended) == 2
			})
			// The gateway routes each message on its own goroutine: either job may be
			// queued first.
			first := msgs[slices.IndexFunc(msgs, func(m wire) bool { return m.Type == protocol.TypeProgress })].RequestID
			second := map[string]string{"a": "b", "b": "a"}[first]
			firstDone := slices.IndexFunc(msgs, func(m wire) bool { return m.RequestID == first && m.terminal() })
			secondStarts := slices.IndexFunc(msgs, func(m wire) bool { return m.RequestID == second && m.Type == protocol.TypeProgress })
			require.Positive(t, secondStarts)
			if inline {
				require.Greater(t, secondStarts, firstDone, "inline: the second job waits for the first")
			} else {
				require.Less(t, secondStarts, firstDone, "dispatch: the second job runs beside the first")
			}
		})
	}
}
