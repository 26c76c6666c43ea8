package bench

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of latencies: count, percentiles by the nearest-rank method,
// and the throughput over the wall time they took. Durations are in milliseconds.
type Summary struct {
	N          int     `json:"n"`
	Errors     int     `json:"errors"`
	P50MS      float64 `json:"p50_ms"`
	P95MS      float64 `json:"p95_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
	MeanMS     float64 `json:"mean_ms"`
	WallMS     float64 `json:"wall_ms"`
	Throughput float64 `json:"throughput_per_s"` // N / wall time
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the nearest-rank
// method: the smallest value with at least p % of the values at or below it. It returns
// 0 for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Summarize sorts a copy of latencies and summarises them; wall is the time the whole
// set took (for the throughput) and errors the requests that failed.
func Summarize(latencies []time.Duration, errors int, wall time.Duration) Summary {
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	s := Summary{N: len(sorted), Errors: errors, WallMS: ms(wall)}
	if len(sorted) == 0 {
		return s
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	s.P50MS = ms(Percentile(sorted, 50))
	s.P95MS = ms(Percentile(sorted, 95))
	s.P99MS = ms(Percentile(sorted, 99))
	s.MaxMS = ms(sorted[len(sorted)-1])
	s.MeanMS = ms(sum / time.Duration(len(sorted)))
	if wall > 0 {
		s.Throughput = float64(len(sorted)) / wall.Seconds()
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Ratio returns a / b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
