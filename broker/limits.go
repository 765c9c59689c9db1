package broker

import (
	"fmt"
	"time"

	"coderunner"
)

// The Limiter's windows and the lifetimes of its state, the same in both
// implementations: broker/redis sets them as key TTLs, broker/memory's
// sweeper frees its entries after them.
const (
	// PerMinuteWindow is the sliding window Quota.RunsPerMinute and
	// Quota.SubmitsPerMinute count admissions in.
	PerMinuteWindow = time.Minute
	// ActiveRunsRetryAfter is the RetryAfter of a refusal when MaxActiveRuns
	// runs and submissions are active: when one will end cannot be known,
	// so it only paces retries.
	ActiveRunsRetryAfter = time.Second
	// DayUsageTTL keeps an owner's counters of a day after their last
	// change: through the rest of the day, and past its end for a replica
	// whose clock lags or a run that ends after midnight.
	DayUsageTTL = 48 * time.Hour
)

// Kind is what a Limiter admits, a run or a submission. Each kind is
// counted apart, against limits of its own — a day's admissions and a
// minute's — while the active runs and the day's CPU time are shared: a
// submission being graded is work in flight like a run.
type Kind struct {
	// Counter names the kind's count of a day's admissions and Log its log
	// of the last minute's: broker/redis's hash field and key part,
	// broker/memory's map keys.
	Counter, Log string
	// Limits returns q's limits on the kind's admissions a day and a
	// minute.
	Limits func(q coderunner.Quota) (perDay, perMinute int)
	// ErrPerDay refuses an admission over the day's limit, ErrPerMinute one
	// over the minute's (see ErrRunsPerMinute).
	ErrPerDay    func(q coderunner.Quota, now time.Time) error
	ErrPerMinute func(q coderunner.Quota, oldest, now time.Time) error
}

// Runs are admitted by AdmitRun, Submissions by AdmitSubmission.
var (
	Runs = Kind{
		Counter: "runs", Log: "admitted",
		Limits:    func(q coderunner.Quota) (int, int) { return q.RunsPerDay, q.RunsPerMinute },
		ErrPerDay: ErrRunsPerDay, ErrPerMinute: ErrRunsPerMinute,
	}
	Submissions = Kind{
		Counter: "submits", Log: "submitted",
		Limits:    func(q coderunner.Quota) (int, int) { return q.SubmitsPerDay, q.SubmitsPerMinute },
		ErrPerDay: ErrSubmitsPerDay, ErrPerMinute: ErrSubmitsPerMinute,
	}
)

// LogTTL keeps a sliding log of the given width (active runs, admissions,
// Take's attempts) after its last entry: once the width has passed, every entry
// is out of the window, and a minute more spares replicas whose clocks
// differ a little.
func LogTTL(width time.Duration) time.Duration { return width + time.Minute }

// ErrRunsPerDay is AdmitRun's error when today's RunsPerDay runs started.
func ErrRunsPerDay(q coderunner.Quota, now time.Time) error {
	return coderunner.ErrQuotaExceeded(nextDay(now),
		"you have used up today's runs (%s a day): you can start more at 00:00 UTC", count(q.RunsPerDay, "run", "runs"))
}

// ErrSubmitsPerDay is AdmitSubmission's error when today's SubmitsPerDay
// submissions were admitted.
func ErrSubmitsPerDay(q coderunner.Quota, now time.Time) error {
	return coderunner.ErrQuotaExceeded(nextDay(now),
		"you have used up today's submissions (%s a day): you can submit again at 00:00 UTC", count(q.SubmitsPerDay, "submission", "submissions"))
}

// ErrExecPerDay is the error of AdmitRun and AdmitSubmission when today's
// ExecSecondsPerDay are spent.
func ErrExecPerDay(q coderunner.Quota, now time.Time) error {
	return coderunner.ErrQuotaExceeded(nextDay(now),
		"you have used up today's running time (%d s a day): you can run more at 00:00 UTC", q.ExecSecondsPerDay)
}

// ErrActiveRuns is the error of AdmitRun and AdmitSubmission when
// MaxActiveRuns runs and submissions are active: it names both, since
// either may be what the child has to wait for.
func ErrActiveRuns(q coderunner.Quota) error {
	return coderunner.ErrRateLimited(ActiveRunsRetryAfter,
		"you may have %s going at once: try again when one has finished", count(q.MaxActiveRuns, "run or submission", "runs or submissions"))
}

// ErrRunsPerMinute is AdmitRun's error when RunsPerMinute runs were
// admitted in the window before now, the oldest of them at oldest (zero
// if none: RunsPerMinute is 0).
func ErrRunsPerMinute(q coderunner.Quota, oldest, now time.Time) error {
	wait := retryAfter(oldest, PerMinuteWindow, now)
	return coderunner.ErrRateLimited(wait,
		"you may start %s a minute: try again in %d s", count(q.RunsPerMinute, "run", "runs"), ceilSeconds(wait))
}

// ErrSubmitsPerMinute is AdmitSubmission's error when SubmitsPerMinute
// submissions were admitted in the window before now, the oldest of them
// at oldest (zero if none).
func ErrSubmitsPerMinute(q coderunner.Quota, oldest, now time.Time) error {
	wait := retryAfter(oldest, PerMinuteWindow, now)
	return coderunner.ErrRateLimited(wait,
		"you may send %s a minute: try again in %d s", count(q.SubmitsPerMinute, "submission", "submissions"), ceilSeconds(wait))
}

// ErrThrottled is Take's error when limit attempts were counted in the
// window before now, the oldest of them at oldest (zero if none: the
// limit is 0).
func ErrThrottled(oldest time.Time, window time.Duration, now time.Time) error {
	wait := retryAfter(oldest, window, now)
	return coderunner.ErrRateLimited(wait,
		"too many attempts: try again in %d s", ceilSeconds(wait))
}

// retryAfter is the wait until the oldest event leaves the window before
// now, and then there is room for one more; with no event, the whole
// window (though a limit of 0 never allows one).
func retryAfter(oldest time.Time, window time.Duration, now time.Time) time.Duration {
	if oldest.IsZero() {
		oldest = now
	}
	return oldest.Add(window).Sub(now)
}

func nextDay(now time.Time) time.Time { return coderunner.DayStart(now).Add(24 * time.Hour) }

// count says n things: "1 run", "2 runs".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ceilSeconds rounds d up, so that whoever waits as long as told succeeds.
func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
