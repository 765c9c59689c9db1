package brokertest

import (
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
		{"RunsPerMinuteSlidingWindow", testRunsPerMinute},
		{"ConcurrentAdmissionsKeepTheLimit", testConcurrentAdmissions},
		{"RunsPerDay", testRunsPerDay},
		{"ExecSecondsPerDay", testExecSecondsPerDay},
		{"MaxActiveRuns", testMaxActiveRuns},
		{"ChecksInOrder", testChecksInOrder},
		{"EndRunChargesOnce", testEndRunChargesOnce},
		{"KeysAreIndependent", testKeysIndependent},
		{"Usage", testUsage},
		{"Take", testTake},
		{"TakeKeepsTheNewest", testTakeKeepsTheNewest},
		{"Forget", testForget},
		{"TakeKeysAreIndependent", testTakeKeysIndependent},
		{"ConcurrentTakesKeepTheLimit", testConcurrentTakes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open, peer)
		})
	}
}

// day is a UTC day the tests take place on: time comes from the callers,
// so it need not be today.
var day = time.Date(2030, 3, 14, 0, 0, 0, 0, time.UTC)

// at is a time of day.
func at(hour, minute, second int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), hour, minute, second, 0, time.UTC)
}

// roomy is a quota no test reaches but in the field it sets lower.
var roomy = coderunner.Quota{RunsPerMinute: 1000, RunsPerDay: 1000, ExecSecondsPerDay: 100_000, MaxActiveRuns: 1000}

func admit(t *testing.T, l coderunner.Limiter, key, runID string, q coderunner.Quota, now time.Time) {
	t.Helper()
	if err := l.AdmitRun(t.Context(), key, runID, q, now); err != nil {
		t.Fatalf("AdmitRun(%s, %s) at %v: %v", key, runID, now, err)
	}
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

// testRunsPerMinute: the limit counts the admissions of the last 60 s,
// (now-60s, now], at any moment, not those of a calendar minute; a refusal
// says when the oldest leaves the window.
func testRunsPerMinute(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := roomy
	q.RunsPerMinute = 10
	start := at(10, 0, 0)
	for i := range 10 {
		admit(t, b, "owner", fmt.Sprint("run-", i), q, start.Add(time.Duration(i)*time.Second))
	}
	now := start.Add(30 * time.Second)
	err := b.AdmitRun(t.Context(), "owner", "run-10", q, now)
	expectRefused(t, err, coderunner.ErrRateLimited(30*time.Second, "you may start 10 runs a minute: try again in 30 s"))

	// 60 s after the first admission, it has left the window: one more.
	now = start.Add(time.Minute)
	admit(t, b, "owner", "run-10", q, now)
	err = b.AdmitRun(t.Context(), "owner", "run-11", q, now)
	// The second admission, at start+1s, is the oldest now.
	expectRefused(t, err, coderunner.ErrRateLimited(time.Second, "you may start 10 runs a minute: try again in 1 s"))
	now = start.Add(61 * time.Second)
	admit(t, b, "owner", "run-11", q, now)
	expectUsage(t, b, "owner", now, coderunner.Usage{RunsToday: 12, ActiveRuns: 12})
}

// testConcurrentAdmissions: 50 requests at once, through two processes,
// admit exactly as many runs as the limit allows.
func testConcurrentAdmissions(t *testing.T, open Open, peer Peer) {
	b := open(t, options())
	brokers := []coderunner.Broker{b, peer(t, b)}
	q := roomy
	q.RunsPerMinute, q.MaxActiveRuns = 10, 100
	now := at(10, 0, 0)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Go(func() {
			errs[i] = brokers[i%2].AdmitRun(t.Context(), "owner", fmt.Sprint("run-", i), q, now)
		})
	}
	wg.Wait()
	admitted := 0
	for i, err := range errs {
		switch {
		case err == nil:
			admitted++
		case coderunner.ErrorCode(err) != coderunner.RateLimited:
			t.Fatalf("AdmitRun %d: %v; want admitted or RATE_LIMITED", i, err)
		}
	}
	if admitted != 10 {
		t.Fatalf("%d of 50 concurrent runs admitted; want 10", admitted)
	}
	expectUsage(t, b, "owner", now, coderunner.Usage{RunsToday: 10, ActiveRuns: 10})
}

// testRunsPerDay: the day is the UTC day whatever the zone of now; its
// budget, once used up, is renewed at the next UTC midnight, while the
// minute's window runs on across midnight.
func testRunsPerDay(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := roomy
	q.RunsPerDay, q.RunsPerMinute = 3, 3
	sydney := time.FixedZone("UTC+10", 10*60*60)
	for i, s := range []int{0, 10, 20} {
		admit(t, b, "owner", fmt.Sprint("run-", i), q, at(23, 59, s).In(sydney))
	}
	// The minute's limit is reached too: the day's is checked first.
	now := at(23, 59, 30).In(sydney)
	err := b.AdmitRun(t.Context(), "owner", "run-3", q, now)
	expectRefused(t, err, coderunner.ErrQuotaExceeded(day.Add(24*time.Hour),
		"you have used up today's runs (3 runs a day): you can start more at 00:00 UTC"))
	expectUsage(t, b, "owner", now, coderunner.Usage{RunsToday: 3, ActiveRuns: 3})

	next := day.Add(24 * time.Hour)
	admit(t, b, "owner", "run-3", q, next) // the run at 23:59:00 left the minute's window
	err = b.AdmitRun(t.Context(), "owner", "run-4", q, next)
	expectRefused(t, err, broker.ErrRunsPerMinute(q, at(23, 59, 10), next))
	expectUsage(t, b, "owner", next, coderunner.Usage{RunsToday: 1, ActiveRuns: 4})
}

