package brokertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

func testLimiter(t *testing.T, open Open, peer Peer) {
	tests := []struct {
		name string
		test func(t *testing.T, open Open, peer Peer)
	}{
		{"ExecSecondsPerDay", testExecSecondsPerDay},
		{"MaxActiveRuns", testMaxActiveRuns},
		{"ConcurrentRunsAndSubmissionsKeepTheActiveLimit", testConcurrentActive},
		{"EndRunChargesOnce", testEndRunChargesOnce},
		{"KeysAreIndependent", testKeysIndependent},
		{"Usage", testUsage},
		{"Take", testTake},
		{"TakeKeepsTheNewest", testTakeKeepsTheNewest},
		{"Forget", testForget},
		{"TakeKeysAreIndependent", testTakeKeysIndependent},
		{"ConcurrentTakesKeepTheLimit", testConcurrentTakes},
	}
	// Runs and submissions are each held to limits of their own, by the
	// same rules.
	perKind := []struct {
		name string
		test func(t *testing.T, open Open, peer Peer, k kind)
	}{
		{"PerMinuteSlidingWindow", testPerMinute},
		{"ConcurrentAdmissionsKeepTheLimit", testConcurrentAdmissions},
		{"PerDay", testPerDay},
		{"ChecksInOrder", testChecksInOrder},
		{"KindsCountApart", testKindsApart},
	}
	for _, tt := range perKind {
		for _, k := range kinds {
			tests = append(tests, struct {
				name string
				test func(t *testing.T, open Open, peer Peer)
			}{tt.name + "/" + k.name, func(t *testing.T, open Open, peer Peer) { tt.test(t, open, peer, k) }})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open, peer)
		})
	}
}

// kind is what a Limiter admits, a run or a submission, as the tests
// see it.
type kind struct {
	broker.Kind
	name  string
	admit func(l coderunner.Limiter, ctx context.Context, key, id string, q coderunner.Quota, now time.Time) error
	// limit sets q's limits on the kind's admissions a day and a minute.
	limit func(q *coderunner.Quota, perDay, perMinute int)
	// today points at u's count of the kind's admissions today.
	today func(u *coderunner.Usage) *int
	// dayMessage refuses with 3 a day, minuteMessage with 10 a minute,
	// 30 s before there is room again: spelt out once, so that a child
	// is seen to get words it can act on.
	dayMessage, minuteMessage string
}

var kinds = []kind{
	{
		Kind: broker.Runs, name: "Runs", admit: coderunner.Limiter.AdmitRun,
		limit:         func(q *coderunner.Quota, perDay, perMinute int) { q.RunsPerDay, q.RunsPerMinute = perDay, perMinute },
		today:         func(u *coderunner.Usage) *int { return &u.RunsToday },
		dayMessage:    "you have used up today's runs (3 runs a day): you can start more at 00:00 UTC",
		minuteMessage: "you may start 10 runs a minute: try again in 30 s",
	},
	{
		Kind: broker.Submissions, name: "Submissions", admit: coderunner.Limiter.AdmitSubmission,
		limit: func(q *coderunner.Quota, perDay, perMinute int) {
			q.SubmitsPerDay, q.SubmitsPerMinute = perDay, perMinute
		},
		today:         func(u *coderunner.Usage) *int { return &u.SubmitsToday },
		dayMessage:    "you have used up today's submissions (3 submissions a day): you can submit again at 00:00 UTC",
		minuteMessage: "you may send 10 submissions a minute: try again in 30 s",
	},
}

// other is the kind that is not k.
func (k kind) other() kind {
	if k.name == kinds[0].name {
		return kinds[1]
	}
	return kinds[0]
}

// usage is a Usage of admitted of k's admissions today and active runs
// and submissions.
func (k kind) usage(admitted, active int) coderunner.Usage {
	u := coderunner.Usage{ActiveRuns: active}
	*k.today(&u) = admitted
	return u
}

// mustAdmit fails t unless k's id is admitted.
func (k kind) mustAdmit(t *testing.T, l coderunner.Limiter, key, id string, q coderunner.Quota, now time.Time) {
	t.Helper()
	if err := k.admit(l, t.Context(), key, id, q, now); err != nil {
		t.Fatalf("admit %s %s of %s at %v: %v", k.name, id, key, now, err)
	}
}

