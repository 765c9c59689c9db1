package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"coderunner"
)

// day is the UTC midnight n days after the one at(0) is in.
func day(n int) time.Time { return coderunner.DayOf(at(0)).AddDate(0, 0, n) }

// collectActivity returns what Activity calls fn with for [from, to),
// ordered by owner (each test's owners are distinct).
func collectActivity(t *testing.T, s coderunner.Store, from, to time.Time) []coderunner.Activity {
	t.Helper()
	var got []coderunner.Activity
	err := s.Activity(ctxFor(t), from, to, func(a coderunner.Activity) error {
		got = append(got, a)
		return nil
	})
	if err != nil {
		t.Fatalf("Activity: %v", err)
	}
	slices.SortFunc(got, func(a, b coderunner.Activity) int { return cmp.Compare(a.Owner, b.Owner) })
	return got
}

// testActivity: Activity reads exactly the finished runs and submissions
// created in its range, with their times, program CPU (a submission's
// tests' sum) and test counts; unfinished ones, ones outside the range
// and ones stored without a creation time are left out.
func testActivity(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	// Each run and submission its own owner: the owner names it below.
	// A run's times of 0 are none.
	orNone := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return at(ms)
	}
	run := func(owner string, created int64, status coderunner.RunStatus, started, finished, cpu int64) coderunner.Run {
		r := queuedRun("run-" + owner)
		r.Owner, r.Status, r.CPUMs = owner, status, cpu
		r.CreatedAt, r.StartedAt, r.FinishedAt = orNone(created), orNone(started), orNone(finished)
		return r
	}
	sub := func(owner string, created int64, status coderunner.SubmissionStatus, tests ...int64) coderunner.Submission {
		x := finishedSubmission("sub-"+owner, owner, "p1", created)
		x.Status, x.Tests = status, nil
		for i, cpu := range tests {
			x.Tests = append(x.Tests, coderunner.TestResult{Index: i, Verdict: coderunner.Accepted, CPUMs: cpu, ActualOutput: "42\n"})
		}
		return x
	}
	uncreatedRun := run("run-uncreated", 0, coderunner.StatusCompleted, 1, 2, 3)
	uncreatedSub := sub("sub-uncreated", 0, coderunner.SubmissionFinished, 4)
	uncreatedSub.CreatedAt = time.Time{}
	runs := []coderunner.Run{
		run("run-done", 10, coderunner.StatusCompleted, 15, 100, 40),
		run("run-cancelled-queued", 20, coderunner.StatusCancelled, 0, 25, 0),
		run("run-internal", 30, coderunner.StatusInternalError, 31, 40, 0),
		run("run-queued", 40, coderunner.StatusQueued, 0, 0, 0),
		run("run-running", 50, coderunner.StatusRunning, 51, 0, 0),
		run("run-before", 9, coderunner.StatusTimeLimitExceeded, 9, 2009, 2000),
		run("run-at-end", 1000, coderunner.StatusCompleted, 1001, 1002, 1),
		uncreatedRun,
	}
	subs := []coderunner.Submission{
		finishedSubmission("sub-u1", "u1", "p1", 60), // tests of 10 + 1499 + 0 + 0 ms
		sub("check:editor", 70, coderunner.SubmissionFinished, 7, 8),
		sub("u-no-tests", 80, coderunner.SubmissionFinished),
		sub("u-queued", 90, coderunner.SubmissionQueued),
		sub("u-running", 95, coderunner.SubmissionRunning, 5),
		sub("u-late", 1000, coderunner.SubmissionFinished, 9),
		uncreatedSub,
	}
	for _, r := range runs {
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range subs {
		mustCreateSubmission(t, s, sub)
	}
	// What Activity reads of each finished one that has a creation time.
	activity := map[string]coderunner.Activity{
		"run-done":             {Owner: "run-done", CreatedAt: at(10), StartedAt: at(15), FinishedAt: at(100), CPUMs: 40},
		"run-cancelled-queued": {Owner: "run-cancelled-queued", CreatedAt: at(20), FinishedAt: at(25)},
		"run-internal":         {Owner: "run-internal", CreatedAt: at(30), StartedAt: at(31), FinishedAt: at(40)},
		"run-before":           {Owner: "run-before", CreatedAt: at(9), StartedAt: at(9), FinishedAt: at(2009), CPUMs: 2000},
		"run-at-end":           {Owner: "run-at-end", CreatedAt: at(1000), StartedAt: at(1001), FinishedAt: at(1002), CPUMs: 1},
		"u1": {Submission: true, Owner: "u1", CreatedAt: at(60), StartedAt: at(65), FinishedAt: at(1294),
			CPUMs: 1509, Tests: 4},
		"check:editor": {Submission: true, Owner: "check:editor", CreatedAt: at(70), StartedAt: at(75), FinishedAt: at(1304),
			CPUMs: 15, Tests: 2},
		"u-no-tests": {Submission: true, Owner: "u-no-tests", CreatedAt: at(80), StartedAt: at(85), FinishedAt: at(1314)},
		"u-late": {Submission: true, Owner: "u-late", CreatedAt: at(1000), StartedAt: at(1005), FinishedAt: at(2234),
			CPUMs: 9, Tests: 1},
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []string // owners, sorted
	}{
		{"the range", at(10), at(1000), []string{"check:editor", "run-cancelled-queued", "run-done", "run-internal", "u-no-tests", "u1"}},
		{"everything", time.Time{}, at(1 << 40),
			[]string{"check:editor", "run-at-end", "run-before", "run-cancelled-queued", "run-done", "run-internal", "u-late", "u-no-tests", "u1"}},
		{"runs only", at(11), at(60), []string{"run-cancelled-queued", "run-internal"}},
		{"one millisecond", at(60), at(61), []string{"u1"}},
		{"unfinished only", at(40), at(60), nil},
		{"empty range", at(10), at(10), nil},
		{"reversed range", at(1000), at(10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []coderunner.Activity
			for _, owner := range tt.want {
				want = append(want, activity[owner])
			}
			if got := collectActivity(t, s, tt.from, tt.to); !reflect.DeepEqual(got, want) {
				t.Errorf("Activity =\n%+v\nwant\n%+v", got, want)
			}
		})
	}

	t.Run("fn's error stops it", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := s.Activity(ctx, time.Time{}, at(1<<40), func(coderunner.Activity) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("Activity with fn failing = %v after %d calls, want fn's error after 1", err, calls)
		}
	})
}

