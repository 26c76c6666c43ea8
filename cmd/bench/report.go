package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one bench run.
type Report struct {
	Started time.Time `json:"started"`
	Target  string    `json:"target"` // the stack URL, or "in-process" for the bench's own stack
	Machine Machine   `json:"machine"`
	Results []Result  `json:"results"`
}

// Machine describes where the bench ran, so figures from different runs can be compared.
type Machine struct {
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model,omitempty"`
	GoVersion   string `json:"go_version"`
	LoadAverage string `json:"load_average,omitempty"` // 1, 5 and 15 minutes, at the start
}

// Result is the outcome of one scenario.
type Result struct {
	Scenario  string       `json:"scenario"`
	ElapsedS  float64      `json:"elapsed_s"`
	Latencies []Latency    `json:"latencies,omitempty"`
	Figures   []Figure     `json:"figures,omitempty"`
	Cost      []ActionCost `json:"cost,omitempty"`
	Notes     []string     `json:"notes,omitempty"`
	Error     string       `json:"error,omitempty"`
}

// Latency is one measured latency distribution of a scenario.
type Latency struct {
	Name string `json:"name"`
	Summary
}

// Figure is one measured value, with the goal it is held against when there is one.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Goal  string  `json:"goal,omitempty"` // e.g. "<= 2", ">= 10000"
	Met   *bool   `json:"met,omitempty"`  // set when Goal is
}

// figure returns a figure without a goal.
func figure(name string, v float64, unit string) Figure {
	return Figure{Name: name, Value: v, Unit: unit}
}

// atMost returns a figure whose goal is v <= limit.
func atMost(name string, v float64, unit string, limit float64) Figure {
	met := v <= limit
	return Figure{Name: name, Value: v, Unit: unit, Goal: "<= " + formatNumber(limit), Met: &met}
}

// atLeast returns a figure whose goal is v >= limit.
func atLeast(name string, v float64, unit string, limit float64) Figure {
	met := v >= limit
	return Figure{Name: name, Value: v, Unit: unit, Goal: ">= " + formatNumber(limit), Met: &met}
}

// formatNumber prints v with a precision that suits its size.
func formatNumber(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a == math.Trunc(a) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.01:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("bench: write JSON: %w", err)
	}
	return nil
}

// WriteTable writes the report as aligned text tables, one section per scenario.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(tw, "streamer bench  %s  target %s\n", r.Started.UTC().Format(time.RFC3339), r.Target)
	fmt.Fprintf(tw, "machine: %s/%s, %d CPUs, %s, %s, load %s\n", m.GOOS, m.GOARCH, m.CPUs, orDash(m.CPUModel), m.GoVersion, orDash(m.LoadAverage))
	for _, res := range r.Results {
		fmt.Fprintf(tw, "\n== %s (%.1f s)\n", res.Scenario, res.ElapsedS)
		if res.Error != "" {
			fmt.Fprintf(tw, "error: %s\n", res.Error)
		}
		if len(res.Latencies) > 0 {
			fmt.Fprintln(tw, "latency\tn\terrors\tp50 ms\tp95 ms\tp99 ms\tmax ms\tper s\t")
			for _, l := range res.Latencies {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", l.Name, l.N, l.Errors,
					formatNumber(l.P50MS), formatNumber(l.P95MS), formatNumber(l.P99MS), formatNumber(l.MaxMS), formatNumber(l.Throughput))
			}
		}
		if len(res.Figures) > 0 {
			fmt.Fprintln(tw, "figure\tvalue\tunit\tgoal\t\t")
			for _, f := range res.Figures {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", f.Name, formatNumber(f.Value), f.Unit, orDash(f.Goal), verdict(f.Met))
			}
		}
		if len(res.Cost) > 0 {
			writeCostTable(tw, res.Cost)
		}
		for _, n := range res.Notes {
			fmt.Fprintf(tw, "note: %s\n", n)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench: write table: %w", err)
	}
	return nil
}

func writeCostTable(w io.Writer, costs []ActionCost) {
	fmt.Fprintln(w, "per request\tn\tddb writes\tWRU\tddb reads\tstream reads\tposts\tlambda inv\tGB-s\tAPI msgs\tconn min\t$ per 1M\t")
	for _, c := range costs {
		u := c.PerRequest
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Action, c.Requests,
			formatNumber(u.DynamoDBWrites), formatNumber(u.WriteUnits), formatNumber(u.DynamoDBReads), formatNumber(u.StreamGetRecords),
			formatNumber(u.PostToConnection), formatNumber(u.LambdaInvocations), formatNumber(u.LambdaGBSeconds),
			formatNumber(u.APIMessages), formatNumber(u.ConnectionMinutes), formatNumber(c.PerMillion.Total))
	}
	fmt.Fprintln(w, "$ per 1M\tAPI msgs\tconn min\tlambda req\tlambda GB-s\tWRU\tRRU\tstreams\ttotal\t")
	for _, c := range costs {
		p := c.PerMillion
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Action, formatNumber(p.APIMessages), formatNumber(p.ConnectionMinutes),
			formatNumber(p.LambdaRequests), formatNumber(p.LambdaCompute), formatNumber(p.WriteUnits), formatNumber(p.ReadUnits),
			formatNumber(p.Streams), formatNumber(p.Total))
	}
}

func verdict(met *bool) string {
	switch {
	case met == nil:
		return ""
	case *met:
		return "met"
	default:
		return "NOT MET"
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeMachine reads what describes this machine: the CPU count, the CPU model
// (Linux /proc/cpuinfo) and the load average (/proc/loadavg).
func describeMachine() Machine {
	m := Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	return m
}