// runs and submissions admit their kind.
var runs, submissions = kinds[0], kinds[1]

// day is a UTC day the tests take place on: time comes from the callers,
// so it need not be today.
var day = time.Date(2030, 3, 14, 0, 0, 0, 0, time.UTC)

// at is a time of day.
func at(hour, minute, second int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), hour, minute, second, 0, time.UTC)
}

// roomy is a quota no test reaches but in the field it sets lower.
var roomy = coderunner.Quota{RunsPerMinute: 1000, RunsPerDay: 1000, ExecSecondsPerDay: 100_000, MaxActiveRuns: 1000, SubmitsPerMinute: 1000, SubmitsPerDay: 1000}

func admit(t *testing.T, l coderunner.Limiter, key, runID string, q coderunner.Quota, now time.Time) {
	t.Helper()
	runs.mustAdmit(t, l, key, runID, q, now)
}

func endRun(t *testing.T, l coderunner.Limiter, key, runID string, cpu time.Duration, now time.Time) {
	t.Helper()
	if err := l.EndRun(t.Context(), key, runID, cpu, now); err != nil {
		t.Fatalf("EndRun(%s, %s) at %v: %v", key, runID, now, err)
	}
}

// expectRefused fails t unless err is want: the same code and message,
// RetryAfter and ResetsAt.
func expectRefused(t *testing.T, err error, want error) {
	t.Helper()
	var got, w *coderunner.Error
	if !errors.As(err, &got) || !errors.As(want, &w) {
		t.Fatalf("error %v; want %v", err, want)
	}
	if got.Code != w.Code || got.Message != w.Message || got.RetryAfter != w.RetryAfter || !got.ResetsAt.Equal(w.ResetsAt) {
		t.Fatalf("error %s %q (retry after %v, resets at %v);\nwant  %s %q (retry after %v, resets at %v)",
			got.Code, got.Message, got.RetryAfter, got.ResetsAt, w.Code, w.Message, w.RetryAfter, w.ResetsAt)
	}
}

func expectUsage(t *testing.T, l coderunner.Limiter, key string, now time.Time, want coderunner.Usage) {
	t.Helper()
	got, err := l.Usage(t.Context(), key, now)
	if err != nil || got != want {
		t.Fatalf("Usage(%s) at %v = %+v, %v; want %+v", key, now, got, err, want)
	}
}

// testPerMinute: the limit counts the kind's admissions of the last 60 s,
// (now-60s, now], at any moment, not those of a calendar minute; a refusal
// says when the oldest leaves the window.
func testPerMinute(t *testing.T, open Open, _ Peer, k kind) {
	b := open(t, options())
	q := roomy
	k.limit(&q, 1000, 10)
	start := at(10, 0, 0)
	for i := range 10 {
		k.mustAdmit(t, b, "owner", fmt.Sprint("id-", i), q, start.Add(time.Duration(i)*time.Second))
	}
	now := start.Add(30 * time.Second)
	err := k.admit(b, t.Context(), "owner", "id-10", q, now)
	expectRefused(t, err, coderunner.ErrRateLimited(30*time.Second, "%s", k.minuteMessage))

	// 60 s after the first admission, it has left the window: one more.
	now = start.Add(time.Minute)
	k.mustAdmit(t, b, "owner", "id-10", q, now)
	err = k.admit(b, t.Context(), "owner", "id-11", q, now)
	// The second admission, at start+1s, is the oldest now.
	expectRefused(t, err, k.ErrPerMinute(q, start.Add(time.Second), now))
	now = start.Add(61 * time.Second)
	k.mustAdmit(t, b, "owner", "id-11", q, now)
	expectUsage(t, b, "owner", now, k.usage(12, 12))
}

// admitAtOnce makes n admissions at once, the i-th by admit through
// brokers[i%len(brokers)], and returns the indices of those that passed;
// each of the others must be refused with the code refused.
func admitAtOnce(t *testing.T, n int, brokers []coderunner.Broker, refused coderunner.Code, admit func(l coderunner.Limiter, i int) error) []int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Go(func() { errs[i] = admit(brokers[i%len(brokers)], i) })
	}
	wg.Wait()
	var passed []int
	for i, err := range errs {
		switch {
		case err == nil:
			passed = append(passed, i)
		case coderunner.ErrorCode(err) != refused:
			t.Fatalf("admission %d: %v; want admitted or %s", i, err, refused)
		}
	}
	return passed
}

