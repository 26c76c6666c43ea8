package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentileNearestRank(t *testing.T) {
	t.Parallel()
	sorted := make([]time.Duration, 100)
	for i := range sorted {
		sorted[i] = time.Duration(i+1) * time.Millisecond
	}
	require.Equal(t, 50*time.Millisecond, Percentile(sorted, 50))
	require.Equal(t, 95*time.Millisecond, Percentile(sorted, 95))
	require.Equal(t, 99*time.Millisecond, Percentile(sorted, 99))
	require.Equal(t, 100*time.Millisecond, Percentile(sorted, 100))
	require.Equal(t, 1*time.Millisecond, Percentile(sorted, 0.001))
	require.Zero(t, Percentile(nil, 50))

	five := []time.Duration{1, 2, 3, 4, 5}
	require.Equal(t, time.Duration(3), Percentile(five, 50), "the median of an odd count is the middle value")
	require.Equal(t, time.Duration(5), Percentile(five, 95))
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	lat := []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	s := Summarize(lat, 1, 2*time.Second)
	require.Equal(t, Summary{N: 4, Errors: 1, P50MS: 2, P95MS: 4, P99MS: 4, MaxMS: 4, MeanMS: 2.5, WallMS: 2000, Throughput: 2}, s)
	require.Equal(t, []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}, lat, "the input is not reordered")

	require.Equal(t, Summary{Errors: 3, WallMS: 1000}, Summarize(nil, 3, time.Second))
	require.Zero(t, Summarize([]time.Duration{time.Millisecond}, 0, 0).Throughput, "no wall time, no throughput")
}

func TestRatio(t *testing.T) {
	t.Parallel()
	require.InDelta(t, 1.5, Ratio(3, 2), 1e-12)
	require.Zero(t, Ratio(3, 0))
}
