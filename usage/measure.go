package usage

import (
	"context"
	"fmt"
	"math"
	"time"

	"coderunner"
	"coderunner/internal/stats"
)

// Quantiles summarise a measured time, in seconds.
type Quantiles struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
}

func quantilesOf(ms stats.Histogram) Quantiles {
	return Quantiles{Mean: ms.Mean() / 1000, P50: ms.Quantile(0.5) / 1000, P95: ms.Quantile(0.95) / 1000}
}

// Measured is what the platform did over whole UTC days [From, To): the
// cost model's inputs and what sizing runners needs. Times are seconds.
type Measured struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Days int       `json:"days"`
	// DaysRolledUp counts the days that have a roll-up; days without one
	// (before the platform measured, or while nothing ran) count as days
	// without users.
	DaysRolledUp int `json:"daysRolledUp"`
	// ActiveUserDays is the sum of each day's active users; DAU its mean
	// over Days.
	ActiveUserDays int     `json:"activeUserDays"`
	DAU            float64 `json:"dau"`
	// MAU counts the distinct users of the MonthDays days that end at To.
	MAU float64 `json:"mau"`
	// PeakUsers is the most users active in one UsageWindow;
	// PeakJobsPerSecond the most runs and submissions created in one,
	// per second.
	PeakUsers         int     `json:"peakUsers"`
	PeakJobsPerSecond float64 `json:"peakJobsPerSecond"`
	Runs              int64   `json:"runs"`
	Submissions       int64   `json:"submissions"`
	// RunsPerUser and SubmitsPerUser are R and S: per active user per
	// day.
	RunsPerUser    float64 `json:"runsPerUser"`
	SubmitsPerUser float64 `json:"submitsPerUser"`
	// RunCPU and SubmissionCPU are t_run and t_submit: program CPU time
	// per run and per submission (all its tests).
	RunCPU             Quantiles `json:"runCpu"`
	SubmissionCPU      Quantiles `json:"submissionCpu"`
	QueueWait          Quantiles `json:"queueWait"`
	TestsPerSubmission float64   `json:"testsPerSubmission"`
	// ProgramCPUSeconds is all the programs' CPU time, editors' checks
	// included: what the runners ran.
	ProgramCPUSeconds float64 `json:"programCpuSeconds"`
	// BusyCPUSeconds and ProvisionedVCPUSeconds are the runner hosts'
	// (RunnerUsage); 0 when no worker measured its host.
	BusyCPUSeconds         float64 `json:"busyCpuSeconds"`
	ProvisionedVCPUSeconds float64 `json:"provisionedVcpuSeconds"`
	// BusyOverhead is the runner hosts' CPU time spent per program CPU
	// second; ProvisionedOverhead the vCPU-seconds they had per program
	// CPU second (the cost model's OverheadFactor: what is paid for). 0
	// when either side was not measured.
	BusyOverhead        float64 `json:"busyOverhead"`
	ProvisionedOverhead float64 `json:"provisionedOverhead"`
	// RunnerVCPUs is the runner vCPUs provisioned on average over the
	// days; Utilisation the share of them busy.
	RunnerVCPUs float64 `json:"runnerVcpus"`
	Utilisation float64 `json:"utilisation"`
}

// Measure reads the roll-ups and runner figures of the days whole days
// before to's day (to's day itself, not over yet, is left out).
func Measure(ctx context.Context, store coderunner.UsageStore, to time.Time, days int) (Measured, error) {
	if days < 1 || days > MaxDays {
		return Measured{}, coderunner.Errorf(coderunner.BadUserInput, "days %d: give 1 to %d", days, MaxDays)
	}
	to = coderunner.DayOf(to)
	from := to.Add(-time.Duration(days) * day)
	monthFrom := to.Add(-MonthDays * day)
	rolled, err := store.UsageDays(ctx, earliest(from, monthFrom), to)
	if err != nil {
		return Measured{}, fmt.Errorf("read roll-ups: %w", err)
	}
	runners, err := store.RunnerUsage(ctx, from, to)
	if err != nil {
		return Measured{}, fmt.Errorf("read runner usage: %w", err)
	}
	m := Measured{From: from, To: to, Days: days}
	var month []coderunner.UsageDay
	var runCPU, submissionCPU, wait stats.Histogram
	var tests, programCPUMs int64
	peakJobs := 0
	for _, d := range rolled {
		if !d.Day.Before(monthFrom) {
			month = append(month, d)
		}
		if d.Day.Before(from) {
			continue
		}
		m.DaysRolledUp++
		m.ActiveUserDays += d.ActiveUsers
		m.PeakUsers = max(m.PeakUsers, d.PeakUsers)
		peakJobs = max(peakJobs, d.PeakJobs)
		runCPU.Merge(d.RunCPU)
		submissionCPU.Merge(d.SubmissionCPU)
		wait.Merge(d.QueueWait)
		tests += d.Tests
		programCPUMs += d.ProgramCPUMs()
	}
	m.MAU = monthUsers(month)
	m.DAU = float64(m.ActiveUserDays) / float64(days)
	m.PeakJobsPerSecond = float64(peakJobs) / coderunner.UsageWindow.Seconds()
	m.Runs, m.Submissions = runCPU.Count, submissionCPU.Count
	if m.ActiveUserDays > 0 {
		m.RunsPerUser = float64(m.Runs) / float64(m.ActiveUserDays)
		m.SubmitsPerUser = float64(m.Submissions) / float64(m.ActiveUserDays)
	}
	m.RunCPU, m.SubmissionCPU, m.QueueWait = quantilesOf(runCPU), quantilesOf(submissionCPU), quantilesOf(wait)
	if m.Submissions > 0 {
		m.TestsPerSubmission = float64(tests) / float64(m.Submissions)
	}
	m.ProgramCPUSeconds = float64(programCPUMs) / 1000
	for _, r := range runners {
		m.BusyCPUSeconds += r.BusyCPUSeconds
		m.ProvisionedVCPUSeconds += r.ProvisionedVCPUSeconds
	}
	if m.ProgramCPUSeconds > 0 {
		m.BusyOverhead = m.BusyCPUSeconds / m.ProgramCPUSeconds
		m.ProvisionedOverhead = m.ProvisionedVCPUSeconds / m.ProgramCPUSeconds
	}
	m.RunnerVCPUs = m.ProvisionedVCPUSeconds / to.Sub(from).Seconds()
	if m.ProvisionedVCPUSeconds > 0 {
		m.Utilisation = m.BusyCPUSeconds / m.ProvisionedVCPUSeconds
	}
	return m, nil
}

