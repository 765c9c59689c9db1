package coderunner

import (
	"context"
	"time"

	"coderunner/internal/stats"
)

// Activity is one finished run or submission as the cost model counts it:
// whose it was, when it waited and ran, and how much program CPU it took.
// UsageStore.Activity reads them from the runs and submissions kept, so
// daily roll-ups (UsageDay) can be made from them before runs expire.
type Activity struct {
	// Submission tells a submission (all its tests) from a run.
	Submission bool
	// Owner is the run's or submission's Owner: a user's id, a guest's
	// "guest:<address>", or a check submission's "check:<editor>".
	Owner      string
	CreatedAt  time.Time
	StartedAt  time.Time // zero if it never started (given up on, or cancelled while queued)
	FinishedAt time.Time
	// CPUMs is the program's CPU time: the run's, or the sum of the
	// submission's tests'.
	CPUMs int64
	// Tests is how many tests a submission ran.
	Tests int
}

// UsageWindow is the length of the windows the roll-ups find their peaks
// in: the most users active, and the most jobs queued, in any five
// minutes of a day.
const UsageWindow = 5 * time.Minute

// UsageDay is one UTC day's roll-up of the activity: the measured inputs
// of the cost model (package cost). It is made from the runs and
// submissions created that day, and kept after the runs expire (see
// RunStore.DeleteFinishedRuns). Program times and queue waits are in
// milliseconds.
type UsageDay struct {
	// Day is the UTC midnight the day starts at.
	Day time.Time `json:"day"`
	// ActiveUsers counts the distinct owners of the day's runs and
	// submissions, guests included and check submissions not; Users is
	// the same set as a sketch, so that days merge into a month's
	// distinct users.
	ActiveUsers int          `json:"activeUsers"`
	Users       stats.Sketch `json:"users"`
	// PeakUsers is the most distinct users active (creating a run or a
	// submission) in one UsageWindow of the day.
	PeakUsers int `json:"peakUsers"`
	// PeakJobs is the most runs and submissions created in one
	// UsageWindow of the day.
	PeakJobs int `json:"peakJobs"`
	// RunCPU and SubmissionCPU are the program CPU times of the day's
	// runs and (non-check) submissions; their Count is R·DAU and S·DAU.
	RunCPU        stats.Histogram `json:"runCpu"`
	SubmissionCPU stats.Histogram `json:"submissionCpu"`
	// Tests counts the tests of the day's (non-check) submissions.
	Tests int64 `json:"tests"`
	// CheckCPUMs is the program CPU time of editors' check submissions:
	// runner work, but no user's.
	CheckCPUMs int64 `json:"checkCpuMs"`
	// QueueWait is the time from creation to start of every run and
	// submission that started.
	QueueWait stats.Histogram `json:"queueWait"`
	// MadeAt is when the roll-up was made: a day rolled up before it
	// ended covers what had been created by then.
	MadeAt time.Time `json:"madeAt"`
}

// ProgramCPUMs is all the program CPU time of the day, check submissions
// included: what the runners ran.
func (d UsageDay) ProgramCPUMs() int64 {
	return d.RunCPU.Sum + d.SubmissionCPU.Sum + d.CheckCPUMs
}

// RunnerUsage is what one worker process measured of its host on one UTC
// day: the CPU time the host spent while it ran (programs, the engine, the
// worker itself and anything else on the host) and the vCPU-seconds the
// host had. Each process stores its own, so writers never contend; a
// runner host runs one worker (two on one host would count its CPU twice).
type RunnerUsage struct {
	// Day is the UTC midnight the day starts at.
	Day time.Time `json:"day"`
	// Runner names the worker process; Host its host.
	Runner string `json:"runner"`
	Host   string `json:"host"`
	// BusyCPUSeconds is the host's CPU time spent (not idle) while the
	// worker ran that day.
	BusyCPUSeconds float64 `json:"busyCpuSeconds"`
	// ProvisionedVCPUSeconds is the host's vCPUs × the seconds the worker
	// ran that day.
	ProvisionedVCPUSeconds float64 `json:"provisionedVcpuSeconds"`
	// VCPUs is the host's vCPU count.
	VCPUs     int       `json:"vcpus"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// UsageStore keeps what the cost model measures. store/sqlite and
// store/mongo implement it. Days are UTC midnights; [from, to) ranges
// include from and exclude to.
type UsageStore interface {
	// Activity calls fn once for every finished run and submission
	// (status not QUEUED or RUNNING) created in [from, to), in no
	// particular order, check submissions included, and stops at fn's
	// first error, returning it. Only the fields of Activity are read, a
	// batch at a time: memory stays bounded whatever the number.
	Activity(ctx context.Context, from, to time.Time, fn func(Activity) error) error
	// SaveUsageDay inserts or replaces the roll-up of d.Day.
	SaveUsageDay(ctx context.Context, d UsageDay) error
	// UsageDays returns the roll-ups of the days in [from, to), oldest
	// first.
	UsageDays(ctx context.Context, from, to time.Time) ([]UsageDay, error)
	// SaveRunnerUsage inserts or replaces u, by Day and Runner.
	SaveRunnerUsage(ctx context.Context, u RunnerUsage) error
	// RunnerUsage returns the runner figures of the days in [from, to),
	// by day, then runner.
	RunnerUsage(ctx context.Context, from, to time.Time) ([]RunnerUsage, error)
}

// DayOf is the UTC midnight that starts t's day.
func DayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
