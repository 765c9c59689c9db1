package cost

import "fmt"

// Input is one input of the model as reported: its value and where it
// came from ("default", "flag", "scenario worst", "measured: …").
type Input struct {
	Value  float64 `json:"value"`
	Source string  `json:"source"`
}

// Sourced are the model's inputs as reported, in the order printed.
type Sourced struct {
	DAU      Input  `json:"dau"`
	MAU      Input  `json:"mau"`
	Runs     Input  `json:"runs"`
	Submits  Input  `json:"submits"`
	TRun     Input  `json:"tRun"`
	TSubmit  Input  `json:"tSubmit"`
	Overhead Input  `json:"overhead"`
	VPSPrice *Input `json:"vpsPrice,omitempty"` // absent when a vCPU-hour price was given
	VPSVCPUs *Input `json:"vpsVCPUs,omitempty"`
	VCPUHour Input  `json:"vcpuHour"`
}

// Inputs are the values of s.
func (s Sourced) Inputs() Inputs {
	return Inputs{DAU: s.DAU.Value, MAU: s.MAU.Value, Runs: s.Runs.Value, Submits: s.Submits.Value,
		RunSeconds: s.TRun.Value, SubmitSeconds: s.TSubmit.Value, Overhead: s.Overhead.Value, VCPUHourPrice: s.VCPUHour.Value}
}

// SourcedAs reports in with every input from source, priced by a VPS of
// DefaultVPSPrice and DefaultVPSVCPUs if that is its price.
func SourcedAs(in Inputs, source string) Sourced {
	s := Sourced{
		DAU: Input{in.DAU, source}, MAU: Input{in.MAU, source}, Runs: Input{in.Runs, source}, Submits: Input{in.Submits, source},
		TRun: Input{in.RunSeconds, source}, TSubmit: Input{in.SubmitSeconds, source}, Overhead: Input{in.Overhead, source},
		VCPUHour: Input{in.VCPUHourPrice, source},
	}
	if in.VCPUHourPrice == VCPUHourPrice(DefaultVPSPrice, DefaultVPSVCPUs) {
		s.VPSPrice, s.VPSVCPUs = &Input{DefaultVPSPrice, source}, &Input{DefaultVPSVCPUs, source}
	}
	return s
}

// Report is the model applied to sourced inputs.
type Report struct {
	Inputs        Sourced `json:"inputs"`
	DaysPerMonth  int     `json:"daysPerMonth"`
	HoursPerMonth int     `json:"hoursPerMonth"`
	Figures       Figures `json:"figures"`
}

// NewReport computes the figures of in.
func NewReport(in Sourced) Report {
	return Report{Inputs: in, DaysPerMonth: DaysPerMonth, HoursPerMonth: HoursPerMonth, Figures: Compute(in.Inputs())}
}

// Scenarios are the named input sets: the report's base case (Default),
// and a best and a worst case around it. The report quotes only its base
// case's inputs and an OverheadFactor of 2–5; the best and worst inputs
// here are ours, chosen to bracket it — lighter and heavier use, overhead
// 2 and 5 — and every one of them can be overridden by a flag.
var Scenarios = map[string]Inputs{
	"best":  scenario(10, 3, 0.5, 3, 2),
	"base":  Default(),
	"worst": scenario(40, 10, 2, 8, 5),
}

func scenario(runs, submits, tRun, tSubmit, overhead float64) Inputs {
	in := Default()
	in.Runs, in.Submits, in.RunSeconds, in.SubmitSeconds, in.Overhead = runs, submits, tRun, tSubmit, overhead
	return in
}

// Scenario returns the named scenario's inputs.
func Scenario(name string) (Inputs, error) {
	in, ok := Scenarios[name]
	if !ok {
		return Inputs{}, fmt.Errorf("no scenario %q: give best, base or worst", name)
	}
	return in, nil
}
