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
	// RunsPerMinuteWindow is the sliding window Quota.RunsPerMinute counts
	// admissions in.
	RunsPerMinuteWindow = time.Minute
	// ActiveRunsRetryAfter is AdmitRun's RetryAfter when MaxActiveRuns runs
	// are active: when one will end cannot be known, so it only paces
	// retries.
	ActiveRunsRetryAfter = time.Second
	// DayUsageTTL keeps an owner's counters of a day after their last
	// change: through the rest of the day, and past its end for a replica
	// whose clock lags or a run that ends after midnight.
	DayUsageTTL = 48 * time.Hour
)

// LogTTL keeps a sliding log of the given width (active runs, admissions,
// Take's attempts) after its last entry: once the width has passed, every entry
// is out of the window, and a minute more spares replicas whose clocks
// differ a little.
func LogTTL(width time.Duration) time.Duration { return width + time.Minute }

// ErrRunsPerDay is AdmitRun's error when today's RunsPerDay runs started.
func ErrRunsPerDay(q coderunner.Quota, now time.Time) error {
	return coderunner.ErrQuotaExceeded(nextDay(now),
		"you have used up today's runs (%s a day): you can start more at 00:00 UTC", runs(q.RunsPerDay))
}

// ErrExecPerDay is AdmitRun's error when today's ExecSecondsPerDay are
// spent.
func ErrExecPerDay(q coderunner.Quota, now time.Time) error {
	return coderunner.ErrQuotaExceeded(nextDay(now),
		"you have used up today's running time (%d s a day): you can run more at 00:00 UTC", q.ExecSecondsPerDay)
}

// ErrActiveRuns is AdmitRun's error when MaxActiveRuns runs are active.
func ErrActiveRuns(q coderunner.Quota) error {
	return coderunner.ErrRateLimited(ActiveRunsRetryAfter,
		"you may have %s going at once: try again when one has finished", runs(q.MaxActiveRuns))
}

// ErrRunsPerMinute is AdmitRun's error when RunsPerMinute runs were
// admitted in the window before now, the oldest of them at oldest (zero
// if none: RunsPerMinute is 0).
func ErrRunsPerMinute(q coderunner.Quota, oldest, now time.Time) error {
	wait := retryAfter(oldest, RunsPerMinuteWindow, now)
	return coderunner.ErrRateLimited(wait,
		"you may start %s a minute: try again in %d s", runs(q.RunsPerMinute), ceilSeconds(wait))
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

func runs(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}

// ceilSeconds rounds d up, so that whoever waits as long as told succeeds.
func ceilSeconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