// testConcurrentAdmissions: 50 requests at once, through two processes,
// admit exactly as many as the minute's limit allows, or the day's.
func testConcurrentAdmissions(t *testing.T, open Open, peer Peer, k kind) {
	for _, tt := range []struct {
		name              string
		perDay, perMinute int
		refused           coderunner.Code
	}{
		{"Minute", 1000, 10, coderunner.RateLimited},
		{"Day", 10, 1000, coderunner.QuotaExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t, options())
			q := roomy
			k.limit(&q, tt.perDay, tt.perMinute)
			q.MaxActiveRuns = 100
			now := at(10, 0, 0)
			passed := admitAtOnce(t, 50, []coderunner.Broker{b, peer(t, b)}, tt.refused, func(l coderunner.Limiter, i int) error {
				return k.admit(l, t.Context(), "owner", fmt.Sprint("id-", i), q, now)
			})
			if len(passed) != 10 {
				t.Fatalf("%d of 50 concurrent admissions; want 10", len(passed))
			}
			expectUsage(t, b, "owner", now, k.usage(10, 10))
		})
	}
}

// testConcurrentActive: 60 runs and submissions at once, through two
// processes, admit exactly MaxActiveRuns of them together.
func testConcurrentActive(t *testing.T, open Open, peer Peer) {
	b := open(t, options())
	q := roomy
	q.MaxActiveRuns = 10
	now := at(10, 0, 0)
	kindOf := func(i int) kind { return kinds[i/2%2] } // through both brokers
	passed := admitAtOnce(t, 60, []coderunner.Broker{b, peer(t, b)}, coderunner.RateLimited, func(l coderunner.Limiter, i int) error {
		return kindOf(i).admit(l, t.Context(), "owner", fmt.Sprint("id-", i), q, now)
	})
	if len(passed) != 10 {
		t.Fatalf("%d of 60 concurrent runs and submissions admitted; want 10", len(passed))
	}
	u := coderunner.Usage{ActiveRuns: 10}
	for _, i := range passed {
		*kindOf(i).today(&u)++
	}
	expectUsage(t, b, "owner", now, u)
}

// testPerDay: the day is the UTC day whatever the zone of now; its
// budget, once used up, is renewed at the next UTC midnight, while the
// minute's window runs on across midnight.
func testPerDay(t *testing.T, open Open, _ Peer, k kind) {
	b := open(t, options())
	q := roomy
	k.limit(&q, 3, 3)
	sydney := time.FixedZone("UTC+10", 10*60*60)
	for i, s := range []int{0, 10, 20} {
		k.mustAdmit(t, b, "owner", fmt.Sprint("id-", i), q, at(23, 59, s).In(sydney))
	}
	// The minute's limit is reached too: the day's is checked first.
	now := at(23, 59, 30).In(sydney)
	err := k.admit(b, t.Context(), "owner", "id-3", q, now)
	expectRefused(t, err, coderunner.ErrQuotaExceeded(day.Add(24*time.Hour), "%s", k.dayMessage))
	expectUsage(t, b, "owner", now, k.usage(3, 3))

	next := day.Add(24 * time.Hour)
	k.mustAdmit(t, b, "owner", "id-3", q, next) // the one at 23:59:00 left the minute's window
	err = k.admit(b, t.Context(), "owner", "id-4", q, next)
	expectRefused(t, err, k.ErrPerMinute(q, at(23, 59, 10), next))
	expectUsage(t, b, "owner", next, k.usage(1, 4))
}

// testKindsApart: one kind's admissions count against neither the day's
// nor the minute's limit of the other.
func testKindsApart(t *testing.T, open Open, _ Peer, k kind) {
	b := open(t, options())
	other := k.other()
	q := roomy
	k.limit(&q, 2, 2)
	other.limit(&q, 6, 6)
	now := at(10, 0, 0)
	for i := range 5 {
		other.mustAdmit(t, b, "owner", fmt.Sprint("other-", i), q, now)
	}
	k.mustAdmit(t, b, "owner", "id-0", q, now)
	k.mustAdmit(t, b, "owner", "id-1", q, now)
	expectRefused(t, k.admit(b, t.Context(), "owner", "id-2", q, now), k.ErrPerDay(q, now))
	other.mustAdmit(t, b, "owner", "other-5", q, now)
	expectRefused(t, other.admit(b, t.Context(), "owner", "other-6", q, now), other.ErrPerDay(q, now))
	u := k.usage(2, 8)
	*other.today(&u) = 6
	expectUsage(t, b, "owner", now, u)
}

