package connection

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the latency buckets.
var latencyBounds = [...]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// metrics are lock-free counters: a few atomic adds per call, read without stopping
// writers (a snapshot may be a few calls out of step between counters).
type metrics struct {
	sent, posts, bytes, split, failed, gone, throttled, retries atomic.Uint64
	buckets                                                     [len(latencyBounds) + 1]atomic.Uint64
	sumMicros, maxMicros                                        atomic.Int64
}

func (m *metrics) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	m.buckets[i].Add(1)
	us := d.Microseconds()
	m.sumMicros.Add(us)
	for {
		cur := m.maxMicros.Load()
		if us <= cur || m.maxMicros.CompareAndSwap(cur, us) {
			return
		}
	}
}

func (m *metrics) snapshot() map[string]any {
	bounds := make([]float64, len(latencyBounds))
	for i, b := range latencyBounds {
		bounds[i] = ms(b)
	}
	counts := make([]uint64, len(m.buckets))
	var calls uint64
	for i := range m.buckets {
		counts[i] = m.buckets[i].Load()
		calls += counts[i]
	}
	maxMS := float64(m.maxMicros.Load()) / 1000
	quantile := func(q float64) float64 {
		if calls == 0 {
			return 0
		}
		rank := uint64(q*float64(calls-1)) + 1
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank && i < len(bounds) {
				return min(bounds[i], maxMS)
			}
		}
		return maxMS
	}
	return map[string]any{
		"sent":              m.sent.Load(),
		"posts":             m.posts.Load(),
		"bytes":             m.bytes.Load(),
		"split":             m.split.Load(),
		"failed":            m.failed.Load(),
		"gone":              m.gone.Load(),
		"throttled":         m.throttled.Load(),
		"retries":           m.retries.Load(),
		"calls":             calls,
		"latency_bounds_ms": bounds,
		"latency_counts":    counts,
		"latency_sum_ms":    float64(m.sumMicros.Load()) / 1000,
		"latency_max_ms":    maxMS,
		"latency_p50_ms":    quantile(0.50),
		"latency_p99_ms":    quantile(0.99),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