// MaxDays is the longest span Measure reads: a year of roll-ups.
const MaxDays = 366

// Recommendation is how many runner vCPUs the measured peak needs.
type Recommendation struct {
	// TargetWaitSeconds is the p95 queue wait to stay under.
	TargetWaitSeconds float64 `json:"targetWaitSeconds"`
	// PeakJobsPerSecond is the arrival rate at the measured peak;
	// JobVCPUSeconds the vCPU time one job (a run, or a submission's
	// tests) takes on a runner: its mean program CPU × the busy overhead.
	PeakJobsPerSecond float64 `json:"peakJobsPerSecond"`
	JobVCPUSeconds    float64 `json:"jobVcpuSeconds"`
	// VCPUs is the fewest runner vCPUs that keep the p95 queue wait under
	// the target at that peak; HaveVCPUs the vCPUs provisioned on average,
	// MeasuredP95WaitSeconds the p95 wait measured.
	VCPUs                  int     `json:"vcpus"`
	HaveVCPUs              float64 `json:"haveVcpus"`
	MeasuredP95WaitSeconds float64 `json:"measuredP95WaitSeconds"`
	Utilisation            float64 `json:"utilisation"`
}

// Recommend sizes the runners for the measured peak: jobs arrive at the
// peak rate, each takes JobVCPUSeconds of one vCPU (programs are single
// threaded; a slot per vCPU), and the queue is M/M/c, so the fewest c with
// P(wait > target) = ErlangC(c, a)·e^(−(c−a)·target/S) ≤ 5% keeps the p95
// wait under target. overhead stands in for the busy overhead when none
// was measured.
func Recommend(m Measured, target time.Duration, overhead float64) Recommendation {
	r := Recommendation{
		TargetWaitSeconds:      target.Seconds(),
		PeakJobsPerSecond:      m.PeakJobsPerSecond,
		HaveVCPUs:              m.RunnerVCPUs,
		MeasuredP95WaitSeconds: m.QueueWait.P95,
		Utilisation:            m.Utilisation,
		VCPUs:                  1,
	}
	if m.BusyOverhead > 0 {
		overhead = m.BusyOverhead
	}
	if jobs := m.Runs + m.Submissions; jobs > 0 {
		r.JobVCPUSeconds = m.ProgramCPUSeconds / float64(jobs) * overhead
	}
	r.VCPUs = ServersFor(r.PeakJobsPerSecond, r.JobVCPUSeconds, r.TargetWaitSeconds, 0.95)
	return r
}

// ServersFor returns the fewest servers (at least 1) of an M/M/c queue
// with arrival rate lambda and mean service time s whose wait stays under
// target with probability q.
func ServersFor(lambda, s, target, q float64) int {
	a := lambda * s // offered load, in servers
	if a <= 0 {
		return 1
	}
	for c := max(1, int(math.Floor(a))+1); ; c++ {
		if erlangC(c, a)*math.Exp(-(float64(c)-a)*target/s) <= 1-q {
			return c
		}
	}
}

// erlangC is the probability that a job waits at all in an M/M/c queue
// with offered load a < c, from the Erlang B recurrence (stable for any c).
func erlangC(c int, a float64) float64 {
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return float64(c) * b / (float64(c) - a*(1-b))
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