// testExecSecondsPerDay: the CPU time of ended runs and submissions is
// charged to the day, one budget for both; once it reaches the budget,
// neither starts until the next day.
func testExecSecondsPerDay(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := roomy
	q.ExecSecondsPerDay = 10
	for i, cpu := range []time.Duration{6 * time.Second, 3500 * time.Millisecond, time.Second} {
		id := fmt.Sprint("id-", i)
		kinds[i%2].mustAdmit(t, b, "owner", id, q, at(10, i, 0)) // 9.5 s spent before the third: not yet all
		endRun(t, b, "owner", id, cpu, at(10, i, 30))
	}
	now := at(11, 0, 0)
	for _, k := range kinds {
		err := k.admit(b, t.Context(), "owner", "id-3", q, now)
		expectRefused(t, err, coderunner.ErrQuotaExceeded(day.Add(24*time.Hour),
			"you have used up today's running time (10 s a day): you can run more at 00:00 UTC"))
	}
	expectUsage(t, b, "owner", now, coderunner.Usage{RunsToday: 2, SubmitsToday: 1, ExecToday: 10500 * time.Millisecond})
	for _, k := range kinds {
		k.mustAdmit(t, b, "owner", "id-3-"+k.name, q, day.Add(24*time.Hour))
	}
}

// testMaxActiveRuns: runs and submissions admitted and not ended count
// together, until EndRun or until MaxActiveRunLife has passed since their
// admission (their end was lost); such a one is not charged if its end
// comes after all.
func testMaxActiveRuns(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := roomy
	q.MaxActiveRuns = 2
	start := at(10, 0, 0)
	admit(t, b, "owner", "run-a", q, start)
	submissions.mustAdmit(t, b, "owner", "sub-b", q, start)
	for _, k := range kinds {
		err := k.admit(b, t.Context(), "owner", "c", q, start.Add(time.Second))
		expectRefused(t, err, coderunner.ErrRateLimited(broker.ActiveRunsRetryAfter,
			"you may have 2 runs or submissions going at once: try again when one has finished"))
	}

	endRun(t, b, "owner", "run-a", time.Second, start.Add(2*time.Second))
	submissions.mustAdmit(t, b, "owner", "sub-c", q, start.Add(3*time.Second))
	err := b.AdmitRun(t.Context(), "owner", "run-d", q, start.Add(4*time.Second))
	expectRefused(t, err, broker.ErrActiveRuns(q))

	// sub-b's end was lost: it stops counting MaxActiveRunLife after its
	// admission.
	later := start.Add(coderunner.MaxActiveRunLife)
	expectUsage(t, b, "owner", later, coderunner.Usage{RunsToday: 1, SubmitsToday: 2, ExecToday: time.Second, ActiveRuns: 1})
	admit(t, b, "owner", "run-d", q, later)
	endRun(t, b, "owner", "sub-b", 5*time.Second, later)
	endRun(t, b, "owner", "sub-c", 2*time.Second, later)
	expectUsage(t, b, "owner", later, coderunner.Usage{RunsToday: 2, SubmitsToday: 2, ExecToday: 3 * time.Second, ActiveRuns: 1})
}

