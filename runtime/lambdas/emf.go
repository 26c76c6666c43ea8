package lambdas

import (
	"cmp"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/streamer-go/streamer/runtime/middleware"
)

// DefaultMetricsNamespace is the CloudWatch namespace of the embedded metrics.
const DefaultMetricsNamespace = "Streamer"

// EMF writes metrics as CloudWatch Embedded Metric Format lines: one JSON object per
// line on w (the function's stdout in Lambda), which CloudWatch Logs turns into metrics
// asynchronously. No PutMetricData call, no latency added to the handler, and the
// metrics cost nothing when nobody looks at them. It is safe for concurrent use.
type EMF struct {
	namespace string
	now       func() time.Time

	mu sync.Mutex
	w  io.Writer
}

var _ middleware.Recorder = (*EMF)(nil)

// NewEMF returns an EMF recorder writing to w under namespace (default
// DefaultMetricsNamespace).
func NewEMF(w io.Writer, namespace string) *EMF {
	return &EMF{namespace: cmp.Or(namespace, DefaultMetricsNamespace), now: time.Now, w: w}
}

// emfDirective is the _aws member of an EMF line.
type emfDirective struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfMetricSet `json:"CloudWatchMetrics"`
}

type emfMetricSet struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// requestLine is the EMF line of one handler run: dimensions Action and Outcome, metrics
// Requests (Count) and Duration (Milliseconds).
type requestLine struct {
	AWS      emfDirective `json:"_aws"`
	Action   string       `json:"Action"`
	Outcome  string       `json:"Outcome"`
	Requests int          `json:"Requests"`
	Duration float64      `json:"Duration"`
}

// RecordRequest writes one line for a run of action with its outcome and duration.
// A failed write is dropped: metrics must never fail a request.
func (e *EMF) RecordRequest(action, outcome string, d time.Duration) {
	line, err := json.Marshal(requestLine{
		AWS: emfDirective{
			Timestamp: e.now().UnixMilli(),
			CloudWatchMetrics: []emfMetricSet{{
				Namespace:  e.namespace,
				Dimensions: [][]string{{"Action", "Outcome"}},
				Metrics:    []emfMetric{{Name: "Requests", Unit: "Count"}, {Name: "Duration", Unit: "Milliseconds"}},
			}},
		},
		Action:   action,
		Outcome:  outcome,
		Requests: 1,
		Duration: float64(d) / float64(time.Millisecond),
	})
	if err != nil {
		return
	}
	line = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(line)
}