// testExecSecondsPerDay: the CPU time of ended runs is charged to the day;
// once it reaches the budget, no run starts until the next day.
func testExecSecondsPerDay(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := roomy
	q.ExecSecondsPerDay = 10
	for i, cpu := range []time.Duration{6 * time.Second, 3500 * time.Millisecond, time.Second} {
		id := fmt.Sprint("run-", i)
		admit(t, b, "owner", id, q, at(10, i, 0)) // 9.5 s spent before the third: not yet all
		endRun(t, b, "owner", id, cpu, at(10, i, 30))
	}
	now := at(11, 0, 0)
	err := b.AdmitRun(t.Context(), "owner", "run-3", q, now)
	expectRefused(t, err, coderunner.ErrQuotaExceeded(day.Add(24*time.Hour),
		"you have used up today's running time (10 s a day): you can run more at 00:00 UTC"))
	expectUsage(t, b, "owner", now, coderunner.Usage{RunsToday: 3, ExecToday: 10500 * time.Millisecond})
	admit(t, b, "owner", "run-3", q, day.Add(24*time.Hour))
}

// testMaxActiveRuns: runs admitted and not ended count, until EndRun or
// until MaxActiveRunLife has passed since their admission (their end was
// lost); such a run is not charged if its end comes after all.
func testMaxActiveRuns(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := roomy
	q.MaxActiveRuns = 2
	start := at(10, 0, 0)
	admit(t, b, "owner", "run-a", q, start)
	admit(t, b, "owner", "run-b", q, start)
	err := b.AdmitRun(t.Context(), "owner", "run-c", q, start.Add(time.Second))
	expectRefused(t, err, coderunner.ErrRateLimited(broker.ActiveRunsRetryAfter,
		"you may have 2 runs going at once: try again when one has finished"))

	endRun(t, b, "owner", "run-a", time.Second, start.Add(2*time.Second))
	admit(t, b, "owner", "run-c", q, start.Add(3*time.Second))
	err = b.AdmitRun(t.Context(), "owner", "run-d", q, start.Add(4*time.Second))
	expectRefused(t, err, broker.ErrActiveRuns(q))

	// run-b's end was lost: it stops counting MaxActiveRunLife after its
	// admission.
	later := start.Add(coderunner.MaxActiveRunLife)
	expectUsage(t, b, "owner", later, coderunner.Usage{RunsToday: 3, ExecToday: time.Second, ActiveRuns: 1})
	admit(t, b, "owner", "run-d", q, later)
	endRun(t, b, "owner", "run-b", 5*time.Second, later)
	expectUsage(t, b, "owner", later, coderunner.Usage{RunsToday: 4, ExecToday: time.Second, ActiveRuns: 2})
}

// testChecksInOrder: with several limits reached, the first in the order
// of the contract answers — day's runs, day's CPU time, active runs, the
// minute's runs.
func testChecksInOrder(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	q := coderunner.Quota{RunsPerMinute: 1, RunsPerDay: 2, ExecSecondsPerDay: 1, MaxActiveRuns: 1}
	start := at(10, 0, 0)
	admit(t, b, "owner", "run-a", q, start)
	// Active runs and the minute's runs are at their limits.
	err := b.AdmitRun(t.Context(), "owner", "run-b", q, start.Add(time.Second))
	expectRefused(t, err, broker.ErrActiveRuns(q))
	// The day's CPU time is spent, and the minute's runs at their limit.
	endRun(t, b, "owner", "run-a", time.Second, start.Add(2*time.Second))
	now := start.Add(3 * time.Second)
	err = b.AdmitRun(t.Context(), "owner", "run-b", q, now)
	expectRefused(t, err, broker.ErrExecPerDay(q, now))
	// With a quota of one run a day, the day's runs are used up too.
	q.RunsPerDay = 1
	err = b.AdmitRun(t.Context(), "owner", "run-b", q, now)
	expectRefused(t, err, broker.ErrRunsPerDay(q, now))
	expectUsage(t, b, "owner", now, coderunner.Usage{RunsToday: 1, ExecToday: time.Second})
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

// testUsage: Usage reports the day of now; active runs are not per day.
// A run admitted again while active counts once among them.
func testUsage(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	expectUsage(t, b, "owner", at(23, 0, 0), coderunner.Usage{})
	admit(t, b, "owner", "run-a", roomy, at(23, 30, 0))
	admit(t, b, "owner", "run-b", roomy, at(23, 30, 0))
	admit(t, b, "owner", "run-a", roomy, at(23, 31, 0))
	expectUsage(t, b, "owner", at(23, 32, 0), coderunner.Usage{RunsToday: 3, ActiveRuns: 2})
	endRun(t, b, "owner", "run-a", 1500*time.Millisecond, at(23, 40, 0))
	expectUsage(t, b, "owner", at(23, 41, 0), coderunner.Usage{RunsToday: 3, ExecToday: 1500 * time.Millisecond, ActiveRuns: 1})
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