// testChecksInOrder: with several limits reached, the first in the order
// of the contract answers — the kind's day's admissions, the day's CPU
// time, active runs and submissions, the kind's minute's admissions.
func testChecksInOrder(t *testing.T, open Open, _ Peer, k kind) {
	b := open(t, options())
	q := coderunner.Quota{ExecSecondsPerDay: 1, MaxActiveRuns: 1}
	k.limit(&q, 2, 1)
	start := at(10, 0, 0)
	k.mustAdmit(t, b, "owner", "id-a", q, start)
	// Active runs and the minute's admissions are at their limits.
	err := k.admit(b, t.Context(), "owner", "id-b", q, start.Add(time.Second))
	expectRefused(t, err, broker.ErrActiveRuns(q))
	// The day's CPU time is spent, and the minute's admissions at their
	// limit.
	endRun(t, b, "owner", "id-a", time.Second, start.Add(2*time.Second))
	now := start.Add(3 * time.Second)
	err = k.admit(b, t.Context(), "owner", "id-b", q, now)
	expectRefused(t, err, broker.ErrExecPerDay(q, now))
	// With a quota of one a day, the day's admissions are used up too.
	k.limit(&q, 1, 1)
	err = k.admit(b, t.Context(), "owner", "id-b", q, now)
	expectRefused(t, err, k.ErrPerDay(q, now))
	u := k.usage(1, 0)
	u.ExecToday = time.Second
	expectUsage(t, b, "owner", now, u)
}

// testEndRunChargesOnce: ending a run twice charges it once; ending a run
// never admitted charges nothing; a run is charged to the day it ends on.
func testEndRunChargesOnce(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	admit(t, b, "owner", "run-1", roomy, at(10, 0, 0))
	endRun(t, b, "owner", "run-1", 2*time.Second, at(10, 1, 0))
	endRun(t, b, "owner", "run-1", 2*time.Second, at(10, 1, 1))
	endRun(t, b, "owner", "never-admitted", 5*time.Second, at(10, 2, 0))
	expectUsage(t, b, "owner", at(10, 3, 0), coderunner.Usage{RunsToday: 1, ExecToday: 2 * time.Second})

	admit(t, b, "owner", "run-2", roomy, at(23, 59, 0))
	next := day.Add(24*time.Hour + time.Minute)
	endRun(t, b, "owner", "run-2", 3*time.Second, next)
	expectUsage(t, b, "owner", at(23, 59, 59), coderunner.Usage{RunsToday: 2, ExecToday: 2 * time.Second})
	expectUsage(t, b, "owner", next, coderunner.Usage{ExecToday: 3 * time.Second})
}

// testKeysIndependent: keys that contain each other, or ':' and '.', and a
// Take key equal to an owner's, share nothing.
func testKeysIndependent(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := coderunner.Quota{RunsPerMinute: 1, RunsPerDay: 1, ExecSecondsPerDay: 1, MaxActiveRuns: 1}
	now := at(10, 0, 0)
	keys := []string{"guest:10.0.0.1", "guest:10.0.0.10", "guest:10.0.0", "guest", "user-1"}
	for _, key := range keys {
		admit(t, b, key, "run-1", q, now)
	}
	for _, key := range keys {
		expectRefused(t, b.AdmitRun(t.Context(), key, "run-2", q, now), broker.ErrRunsPerDay(q, now))
		expectUsage(t, b, key, now, coderunner.Usage{RunsToday: 1, ActiveRuns: 1})
	}
	// Attempts and admissions under one key are apart.
	take(t, b, "user-2", 1, time.Minute, now)
	admit(t, b, "user-2", "run-1", q, now)
	if _, err := b.Take(t.Context(), "user-2", 1, time.Minute, now); coderunner.ErrorCode(err) != coderunner.RateLimited {
		t.Fatalf("Take after an attempt, limit 1: %v; want RATE_LIMITED", err)
	}
	take(t, b, "user-1", 1, time.Minute, now) // admissions but no attempt
}

// testUsage: Usage reports the day of now; active runs and submissions
// are not per day. One admitted again while active counts once among them.
func testUsage(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	expectUsage(t, b, "owner", at(23, 0, 0), coderunner.Usage{})
	admit(t, b, "owner", "run-a", roomy, at(23, 30, 0))
	admit(t, b, "owner", "run-b", roomy, at(23, 30, 0))
	admit(t, b, "owner", "run-a", roomy, at(23, 31, 0))
	submissions.mustAdmit(t, b, "owner", "sub-a", roomy, at(23, 31, 0))
	submissions.mustAdmit(t, b, "owner", "sub-a", roomy, at(23, 31, 0))
	expectUsage(t, b, "owner", at(23, 32, 0), coderunner.Usage{RunsToday: 3, SubmitsToday: 2, ActiveRuns: 3})
	endRun(t, b, "owner", "run-a", 1500*time.Millisecond, at(23, 40, 0))
	endRun(t, b, "owner", "sub-a", 500*time.Millisecond, at(23, 40, 0))
	expectUsage(t, b, "owner", at(23, 41, 0), coderunner.Usage{RunsToday: 3, SubmitsToday: 2, ExecToday: 2 * time.Second, ActiveRuns: 1})
	expectUsage(t, b, "owner", day.Add(24*time.Hour+10*time.Minute), coderunner.Usage{ActiveRuns: 1})
	expectUsage(t, b, "owner", at(23, 30, 0).Add(coderunner.MaxActiveRunLife), coderunner.Usage{})
	expectUsage(t, b, "someone-else", at(23, 41, 0), coderunner.Usage{})
}