// testActivityBatches: Activity reads runs and submissions in batches
// (500, say) and reads them all, each once; fn's error in a later batch
// still stops it at once.
func testActivityBatches(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	const runs, subs, writers = 1100, 600, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < runs+subs; i += writers {
				create := func() error {
					if i < runs {
						r := finishedRun(fmt.Sprintf("run-%04d", i))
						r.Owner, r.CreatedAt, r.CPUMs = fmt.Sprintf("u%d", i), at(int64(i)), int64(i)
						return s.CreateRun(ctx, r)
					}
					sub := finishedSubmission(fmt.Sprintf("sub-%04d", i), fmt.Sprintf("u%d", i), "p1", int64(i))
					sub.Tests = []coderunner.TestResult{{CPUMs: int64(i)}}
					return s.CreateSubmission(ctx, sub)
				}
				// Writers in parallel only to fill the store quickly: a
				// write the store refused as busy (a loaded machine) wrote
				// nothing and is tried again.
				err := create()
				for try := 0; errors.Is(err, coderunner.ErrBusy) && try < 10; try++ {
					err = create()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	var gotRuns, gotSubs, cpu int64
	err := s.Activity(ctx, at(0), at(runs+subs), func(a coderunner.Activity) error {
		if seen[a.Owner] {
			t.Errorf("Activity read %s twice", a.Owner)
		}
		seen[a.Owner] = true
		if a.Submission {
			gotSubs++
		} else {
			gotRuns++
		}
		cpu += a.CPUMs
		return nil
	})
	const n = runs + subs
	if err != nil || gotRuns != runs || gotSubs != subs || cpu != n*(n-1)/2 {
		t.Errorf("Activity read %d runs and %d submissions of %d ms in all (%v), want %d and %d of %d ms",
			gotRuns, gotSubs, cpu, err, runs, subs, n*(n-1)/2)
	}

	stop := errors.New("stop")
	calls := 0
	err = s.Activity(ctx, at(0), at(runs+subs), func(coderunner.Activity) error {
		if calls++; calls == 700 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 700 {
		t.Errorf("Activity with fn failing at the 700th = %v after %d calls, want fn's error after 700", err, calls)
	}
}

// dayRange is a read of the days in [from, to) and what it should return.
type dayRange[T any] struct {
	name     string
	from, to time.Time
	want     []T
}

// wantDayRanges checks each read of read, named what; none and an empty
// slice are alike.
func wantDayRanges[T any](t *testing.T, what string, read func(context.Context, time.Time, time.Time) ([]T, error), tests []dayRange[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(ctxFor(t), tt.from, tt.to)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if (len(got) > 0 || len(tt.want) > 0) && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s =\n%+v\nwant\n%+v", what, got, tt.want)
			}
		})
	}
}

// usageDay is a roll-up of day(n) with every field set, n in some.
func usageDay(n int) coderunner.UsageDay {
	d := coderunner.UsageDay{Day: day(n), ActiveUsers: 20 + n, PeakUsers: 7, PeakJobs: 12 + n, Tests: 400, CheckCPUMs: 77, MadeAt: at(int64(n))}
	for i := range 20 + n {
		d.Users.Add(fmt.Sprintf("user-%d", i))
	}
	for _, v := range []int64{0, 12, 340, 340, 5600, 78000 + int64(n)} {
		d.RunCPU.Add(v)
	}
	d.SubmissionCPU.Add(1509)
	d.QueueWait.Add(3)
	d.QueueWait.Add(250)
	return d
}

// testUsageDays: a day's roll-up is replaced by the next saved for it,
// whatever the zone its Day and MadeAt are given in, and reads back in
// UTC, whole; UsageDays reads the days in its range, oldest first.
func testUsageDays(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	east := time.FixedZone("UTC+3", 3*3600)
	replaced := usageDay(1)
	replaced.ActiveUsers, replaced.MadeAt = 99, at(5000)
	replaced.RunCPU.Add(123456)
	inZone := replaced
	inZone.Day, inZone.MadeAt = replaced.Day.In(east), replaced.MadeAt.In(east)
	for _, d := range []coderunner.UsageDay{usageDay(2), usageDay(0), usageDay(1), inZone, usageDay(3)} {
		if err := s.SaveUsageDay(ctx, d); err != nil {
			t.Fatalf("SaveUsageDay(%s): %v", d.Day, err)
		}
	}
	days := []coderunner.UsageDay{usageDay(0), replaced, usageDay(2), usageDay(3)}

	wantDayRanges(t, "UsageDays", s.UsageDays, []dayRange[coderunner.UsageDay]{
		{"all", day(0), day(4), days},
		{"from the start of time", time.Time{}, day(100), days},
		{"two", day(1), day(3), days[1:3]},
		{"not at midnights", day(1).Add(time.Hour), day(3).Add(time.Hour), days[2:4]},
		{"after them", day(4), day(9), nil},
		{"empty range", day(2), day(2), nil},
	})

	// The histograms and the sketch answer as they did: what DeepEqual
	// above holds them to, said in their own terms.
	got, err := s.UsageDays(ctx, day(1), day(2))
	if err != nil || len(got) != 1 {
		t.Fatalf("UsageDays of day 1 = %+v, %v; want one", got, err)
	}
	d := got[0]
	if !d.Day.Equal(day(1)) || d.Day.Location() != time.UTC || d.MadeAt.Location() != time.UTC {
		t.Errorf("Day = %v, MadeAt = %v; want %v and both in UTC", d.Day, d.MadeAt, day(1))
	}
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if g, w := d.RunCPU.Quantile(q), replaced.RunCPU.Quantile(q); g != w {
			t.Errorf("RunCPU.Quantile(%v) = %v, want %v", q, g, w)
		}
	}
	if d.RunCPU.Count != 7 || d.RunCPU.Sum != replaced.RunCPU.Sum || d.QueueWait.Sum != 253 || d.SubmissionCPU.Count != 1 {
		t.Errorf("histograms read back as %+v, %+v, %+v", d.RunCPU, d.QueueWait, d.SubmissionCPU)
	}
	if g, w := d.Users.Count(), replaced.Users.Count(); g != w || g < 20 || g > 22 {
		t.Errorf("Users.Count() = %v, want %v (about 21)", g, w)
	}
}

