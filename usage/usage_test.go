package usage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"coderunner"
	"coderunner/internal/procfs"
	"coderunner/store/sqlite"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "coderunner.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var monday = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// workload is what a test platform did, known exactly, to be recovered
// from the store.
type workload struct {
	users                    map[string]bool
	activeUserDays           int
	runs, submissions, tests int
	runCPU, submissionCPU    []float64 // ms
	waits                    []float64 // ms
	programCPUMs             int64
	peakUsers                int // in one UsageWindow
	busy, provisioned        float64
}

// fill stores a week of activity: each day a few dozen users (some every
// day, some that day only), each with about 20 runs and 5 submissions of
// 5 tests, program CPU exponential around 1.2 s a run and 1 s a test,
// queue waits up to 400 ms; one window at 10:00 holds a burst of users;
// an editor's check submissions and unfinished runs, which must count
// only as runner work or not at all; and the runner hosts' figures.
func fill(t *testing.T, db coderunner.Store, days int) workload {
	t.Helper()
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(7, 11))
	w := workload{users: map[string]bool{}}
	id := 0
	at := func(dayStart time.Time) time.Time {
		return dayStart.Add(time.Duration(rng.Int64N(int64(20 * time.Hour))))
	}
	for d := range days {
		dayStart := monday.AddDate(0, 0, d)
		var dayCPU int64
		windows := map[time.Time]map[string]bool{}
		active := func(owner string, created time.Time) {
			win := created.Truncate(coderunner.UsageWindow)
			if windows[win] == nil {
				windows[win] = map[string]bool{}
			}
			windows[win][owner] = true
			w.peakUsers = max(w.peakUsers, len(windows[win]))
		}
		users := 30 + 3*d
		for u := range users {
			owner := fmt.Sprintf("regular-%d", u)
			if u >= 20 {
				owner = fmt.Sprintf("day-%d-user-%d", d, u)
			}
			w.users[owner] = true
			w.activeUserDays++
			for range 15 + rng.IntN(11) { // 20 on average
				id++
				created := at(dayStart)
				if u < 12 { // the burst: 12 users at 10:00–10:04
					created = dayStart.Add(10*time.Hour + time.Duration(rng.Int64N(int64(4*time.Minute))))
				}
				wait := rng.Int64N(400)
				cpu := int64(rng.ExpFloat64() * 1200)
				run := coderunner.Run{ID: fmt.Sprint("run-", id), Owner: owner, Language: "python", CreatedAt: created,
					StartedAt: created.Add(time.Duration(wait) * time.Millisecond), FinishedAt: created.Add(time.Second),
					RunResult: coderunner.RunResult{Status: coderunner.StatusCompleted, CPUMs: cpu}}
				if err := db.CreateRun(ctx, run); err != nil {
					t.Fatal(err)
				}
				w.runs++
				active(owner, created)
				w.runCPU = append(w.runCPU, float64(cpu))
				w.waits = append(w.waits, float64(wait))
				dayCPU += cpu
			}
			for range 3 + rng.IntN(5) { // 5 on average
				id++
				sub, wait, cpu := submission(rng, fmt.Sprint("sub-", id), owner, at(dayStart))
				if err := db.CreateSubmission(ctx, sub); err != nil {
					t.Fatal(err)
				}
				w.submissions++
				active(owner, sub.CreatedAt)
				w.tests += len(sub.Tests)
				w.submissionCPU = append(w.submissionCPU, float64(cpu))
				w.waits = append(w.waits, float64(wait))
				dayCPU += cpu
			}
		}
		// An editor's check: runner work, nobody's use.
		id++
		check, wait, cpu := submission(rng, fmt.Sprint("check-", id), coderunner.CheckOwner("editor"), at(dayStart))
		if err := db.CreateSubmission(ctx, check); err != nil {
			t.Fatal(err)
		}
		w.waits = append(w.waits, float64(wait))
		dayCPU += cpu
		// Still queued: nothing yet.
		id++
		if err := db.CreateRun(ctx, coderunner.Run{ID: fmt.Sprint("run-", id), Owner: "late", CreatedAt: at(dayStart),
			RunResult: coderunner.RunResult{Status: coderunner.StatusQueued}}); err != nil {
			t.Fatal(err)
		}
		w.programCPUMs += dayCPU
		// Two runner hosts of 2 vCPUs all day, busy 3.5× the programs.
		for r, share := range []float64{0.6, 0.4} {
			u := coderunner.RunnerUsage{Day: dayStart, Runner: fmt.Sprint("worker-", r), Host: fmt.Sprint("host-", r), VCPUs: 2,
				BusyCPUSeconds: share * 3.5 * float64(dayCPU) / 1000, ProvisionedVCPUSeconds: 2 * 86400, UpdatedAt: dayStart.Add(day - time.Minute)}
			if err := db.SaveRunnerUsage(ctx, u); err != nil {
				t.Fatal(err)
			}
			w.busy += u.BusyCPUSeconds
			w.provisioned += u.ProvisionedVCPUSeconds
		}
	}
	return w
}

