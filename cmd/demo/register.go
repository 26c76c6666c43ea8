package demo

import (
	"encoding/json"
	"errors"
	"runtime/debug"

	"github.com/streamer-go/streamer/runtime/lambdas"
	"github.com/streamer-go/streamer/runtime/streamer"
)

// Action names of the demo handlers.
const (
	ActionEcho           = "echo"
	ActionHealth         = "health"
	ActionGenerateReport = "generate_report"
	ActionProcessData    = "process_data"
	ActionLongJob        = "long_job"
)

// Registrar is what Register adds actions to; *lambdas.App and *streamer.Registry
// implement it.
type Registrar interface {
	Handle(action string, h streamer.Handler) error
}

var (
	_ Registrar = (*lambdas.App)(nil)
	_ Registrar = (*streamer.Registry)(nil)
)

// Register adds the five demo actions with their default settings.
func Register(r Registrar) error {
	return errors.Join(
		r.Handle(ActionEcho, streamer.Sync(Echo).WithExample(json.RawMessage(`{"hello":"world"}`))),
		r.Handle(ActionHealth, streamer.Sync(Health{Version: BuildVersion()}.Run)),
		r.Handle(ActionGenerateReport, streamer.Async((&GenerateReport{}).Run).
			WithExample(ReportRequest{StartDate: "2026-01-01", EndDate: "2026-01-31"})),
		r.Handle(ActionProcessData, streamer.Async(ProcessData).WithExample(ProcessDataRequest{Items: 20, ItemMS: 100})),
		r.Handle(ActionLongJob, streamer.Async(LongJob).WithExample(LongJobRequest{Steps: 30, StepMS: 200})),
	)
}

// BuildVersion is the version of the running binary: the main module's version, with
// the VCS revision when the build recorded one, or "(devel)".
func BuildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			rev := s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
			return version + "+" + rev
		}
	}
	return version
}