// testRunnerUsage: a runner's figures of a day are replaced by the next
// saved for that day and runner; RunnerUsage reads the days in its range,
// by day, then runner.
func testRunnerUsage(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	usage := func(n int, runner string, busy float64) coderunner.RunnerUsage {
		return coderunner.RunnerUsage{Day: day(n), Runner: runner, Host: "host-" + runner, BusyCPUSeconds: busy,
			ProvisionedVCPUSeconds: 4 * 86400, VCPUs: 4, UpdatedAt: at(int64(n))}
	}
	replaced := usage(0, "a", 12345.678)
	replaced.Host, replaced.VCPUs, replaced.ProvisionedVCPUSeconds, replaced.UpdatedAt = "host-new", 8, 8*3600.5, at(9000)
	for _, u := range []coderunner.RunnerUsage{
		usage(1, "b", 1.5), usage(0, "b", 2.25), usage(1, "a", 3), usage(0, "a", 4), usage(2, "a", 5), replaced,
	} {
		if err := s.SaveRunnerUsage(ctx, u); err != nil {
			t.Fatalf("SaveRunnerUsage(%s, %s): %v", u.Day, u.Runner, err)
		}
	}
	all := []coderunner.RunnerUsage{replaced, usage(0, "b", 2.25), usage(1, "a", 3), usage(1, "b", 1.5), usage(2, "a", 5)}
	wantDayRanges(t, "RunnerUsage", s.RunnerUsage, []dayRange[coderunner.RunnerUsage]{
		{"all", day(0), day(3), all},
		{"from the start of time", time.Time{}, day(100), all},
		{"one day", day(1), day(2), all[2:4]},
		{"not at midnights", day(0).Add(time.Minute), day(2).Add(time.Minute), all[2:]},
		{"before them", day(-5), day(0), nil},
		{"empty range", day(1), day(1), nil},
	})
}