// submission is a finished submission of 5 tests created at created, with
// its queue wait and program CPU in ms.
func submission(rng *rand.Rand, id, owner string, created time.Time) (coderunner.Submission, int64, int64) {
	wait := rng.Int64N(400)
	s := coderunner.Submission{ID: id, Owner: owner, ProblemID: "p", Status: coderunner.SubmissionFinished, Verdict: coderunner.Accepted,
		CreatedAt: created, StartedAt: created.Add(time.Duration(wait) * time.Millisecond), FinishedAt: created.Add(5 * time.Second)}
	var cpu int64
	for i := range 5 {
		test := int64(rng.ExpFloat64() * 1000)
		s.Tests = append(s.Tests, coderunner.TestResult{Index: i, Verdict: coderunner.Accepted, CPUMs: test})
		cpu += test
	}
	s.Passed, s.Total = 5, 5
	return s, wait, cpu
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func quantile(xs []float64, q float64) float64 {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

// TestMeasureRecoversInputs fills a store with a week whose figures are
// known, rolls it up as the api does, and measures it back: every input of
// the cost model within 5% (the bar; most are exact).
func TestMeasureRecoversInputs(t *testing.T) {
	db := openStore(t)
	const days = 7
	w := fill(t, db, days)
	end := monday.AddDate(0, 0, days)
	roller := &Roller{Store: db, Lookback: 29 * day, Now: func() time.Time { return end.Add(time.Hour) }}
	if _, err := roller.Pass(t.Context()); err != nil {
		t.Fatal(err)
	}
	m, err := Measure(t.Context(), db, end.Add(time.Hour), days)
	if err != nil {
		t.Fatal(err)
	}
	if !m.From.Equal(monday) || !m.To.Equal(end) || m.DaysRolledUp != days {
		t.Errorf("span %s–%s with %d days rolled up; want %s–%s, %d", m.From, m.To, m.DaysRolledUp, monday, end, days)
	}
	within := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.05*math.Abs(want) || (want == 0 && got != 0) {
			t.Errorf("%s = %.4g; want %.4g within 5%%", name, got, want)
		} else {
			t.Logf("%-22s %10.4g  (true %.4g)", name, got, want)
		}
	}
	within("DAU", m.DAU, float64(w.activeUserDays)/days)
	within("MAU", m.MAU, float64(len(w.users)))
	within("peak users", float64(m.PeakUsers), float64(w.peakUsers))
	within("R (runs per user-day)", m.RunsPerUser, float64(w.runs)/float64(w.activeUserDays))
	within("S (submits per user-day)", m.SubmitsPerUser, float64(w.submissions)/float64(w.activeUserDays))
	within("t_run mean", m.RunCPU.Mean, mean(w.runCPU)/1000)
	within("t_run p50", m.RunCPU.P50, quantile(w.runCPU, 0.5)/1000)
	within("t_run p95", m.RunCPU.P95, quantile(w.runCPU, 0.95)/1000)
	within("t_submit mean", m.SubmissionCPU.Mean, mean(w.submissionCPU)/1000)
	within("t_submit p50", m.SubmissionCPU.P50, quantile(w.submissionCPU, 0.5)/1000)
	within("t_submit p95", m.SubmissionCPU.P95, quantile(w.submissionCPU, 0.95)/1000)
	within("queue wait p50", m.QueueWait.P50, quantile(w.waits, 0.5)/1000)
	within("queue wait p95", m.QueueWait.P95, quantile(w.waits, 0.95)/1000)
	within("tests per submission", m.TestsPerSubmission, float64(w.tests)/float64(w.submissions))
	within("program CPU s", m.ProgramCPUSeconds, float64(w.programCPUMs)/1000)
	within("busy overhead", m.BusyOverhead, 3.5)
	within("provisioned overhead", m.ProvisionedOverhead, w.provisioned/(float64(w.programCPUMs)/1000))
	within("runner vCPUs", m.RunnerVCPUs, 4)
	within("utilisation", m.Utilisation, w.busy/w.provisioned)
	if m.PeakJobsPerSecond <= 0 {
		t.Errorf("peak jobs per second %v; want the 10:00 burst's", m.PeakJobsPerSecond)
	}

	// The week before was rolled up by the catch-up, with nobody in it;
	// a bad span is the caller's error.
	empty, err := Measure(t.Context(), db, monday, 7)
	if err != nil || empty.DAU != 0 || empty.Runs != 0 || empty.DaysRolledUp != 7 {
		t.Errorf("the week before: %+v, %v; want 7 empty days", empty, err)
	}
	for _, bad := range []int{0, -1, MaxDays + 1} {
		if _, err := Measure(t.Context(), db, end, bad); coderunner.ErrorCode(err) != coderunner.BadUserInput {
			t.Errorf("Measure(days %d) = %v; want BAD_USER_INPUT", bad, err)
		}
	}
}

// TestRollerCatchesUp: the first pass makes the missing days of the
// lookback, keeps those already made, and remakes yesterday and today;
// later passes only those two.
func TestRollerCatchesUp(t *testing.T) {
	db := openStore(t)
	ctx := t.Context()
	fill(t, db, 5)
	now := monday.AddDate(0, 0, 4).Add(12 * time.Hour) // the fifth day, midday
	kept := coderunner.UsageDay{Day: monday.AddDate(0, 0, 1), ActiveUsers: 999, MadeAt: monday.AddDate(0, 0, 2)}
	if err := db.SaveUsageDay(ctx, kept); err != nil {
		t.Fatal(err)
	}
	var today coderunner.UsageDay
	var mau float64
	roller := &Roller{Store: db, Lookback: 10 * day, Now: func() time.Time { return now },
		Rolled: func(d coderunner.UsageDay, m float64) { today, mau = d, m }}
	for pass, want := range []int{11 - 1, 2} { // 11 days from now-10d to today, one of them kept
		n, err := roller.Pass(ctx)
		if err != nil || n != want {
			t.Fatalf("pass %d rolled up %d days, %v; want %d", pass+1, n, err, want)
		}
	}
	made, err := db.UsageDays(ctx, coderunner.DayOf(now.Add(-10*day)), now.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 11 {
		t.Fatalf("%d roll-ups; want one for each of 11 days", len(made))
	}
	for _, d := range made {
		switch {
		case d.Day.Equal(kept.Day):
			if d.ActiveUsers != 999 {
				t.Errorf("the roll-up made before was remade: %+v", d)
			}
		case d.Day.Before(monday):
			if d.ActiveUsers != 0 || d.RunCPU.Count != 0 {
				t.Errorf("a day before any activity has activity: %+v", d)
			}
		case d.ActiveUsers < 30:
			t.Errorf("%s: %d active users; want the day's 30 or more", d.Day.Format(time.DateOnly), d.ActiveUsers)
		}
	}
	// Without a lookback the first pass still makes yesterday and today.
	short := &Roller{Store: db, Now: func() time.Time { return now }}
	if n, err := short.Pass(ctx); err != nil || n != 2 {
		t.Errorf("a pass without lookback rolled up %d days, %v; want yesterday and today", n, err)
	}
	// 100 users in the five days, but the kept roll-up of the second day
	// has no sketch of its 13 who came that day only: 87.
	if !today.Day.Equal(coderunner.DayOf(now)) || today.ActiveUsers != 42 || math.Abs(mau-87) > 2 {
		t.Errorf("told of today %s with %d users and a month of %.0f; want %s, 42, about 87",
			today.Day.Format(time.DateOnly), today.ActiveUsers, mau, coderunner.DayOf(now).Format(time.DateOnly))
	}
}

// TestMeterSplitsDays feeds the meter a host whose counters it controls,
// across midnight: each day gets what was spent in it, and the worker's
// figures are stored as they go.
func TestMeterSplitsDays(t *testing.T) {
	db := openStore(t)
	ctx := t.Context()
	clock := monday.Add(23*time.Hour + 57*time.Minute + 30*time.Second)
	cpu := procfs.HostCPU{Busy: 1000, Total: 5000}
	var busyTold, provisionedTold float64
	m := &Meter{Store: db, Runner: "worker-1", Host: "host-1", VCPUs: 2,
		ReadCPU: func() (procfs.HostCPU, error) { return cpu, nil },
		Now:     func() time.Time { return clock },
		Measured: func(busy, provisioned float64) {
			busyTold += busy
			provisionedTold += provisioned
		}}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	for range 4 { // a minute each: two before midnight, two ending after it
		clock = clock.Add(time.Minute)
		cpu.Busy += 30
		if err := m.Sample(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.RunnerUsage(ctx, monday, monday.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("runner usage %+v; want two days", got)
	}
	for i, u := range got {
		if !u.Day.Equal(monday.AddDate(0, 0, i)) || u.Runner != "worker-1" || u.Host != "host-1" || u.VCPUs != 2 ||
			u.BusyCPUSeconds != 60 || u.ProvisionedVCPUSeconds != 240 {
			t.Errorf("day %d: %+v; want 60 busy and 240 provisioned seconds", i, u)
		}
	}
	if busyTold != 120 || provisionedTold != 480 {
		t.Errorf("told %v busy and %v provisioned; want 120 and 480", busyTold, provisionedTold)
	}
}

func TestServersFor(t *testing.T) {
	if c := erlangC(2, 1); math.Abs(c-1.0/3) > 1e-12 {
		t.Errorf("ErlangC(2, 1) = %v; want 1/3", c)
	}
	if c := erlangC(1, 0.6); math.Abs(c-0.6) > 1e-12 {
		t.Errorf("ErlangC(1, 0.6) = %v; want 0.6 (M/M/1: the utilisation)", c)
	}
	tests := []struct {
		name              string
		lambda, s, target float64
		want              int
	}{
		{"no arrivals", 0, 1, 2, 1},
		// One server busy 60%: P(W > t) = 0.6·e^(−0.4t/s); under 5% at 2 s
		// needs s < 0.32 s.
		{"one server suffices", 2, 0.3, 2, 1},
		{"one server is too slow", 1.2, 0.5, 2, 2},
		// A class of 30 pressing Run in one second, 0.5 vCPU-s each: 15
		// servers of load; the wait target adds a little headroom.
		{"a class at once", 30, 0.5, 2, 16},
		{"a tight target needs more", 30, 0.5, 0.05, 22},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ServersFor(tt.lambda, tt.s, tt.target, 0.95)
			if c != tt.want {
				t.Errorf("ServersFor(%v/s, %v s, %v s) = %d; want %d", tt.lambda, tt.s, tt.target, c, tt.want)
			}
			if tt.lambda > 0 {
				a := tt.lambda * tt.s
				if p := erlangC(c, a) * math.Exp(-(float64(c)-a)*tt.target/tt.s); p > 0.05 {
					t.Errorf("with %d servers P(wait > target) = %v", c, p)
				}
			}
		})
	}
}
