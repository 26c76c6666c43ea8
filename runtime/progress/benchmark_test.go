package progress_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamer-go/streamer/runtime/progress"
)

type discard struct{}

func (discard) Send(context.Context, string, any) error { return nil }

// BenchmarkReport measures the hot path: a report inside the window, which only records
// the state.
func BenchmarkReport(b *testing.B) {
	c := progress.New(b.Context(), "r-1", "conn-1", discard{}, progress.Options{Interval: time.Hour})
	defer c.Close()
	if err := c.Report(1, "start"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Report(50, "working"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReportPush measures a report that is pushed (through a Sender that does
// nothing), the cost paid at most once per interval.
func BenchmarkReportPush(b *testing.B) {
	c := progress.New(b.Context(), "r-1", "conn-1", discard{}, progress.Options{Interval: time.Nanosecond})
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Report(50, "working"); err != nil {
			b.Fatal(err)
		}
	}
}
