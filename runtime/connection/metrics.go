package connection

import (
	"sync/atomic"
	"time"
)

// Stats are a Manager's counters and the latency of its @connections calls since it was
// made. The JSON names are those of the local stack's GET /metrics.
type Stats struct {
	Sent      uint64  `json:"sent"`      // messages delivered (a split result counts once)
	Posts     uint64  `json:"posts"`     // successful PostToConnection calls (one per part)
	Bytes     uint64  `json:"bytes"`     // bytes delivered
	Split     uint64  `json:"split"`     // messages sent in parts
	Failed    uint64  `json:"failed"`    // messages not delivered (Send, or a Broadcast target)
	Gone      uint64  `json:"gone"`      // 410 answers (records deleted)
	Throttled uint64  `json:"throttled"` // 429 answers
	Retries   uint64  `json:"retries"`   // calls retried
	Latency   Latency `json:"latency"`   // every @connections call, retries included
}

// Latency is a histogram of call latencies in fixed buckets.
type Latency struct {
	// BoundsMS are the upper bounds of the buckets, in milliseconds, ascending.
	BoundsMS []float64 `json:"bounds_ms"`
	// Counts are the calls per bucket; the last one, beyond BoundsMS, counts the calls
	// above every bound.
	Counts []uint64 `json:"counts"`
	// SumMS is the total latency of the calls.
	SumMS float64 `json:"sum_ms"`
	// MaxMS is the slowest call.
	MaxMS float64 `json:"max_ms"`
}

// Calls returns the number of calls in the histogram.
func (l Latency) Calls() uint64 {
	var n uint64
	for _, c := range l.Counts {
		n += c
	}
	return n
}

// Quantile returns the latency under which the fraction q (0-1) of the calls fall, as the
// upper bound of its bucket but no more than MaxMS; 0 when there are no calls.
func (l Latency) Quantile(q float64) float64 {
	calls := l.Calls()
	if calls == 0 {
		return 0
	}
	rank := uint64(q*float64(calls-1)) + 1
	var seen uint64
	for i, c := range l.Counts {
		seen += c
		if seen >= rank && i < len(l.BoundsMS) {
			return min(l.BoundsMS[i], l.MaxMS)
		}
	}
	return l.MaxMS
}

// Sub returns what happened between prev and s, two Stats of the same Manager: every
// counter and bucket is s's minus prev's. MaxMS stays s's, the slowest call so far,
// which a difference cannot tell apart.
func (s Stats) Sub(prev Stats) Stats {
	d := Stats{
		Sent:      s.Sent - prev.Sent,
		Posts:     s.Posts - prev.Posts,
		Bytes:     s.Bytes - prev.Bytes,
		Split:     s.Split - prev.Split,
		Failed:    s.Failed - prev.Failed,
		Gone:      s.Gone - prev.Gone,
		Throttled: s.Throttled - prev.Throttled,
		Retries:   s.Retries - prev.Retries,
		Latency: Latency{
			BoundsMS: s.Latency.BoundsMS,
			Counts:   make([]uint64, len(s.Latency.Counts)),
			SumMS:    s.Latency.SumMS - prev.Latency.SumMS,
			MaxMS:    s.Latency.MaxMS,
		},
	}
	for i, c := range s.Latency.Counts {
		if i < len(prev.Latency.Counts) {
			c -= prev.Latency.Counts[i]
		}
		d.Latency.Counts[i] = c
	}
	return d
}

// asMap is GetMetrics' view of s: Stats' JSON names, the latency flattened with a
// latency_ prefix, and the call count and two quantiles computed.
func (s Stats) asMap() map[string]any {
	return map[string]any{
		"sent":              s.Sent,
		"posts":             s.Posts,
		"bytes":             s.Bytes,
		"split":             s.Split,
		"failed":            s.Failed,
		"gone":              s.Gone,
		"throttled":         s.Throttled,
		"retries":           s.Retries,
		"calls":             s.Latency.Calls(),
		"latency_bounds_ms": s.Latency.BoundsMS,
		"latency_counts":    s.Latency.Counts,
		"latency_sum_ms":    s.Latency.SumMS,
		"latency_max_ms":    s.Latency.MaxMS,
		"latency_p50_ms":    s.Latency.Quantile(0.50),
		"latency_p99_ms":    s.Latency.Quantile(0.99),
	}
}

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

func (m *metrics) snapshot() Stats {
	bounds := make([]float64, len(latencyBounds))
	for i, b := range latencyBounds {
		bounds[i] = ms(b)
	}
	counts := make([]uint64, len(m.buckets))
	for i := range m.buckets {
		counts[i] = m.buckets[i].Load()
	}
	return Stats{
		Sent:      m.sent.Load(),
		Posts:     m.posts.Load(),
		Bytes:     m.bytes.Load(),
		Split:     m.split.Load(),
		Failed:    m.failed.Load(),
		Gone:      m.gone.Load(),
		Throttled: m.throttled.Load(),
		Retries:   m.retries.Load(),
		Latency: Latency{
			BoundsMS: bounds,
			Counts:   counts,
			SumMS:    float64(m.sumMicros.Load()) / 1000,
			MaxMS:    float64(m.maxMicros.Load()) / 1000,
		},
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
