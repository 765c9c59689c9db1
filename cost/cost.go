// Package cost is the per-user cost model of the report this system
// replaces, as pure functions: from how much program CPU an active user
// causes per day, how many vCPU-hours and how much money that is per user and
// for the whole platform.
//
// The model, per active user per day:
//
//	exec-seconds  = R·t_run + S·t_submit         (program CPU time)
//	vCPU-seconds  = exec-seconds × OverheadFactor (engine, worker, idle headroom)
//	vCPU-hours    = vCPU-seconds / 3600
//	cost          = vCPU-hours × price per vCPU-hour
//
// A month is DaysPerMonth = 30 days and a VPS is billed for HoursPerMonth =
// 720 hours, so a VPS costing P a month with V vCPUs prices a vCPU-hour at
// P / (V × 720). "Per user per month" is the cost of one daily active user
// kept active every day of the month: the per-day figure × 30. Platform
// totals are that × DAU; the cost per monthly active user divides the
// platform's month by MAU (a user active on fewer days costs less; MAU
// plays no other part).
//
// AverageVCPUs is the platform's vCPU-seconds per day spread over the 86 400
// seconds of a day: the runner capacity needed on average. Peaks are higher;
// sizing for them needs measured peak concurrency and queue wait, which this
// model (scenario inputs only) does not have.
package cost

import (
	"errors"
	"fmt"
	"math"
)

const (
	// DaysPerMonth is the month length used for every monthly figure.
	DaysPerMonth = 30
	// HoursPerMonth is the hours a VPS is billed for in a month (30 × 24).
	HoursPerMonth = DaysPerMonth * 24
	// SecondsPerDay spreads a day's vCPU-seconds into average vCPUs.
	SecondsPerDay = 86400
)

// Inputs are the model's assumptions.
type Inputs struct {
	DAU           float64 // daily active users
	MAU           float64 // monthly active users (only for the cost per MAU)
	Runs          float64 // R: runs per active user per day
	Submits       float64 // S: submissions per active user per day
	RunSeconds    float64 // t_run: program CPU seconds per run
	SubmitSeconds float64 // t_submit: program CPU seconds per submission (all its test cases)
	Overhead      float64 // OverheadFactor: vCPU-seconds per program CPU second
	VCPUHourPrice float64 // price of one vCPU-hour
}

// Report's base case: $12 a month for a 2-vCPU VPS.
const (
	DefaultVPSPrice = 12
	DefaultVPSVCPUs = 2
)

// Default returns the report's base case: R·t_run + S·t_submit = 20×1.2 s +
// 5×5 s = 49 exec-seconds per user per day, overhead 3 (147 vCPU-seconds =
// 0.0408 vCPU-hours), $12 for a 2-vCPU VPS ($0.00833 per vCPU-hour), so
// ≈ $0.0102 per user per month. The report gives the per-user figures only;
// DAU 1000 and MAU 3000 are illustrative, not the report's.
func Default() Inputs {
	return Inputs{
		DAU:           1000,
		MAU:           3000,
		Runs:          20,
		Submits:       5,
		RunSeconds:    1.2,
		SubmitSeconds: 5,
		Overhead:      3,
		VCPUHourPrice: VCPUHourPrice(DefaultVPSPrice, DefaultVPSVCPUs),
	}
}

// VCPUHourPrice is the price of a vCPU-hour on a VPS costing monthlyPrice a
// month with vcpus vCPUs, billed for HoursPerMonth hours.
func VCPUHourPrice(monthlyPrice float64, vcpus int) float64 {
	return monthlyPrice / (float64(vcpus) * HoursPerMonth)
}

// Validate reports every input that makes no sense, in one error.
func (in Inputs) Validate() error {
	var errs []error
	check := func(name string, v float64, ok bool, want string) {
		if math.IsNaN(v) || math.IsInf(v, 0) || !ok {
			errs = append(errs, fmt.Errorf("%s %v: %s", name, v, want))
		}
	}
	check("DAU", in.DAU, in.DAU > 0, "give more than 0")
	check("MAU", in.MAU, in.MAU >= in.DAU, "give at least DAU")
	check("runs", in.Runs, in.Runs >= 0, "give 0 or more")
	check("submits", in.Submits, in.Submits >= 0, "give 0 or more")
	check("t-run", in.RunSeconds, in.RunSeconds >= 0, "give 0 or more seconds")
	check("t-submit", in.SubmitSeconds, in.SubmitSeconds >= 0, "give 0 or more seconds")
	check("overhead", in.Overhead, in.Overhead >= 1, "give 1 or more (vCPU-seconds per program CPU second)")
	check("vCPU-hour price", in.VCPUHourPrice, in.VCPUHourPrice > 0, "give more than 0")
	return errors.Join(errs...)
}

// Figures are the model's results.
type Figures struct {
	// Per active user.
	ExecSecondsPerUserDay float64 `json:"execSecondsPerUserDay"`
	VCPUSecondsPerUserDay float64 `json:"vcpuSecondsPerUserDay"`
	VCPUHoursPerUserDay   float64 `json:"vcpuHoursPerUserDay"`
	VCPUHoursPerUserMonth float64 `json:"vcpuHoursPerUserMonth"`
	CostPerUserDay        float64 `json:"costPerUserDay"`
	CostPerUserMonth      float64 `json:"costPerUserMonth"`
	// The platform at DAU (and MAU).
	VCPUHoursPerDay   float64 `json:"vcpuHoursPerDay"`
	VCPUHoursPerMonth float64 `json:"vcpuHoursPerMonth"`
	CostPerDay        float64 `json:"costPerDay"`
	CostPerMonth      float64 `json:"costPerMonth"`
	CostPerMAUMonth   float64 `json:"costPerMAUMonth"`
	// AverageVCPUs is the runner vCPUs needed on average over a day; peak
	// sizing needs measured peaks.
	AverageVCPUs float64 `json:"averageVCPUs"`
}

// Compute applies the model. It does not validate; call Validate first.
func Compute(in Inputs) Figures {
	var f Figures
	f.ExecSecondsPerUserDay = in.Runs*in.RunSeconds + in.Submits*in.SubmitSeconds
	f.VCPUSecondsPerUserDay = f.ExecSecondsPerUserDay * in.Overhead
	f.VCPUHoursPerUserDay = f.VCPUSecondsPerUserDay / 3600
	f.VCPUHoursPerUserMonth = f.VCPUHoursPerUserDay * DaysPerMonth
	f.CostPerUserDay = f.VCPUHoursPerUserDay * in.VCPUHourPrice
	f.CostPerUserMonth = f.CostPerUserDay * DaysPerMonth
	f.VCPUHoursPerDay = f.VCPUHoursPerUserDay * in.DAU
	f.VCPUHoursPerMonth = f.VCPUHoursPerDay * DaysPerMonth
	f.CostPerDay = f.CostPerUserDay * in.DAU
	f.CostPerMonth = f.CostPerDay * DaysPerMonth
	if in.MAU > 0 {
		f.CostPerMAUMonth = f.CostPerMonth / in.MAU
	}
	f.AverageVCPUs = f.VCPUSecondsPerUserDay * in.DAU / SecondsPerDay
	return f
}
