package coderunner

import (
	"context"
	"time"
)

// Quota is one owner's budget: how many runs and submissions it may start,
// how fast, how much CPU time they may use a day, and how many may wait or
// run at once. A limit of 0 allows nothing.
type Quota struct {
	RunsPerMinute     int `json:"runsPerMinute"`
	RunsPerDay        int `json:"runsPerDay"`
	ExecSecondsPerDay int `json:"execSecondsPerDay"`
	// MaxActiveRuns bounds the runs and submissions active together: both
	// are work in flight.
	MaxActiveRuns int `json:"maxActiveRuns"`
	// Submissions are counted apart from runs, each against limits of
	// their own: a child who has used up the day's runs can still hand in
	// a solution, while the day's CPU time lasts.
	SubmitsPerMinute int `json:"submitsPerMinute"`
	SubmitsPerDay    int `json:"submitsPerDay"`
}

// QuotaOverride changes some fields of a Quota; nil fields keep theirs.
type QuotaOverride struct {
	RunsPerMinute     *int `json:"runsPerMinute,omitempty"`
	RunsPerDay        *int `json:"runsPerDay,omitempty"`
	ExecSecondsPerDay *int `json:"execSecondsPerDay,omitempty"`
	MaxActiveRuns     *int `json:"maxActiveRuns,omitempty"`
	SubmitsPerMinute  *int `json:"submitsPerMinute,omitempty"`
	SubmitsPerDay     *int `json:"submitsPerDay,omitempty"`
}

// Fields returns q's fields by their JSON names, for whatever reads or
// sets them by name.
func (q *Quota) Fields() map[string]*int {
	return map[string]*int{
		"runsPerMinute": &q.RunsPerMinute, "runsPerDay": &q.RunsPerDay,
		"execSecondsPerDay": &q.ExecSecondsPerDay, "maxActiveRuns": &q.MaxActiveRuns,
		"submitsPerMinute": &q.SubmitsPerMinute, "submitsPerDay": &q.SubmitsPerDay,
	}
}

// fields returns o's fields by the JSON names of Quota.Fields.
func (o *QuotaOverride) fields() map[string]**int {
	return map[string]**int{
		"runsPerMinute": &o.RunsPerMinute, "runsPerDay": &o.RunsPerDay,
		"execSecondsPerDay": &o.ExecSecondsPerDay, "maxActiveRuns": &o.MaxActiveRuns,
		"submitsPerMinute": &o.SubmitsPerMinute, "submitsPerDay": &o.SubmitsPerDay,
	}
}

// Apply returns q with o's fields set in it.
func (q Quota) Apply(o QuotaOverride) Quota {
	dst := q.Fields()
	for name, src := range o.fields() {
		if *src != nil {
			*dst[name] = **src
		}
	}
	return q
}

// Merge returns o with the fields of later set over its own.
func (o QuotaOverride) Merge(later QuotaOverride) QuotaOverride {
	dst := o.fields()
	for name, src := range later.fields() {
		if *src != nil {
			*dst[name] = *src
		}
	}
	return o
}

// MaxQuotaValue bounds every quota field an admin may set.
const MaxQuotaValue = 1_000_000

// Validate reports a field out of range as BAD_USER_INPUT.
func (o QuotaOverride) Validate() error {
	for name, v := range o.fields() {
		if *v != nil && (**v < 0 || **v > MaxQuotaValue) {
			return Errorf(BadUserInput, "%s must be 0 to %d", name, MaxQuotaValue)
		}
	}
	return nil
}

// Usage is where an owner stands today (UTC).
type Usage struct {
	RunsToday    int
	SubmitsToday int
	ExecToday    time.Duration // CPU time of the runs and submissions that finished today
	ActiveRuns   int           // runs and submissions admitted and not yet ended
}

// DayStart returns the start of t's day (UTC): daily budgets reset then.
func DayStart(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// MaxActiveRunLife is how long an admitted run or submission counts among
// its owner's active runs if its end is never reported (EndRun lost to a
// crash): the reaper gives up on such work well before.
const MaxActiveRunLife = time.Hour

// Limiter enforces quotas and rate limits in the broker, each check and
// charge one atomic step, so that any number of api replicas together admit
// no more than a budget. Keys name the owner ("<user id>", "guest:<ip>") or,
// for Take, what is throttled ("signin:name:<name>").
type Limiter interface {
	// AdmitRun counts run runID against key's quota, or refuses it and
	// counts nothing: QUOTA_EXCEEDED (with ResetsAt, the next day's start)
	// when RunsPerDay runs started today or ExecSecondsPerDay is spent;
	// RATE_LIMITED (with RetryAfter) when MaxActiveRuns runs are active
	// or RunsPerMinute started in the last 60 s. Checked in that order.
	AdmitRun(ctx context.Context, key, runID string, q Quota, now time.Time) error
	// AdmitSubmission is AdmitRun for submission submissionID, under the
	// submission limits: QUOTA_EXCEEDED when SubmitsPerDay submissions
	// were admitted today or ExecSecondsPerDay is spent; RATE_LIMITED when
	// MaxActiveRuns runs and submissions are active or SubmitsPerMinute
	// were admitted in the last 60 s. The active runs and the CPU time are
	// shared with runs: a submission is work in flight until EndRun ends
	// it. Runs and submissions count nothing against each other's daily
	// and per-minute limits.
	AdmitSubmission(ctx context.Context, key, submissionID string, q Quota, now time.Time) error
	// EndRun removes runID (a run's or a submission's ID) from key's
	// active runs and charges cpu to key's budget of the day of now.
	// Ending one twice charges once.
	EndRun(ctx context.Context, key, runID string, cpu time.Duration, now time.Time) error
	// Usage reports key's usage on the day of now.
	Usage(ctx context.Context, key string, now time.Time) (Usage, error)
	// Take counts one attempt of key at now (a sign-in, a sign-up) and
	// returns its token — unless key already has limit attempts in the
	// window before now: then it refuses RATE_LIMITED (with RetryAfter,
	// until the oldest leaves the window) and counts nothing. One atomic
	// step, so that concurrent attempts cannot all pass a check together.
	Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (token string, err error)
	// Forget removes an attempt Take counted, by its token: one that turned
	// out not to count (a sign-in that succeeded). Forgetting one that is
	// gone is not an error.
	Forget(ctx context.Context, key, token string) error
}

// Revocations tells every process at once that a session ended, so that
// subscriptions it authorised end everywhere.
type Revocations interface {
	// Revoke announces that the session with tokenHash has ended.
	Revoke(ctx context.Context, tokenHash string) error
	// Revoked delivers the token hashes revoked from now on, by any
	// process, until ctx ends. Delivery is best-effort (a broker outage may
	// lose some): holders of long-lived sessions also check the store.
	Revoked(ctx context.Context) (<-chan string, error)
}
