package bench

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamer-go/streamer/cmd/demo"
	"github.com/streamer-go/streamer/runtime/client"
)

// dialParallelism bounds the handshakes in flight while a scenario opens its connections.
const dialParallelism = 32

// dialFunc opens one connection to a target.
type dialFunc func(ctx context.Context) (*client.Client, error)

// dialAll opens n connections, dialParallelism at a time, and returns them with the
// latency of each handshake. On an error it closes what it opened.
func dialAll(ctx context.Context, dial dialFunc, n int, bar *progressBar) ([]*client.Client, []time.Duration, error) {
	conns := make([]*client.Client, n)
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	sem := make(chan struct{}, dialParallelism)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			conns[i], errs[i] = dial(ctx)
			lat[i] = time.Since(start)
			bar.Add(1)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(conns)
		return nil, nil, err
	}
	return conns, lat, nil
}

func closeAll(conns []*client.Client) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// loadResult is what a closed-loop run measured.
type loadResult struct {
	latencies []time.Duration
	errors    int
	wall      time.Duration
}

func (l loadResult) summary() Summary { return Summarize(l.latencies, l.errors, l.wall) }

// merge appends another run's measurements (walls add up: the runs were sequential).
func (l *loadResult) merge(o loadResult) {
	l.latencies = append(l.latencies, o.latencies...)
	l.errors += o.errors
	l.wall += o.wall
}

// closedLoop runs n operations over workers goroutines, each starting its next
// operation when its last one ended, until n have started or ctx ends. op(ctx, w, i)
// runs operation i on worker w; a worker whose op fails and returns stop stops. An op
// that fails once ctx has ended was cut off, not failed: it is not counted.
func closedLoop(ctx context.Context, workers, n int, bar *progressBar, op func(ctx context.Context, worker, i int) (d time.Duration, stop bool, err error)) loadResult {
	var next atomic.Int64
	per := make([]loadResult, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			lr := &per[w]
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, stop, err := op(ctx, w, i)
				bar.Add(1)
				if err != nil && ctx.Err() != nil {
					return // cut off by the limit: neither a latency nor an error
				}
				if err != nil {
					lr.errors++
					if stop {
						return
					}
					continue
				}
				lr.latencies = append(lr.latencies, d)
			}
		})
	}
	wg.Wait()
	var all loadResult
	for _, p := range per {
		all.merge(p)
	}
	all.wall = time.Since(start)
	return all
}

// echoLoad runs n echoes over conns, one closed loop per connection, after one
// unrecorded echo on each to warm it up.
func echoLoad(ctx context.Context, conns []*client.Client, n int, bar *progressBar) loadResult {
	for _, c := range conns {
		_, _ = echo(ctx, c)
	}
	return closedLoop(ctx, len(conns), n, bar, func(ctx context.Context, w, _ int) (time.Duration, bool, error) {
		d, err := echo(ctx, conns[w])
		return d, errors.Is(err, client.ErrClosed), err
	})
}

// echo sends the echo request on c and returns the time until its result arrived.
// Its id is always echoID: a connection has one echo in flight at a time.
func echo(ctx context.Context, c *client.Client) (time.Duration, error) {
	t, err := request(ctx, c, echoID, demo.ActionEcho, json.RawMessage(echoPayload))
	return t.done, err
}