func take(t *testing.T, l coderunner.Limiter, key string, limit int, window time.Duration, now time.Time) string {
	t.Helper()
	token, err := l.Take(t.Context(), key, limit, window, now)
	if err != nil {
		t.Fatalf("Take(%s, %d, %v) at %v: %v", key, limit, window, now, err)
	}
	if token == "" {
		t.Fatalf("Take(%s, %d, %v) at %v: empty token", key, limit, window, now)
	}
	return token
}

func forget(t *testing.T, l coderunner.Limiter, key, token string) {
	t.Helper()
	if err := l.Forget(t.Context(), key, token); err != nil {
		t.Fatalf("Forget(%s, %q): %v", key, token, err)
	}
}

// expectTakeRefused fails t unless Take refuses with want and no token.
func expectTakeRefused(t *testing.T, l coderunner.Limiter, key string, limit int, window time.Duration, now time.Time, want error) {
	t.Helper()
	token, err := l.Take(t.Context(), key, limit, window, now)
	if token != "" {
		t.Fatalf("Take(%s, %d, %v) at %v: token %q with error %v; want no token", key, limit, window, now, token, err)
	}
	expectRefused(t, err, want)
}

// testTake: limit attempts in the window before now pass, each with its
// own token; the next is refused until the oldest leaves the window, and a
// refusal counts nothing.
func testTake(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	const limit, window = 3, 10 * time.Minute
	start := at(10, 0, 0)
	key := "signin:name:ada"
	tokens := make(map[string]bool)
	for i := range limit {
		token := take(t, b, key, limit, window, start.Add(time.Duration(i)*time.Minute))
		if tokens[token] {
			t.Fatalf("Take %d: token %q again", i, token)
		}
		tokens[token] = true
	}
	expectTakeRefused(t, b, key, limit, window, start.Add(3*time.Minute),
		coderunner.ErrRateLimited(7*time.Minute, "too many attempts: try again in 420 s"))
	// Refusals, had they counted, would fill the window again below.
	for i := range 5 {
		now := start.Add(4*time.Minute + time.Duration(i)*time.Second)
		expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(start, window, now))
	}
	// The first attempt leaves the window window after it: one more.
	now := start.Add(window - time.Millisecond)
	expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(start, window, now))
	take(t, b, key, limit, window, start.Add(window))
	// The second, at start+1m, is the oldest now.
	now = start.Add(window + time.Second)
	expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(start.Add(time.Minute), window, now))

	// A limit of 0 allows nothing, for the whole window.
	expectTakeRefused(t, b, "signup:addr:10.0.0.1", 0, window, start,
		coderunner.ErrRateLimited(window, "too many attempts: try again in 600 s"))
}

// testTakeKeepsTheNewest: should a key's limit be lowered, Take refuses
// until fewer than the new limit are in the window: until the oldest of
// the newest limit attempts leaves it.
func testTakeKeepsTheNewest(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	const window = 10 * time.Minute
	start := at(10, 0, 0)
	key := "signin:addr:10.0.0.1"
	for i := range 10 {
		take(t, b, key, 10, window, start.Add(time.Duration(i)*time.Second))
	}
	// The last three, from start+7s, are the newest.
	now := start.Add(10 * time.Second)
	expectTakeRefused(t, b, key, 3, window, now, broker.ErrThrottled(start.Add(7*time.Second), window, now))
	now = start.Add(7*time.Second + window - time.Millisecond)
	expectTakeRefused(t, b, key, 3, window, now, broker.ErrThrottled(start.Add(7*time.Second), window, now))
	take(t, b, key, 3, window, start.Add(7*time.Second+window))
}

// testForget: forgetting an attempt, by its token, frees its place;
// forgetting it again, a token never taken, a key never used, or a token
// under another key than its own, is no error and changes nothing else.
func testForget(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	const limit, window = 2, 10 * time.Minute
	key := "signin:name:ada"
	first := take(t, b, key, limit, window, at(10, 0, 0))
	second := take(t, b, key, limit, window, at(10, 1, 0))
	now := at(10, 2, 0)
	expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(at(10, 0, 0), window, now))

	// Forgetting the newer leaves the older the oldest.
	forget(t, b, key, second)
	forget(t, b, key, second)
	forget(t, b, key, "never-taken")
	forget(t, b, "signin:name:grace", first)
	forget(t, b, "never-used", "never-taken")
	third := take(t, b, key, limit, window, at(10, 2, 0))
	now = at(10, 3, 0)
	expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(at(10, 0, 0), window, now))

	forget(t, b, key, first)
	take(t, b, key, limit, window, at(10, 4, 0))
	now = at(10, 5, 0)
	expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(at(10, 2, 0), window, now))

	// Forgetting the third leaves the fourth alone.
	for _, token := range []string{first, second, third} {
		forget(t, b, key, token)
	}
	take(t, b, key, limit, window, at(10, 6, 0))
	now = at(10, 7, 0)
	expectTakeRefused(t, b, key, limit, window, now, broker.ErrThrottled(at(10, 4, 0), window, now))
}

// testTakeKeysIndependent: keys that contain each other, or ':' and '.',
// count their attempts apart; a token forgotten under another key frees
// no place.
func testTakeKeysIndependent(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	const window = time.Hour
	now := at(10, 0, 0)
	keys := []string{"signin:addr:10.0.0.1", "signin:addr:10.0.0.10", "signin:addr:10.0.0", "signin:addr", "signup:addr:10.0.0.1"}
	tokens := make(map[string]string)
	for _, key := range keys {
		tokens[key] = take(t, b, key, 1, window, now)
	}
	for i, key := range keys {
		forget(t, b, key, tokens[keys[(i+1)%len(keys)]])
	}
	for _, key := range keys {
		expectTakeRefused(t, b, key, 1, window, now, broker.ErrThrottled(now, window, now))
	}
	forget(t, b, keys[0], tokens[keys[0]])
	take(t, b, keys[0], 1, window, now)
	expectTakeRefused(t, b, keys[1], 1, window, now, broker.ErrThrottled(now, window, now))
}

// testConcurrentTakes: 60 attempts at once, through two processes, on one
// key with a limit of 10: exactly 10 pass, each with its own token, and
// 50 are refused RATE_LIMITED; the key then holds those 10.
func testConcurrentTakes(t *testing.T, open Open, peer Peer) {
	b := open(t, options())
	brokers := []coderunner.Broker{b, peer(t, b)}
	const limit, window = 10, 15 * time.Minute
	key := "signin:name:ada"
	now := at(10, 0, 0)
	var wg sync.WaitGroup
	tokens := make([]string, 60)
	errs := make([]error, 60)
	for i := range errs {
		wg.Go(func() {
			tokens[i], errs[i] = brokers[i%2].Take(t.Context(), key, limit, window, now)
		})
	}
	wg.Wait()
	taken := make(map[string]bool)
	refused := 0
	for i, err := range errs {
		switch {
		case err == nil && tokens[i] != "" && !taken[tokens[i]]:
			taken[tokens[i]] = true
		case err == nil:
			t.Fatalf("Take %d: token %q, empty or given before", i, tokens[i])
		case coderunner.ErrorCode(err) == coderunner.RateLimited && tokens[i] == "":
			refused++
		default:
			t.Fatalf("Take %d: token %q, %v; want a token or RATE_LIMITED", i, tokens[i], err)
		}
	}
	if len(taken) != limit || refused != 50 {
		t.Fatalf("%d of 60 concurrent attempts passed and %d were refused; want 10 and 50", len(taken), refused)
	}
	later := now.Add(time.Minute)
	expectTakeRefused(t, b, key, limit, window, later, broker.ErrThrottled(now, window, later))
	for token := range taken {
		forget(t, b, key, token)
	}
	take(t, b, key, limit, window, later)
}
