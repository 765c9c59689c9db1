package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"coderunner"
)

// Stores keep run times to the millisecond at least (BSON dates have no
// finer precision), in UTC.
func at(ms int64) time.Time { return time.UnixMilli(1_800_000_000_000 + ms).UTC() }

func queuedRun(id string) coderunner.Run {
	r := coderunner.Run{
		ID: id, Owner: "guest:192.0.2.1", Language: "python",
		Code: "name = input()\nprint(f'Hello, {name}!')\n", Stdin: "Ada\n", Interactive: true,
		TimeLimitMs: 2000, MemoryMB: 64, CreatedAt: at(0),
	}
	r.Status = coderunner.StatusQueued
	return r
}

func finishedRun(id string) coderunner.Run {
	r := queuedRun(id)
	r.RunResult = coderunner.RunResult{
		Status: coderunner.StatusRuntimeError, ExitCode: -1, Signal: 9,
		Stdout: "Hello, Ada!\n\x00 NUL, tab\t, ünïcødé, 🐍\n", Stderr: "Traceback (most recent call last):\n",
		Truncated: true, WallMs: 1234, CPUMs: 987, MemoryKB: 65536,
	}
	r.StartedAt, r.FinishedAt = at(5), at(1239)
	return r
}

func testRunRoundTrip(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	tests := []struct {
		name string
		run  coderunner.Run
	}{
		{"queued", queuedRun("run-queued")},
		{"finished", finishedRun("run-finished")},
		{"large output", func() coderunner.Run {
			r := finishedRun("run-large")
			r.Stdout = strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateRun(ctx, tt.run); err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(ctx, tt.run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.run) {
				t.Errorf("Run(%q) =\n%+v\nwant\n%+v", tt.run.ID, got, tt.run)
			}
		})
	}
}

func testRunNotFound(t *testing.T, s coderunner.Store) {
	_, err := s.Run(ctxFor(t), "no-such-run")
	if code := coderunner.ErrorCode(err); code != coderunner.NotFound {
		t.Errorf("Run of a missing id: %v (code %s), want NOT_FOUND", err, code)
	}
	ok, err := s.UpdateRun(ctxFor(t), queuedRun("no-such-run"))
	if ok || err != nil {
		t.Errorf("UpdateRun of a missing id = %v, %v; want false, nil", ok, err)
	}
}

// testUpdateRun walks a run through its life: QUEUED → RUNNING → finished,
// after which every update is refused and the finished run stays as it was.
func testUpdateRun(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	r := queuedRun("run-life")
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	running := r
	running.Status, running.StartedAt = coderunner.StatusRunning, at(5)
	finished := finishedRun("run-life")
	cancelled := running
	cancelled.Status, cancelled.FinishedAt = coderunner.StatusCancelled, at(50)

	cancelledQueued := r
	cancelledQueued.Status, cancelledQueued.FinishedAt = coderunner.StatusCancelled, at(4)

	steps := []struct {
		name   string
		update coderunner.Run
		from   []coderunner.RunStatus
		wantOK bool
		want   coderunner.Run
	}{
		{"start", running, nil, true, running},
		{"cancel, as of QUEUED, a run started since", cancelledQueued, []coderunner.RunStatus{coderunner.StatusQueued}, false, running},
		{"start again (a redelivered job)", running, []coderunner.RunStatus{coderunner.StatusRunning}, true, running},
		{"finish", finished, nil, true, finished},
		{"cancel after finishing", cancelled, nil, false, finished},
		{"finish again, as of its finished status", finished, []coderunner.RunStatus{finished.Status}, false, finished},
	}
	for _, st := range steps {
		ok, err := s.UpdateRun(ctx, st.update, st.from...)
		if err != nil || ok != st.wantOK {
			t.Fatalf("%s: UpdateRun = %v, %v; want %v, nil", st.name, ok, err, st.wantOK)
		}
		got, err := s.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Fatalf("%s: run is\n%+v\nwant\n%+v", st.name, got, st.want)
		}
	}
}

// runCreator returns a func that stores a run with the given id, status
// and creation time (at(created)).
func runCreator(t *testing.T, s coderunner.Store) func(id string, created int64, status coderunner.RunStatus) {
	ctx := ctxFor(t)
	return func(id string, created int64, status coderunner.RunStatus) {
		t.Helper()
		r := queuedRun(id)
		r.CreatedAt, r.Status = at(created), status
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func testUnfinishedRuns(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	create := runCreator(t, s)
	create("old-queued", 10, coderunner.StatusQueued)
	create("old-running", 20, coderunner.StatusRunning)
	create("old-finished", 5, coderunner.StatusCompleted)
	create("old-cancelled", 6, coderunner.StatusCancelled)
	create("new-queued", 100, coderunner.StatusQueued)
	// Made in the same millisecond: ordered by id, and a cursor between
	// them skips neither.
	create("tie-b", 30, coderunner.StatusQueued)
	create("tie-a", 30, coderunner.StatusRunning)
	create("tie-c", 30, coderunner.StatusQueued)
	ids := func(runs []coderunner.Run) []string {
		var got []string
		for _, r := range runs {
			got = append(got, r.ID)
		}
		return got
	}
	tests := []struct {
		before int64
		after  coderunner.RunCursor
		limit  int
		want   []string
	}{
		{50, coderunner.RunCursor{}, 10, []string{"old-queued", "old-running", "tie-a", "tie-b", "tie-c"}},
		{50, coderunner.RunCursor{}, 1, []string{"old-queued"}},
		{200, coderunner.RunCursor{}, 10, []string{"old-queued", "old-running", "tie-a", "tie-b", "tie-c", "new-queued"}},
		{10, coderunner.RunCursor{}, 10, nil},
		{200, coderunner.RunCursor{CreatedAt: at(10), ID: "old-queued"}, 2, []string{"old-running", "tie-a"}},
		{200, coderunner.RunCursor{CreatedAt: at(30), ID: "tie-a"}, 10, []string{"tie-b", "tie-c", "new-queued"}},
		{200, coderunner.RunCursor{CreatedAt: at(30), ID: "tie-c"}, 10, []string{"new-queued"}},
		{50, coderunner.RunCursor{CreatedAt: at(30), ID: "tie-c"}, 10, nil},
	}
	for _, tt := range tests {
		runs, err := s.UnfinishedRuns(ctx, at(tt.before), tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(runs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("UnfinishedRuns(before %d, after %+v, limit %d) = %v, want %v", tt.before, tt.after, tt.limit, got, tt.want)
		}
	}

	// Paging with each page's last run as the cursor reads every run once.
	for _, limit := range []int{1, 2, 4} {
		var got []string
		for after := (coderunner.RunCursor{}); ; {
			page, err := s.UnfinishedRuns(ctx, at(200), after, limit)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page)...)
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].Cursor()
		}
		want := []string{"old-queued", "old-running", "tie-a", "tie-b", "tie-c", "new-queued"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("pages of %d = %v, want %v", limit, got, want)
		}
	}
}

func testCreateRunTwice(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	r := queuedRun("run-twice")
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	other := finishedRun("run-twice")
	if err := s.CreateRun(ctx, other); err == nil {
		t.Error("creating a run with an id in use succeeded, want an error")
	}
	if got, err := s.Run(ctx, r.ID); err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("after a refused create, run is %+v, %v; want it unchanged", got, err)
	}
}

// testDeleteFinishedRuns: only finished runs created before the cutoff
// go, oldest first, at most limit at a time; unfinished runs, newer runs
// and submissions stay; a second pass over what is gone deletes nothing.
func testDeleteFinishedRuns(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	create := runCreator(t, s)
	create("old-completed", 10, coderunner.StatusCompleted)
	create("old-internal", 20, coderunner.StatusInternalError)
	create("old-cancelled", 30, coderunner.StatusCancelled)
	create("old-timeout", 40, coderunner.StatusTimeLimitExceeded)
	create("old-queued", 5, coderunner.StatusQueued)
	create("old-running", 6, coderunner.StatusRunning)
	create("at-cutoff", 100, coderunner.StatusCompleted)
	create("new-completed", 200, coderunner.StatusCompleted)
	sub := coderunner.Submission{ID: "sub-old", Owner: "u1", ProblemID: "p1", Code: "print(1)", GradingKey: "g1",
		Status: coderunner.SubmissionFinished, Verdict: coderunner.Accepted, CreatedAt: at(1), FinishedAt: at(2)}
	if err := s.CreateSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	exists := func(id string) bool {
		_, err := s.Run(ctx, id)
		if err != nil && coderunner.ErrorCode(err) != coderunner.NotFound {
			t.Fatal(err)
		}
		return err == nil
	}

	steps := []struct {
		limit      int
		want       int
		gone, kept []string
	}{
		{0, 0, nil, []string{"old-completed"}},
		{2, 2, []string{"old-completed", "old-internal"}, []string{"old-cancelled", "old-timeout"}},
		{10, 2, []string{"old-cancelled", "old-timeout"}, []string{"old-queued", "old-running", "at-cutoff", "new-completed"}},
		{10, 0, nil, []string{"old-queued", "old-running", "at-cutoff", "new-completed"}},
	}
	for i, st := range steps {
		n, err := s.DeleteFinishedRuns(ctx, at(100), st.limit)
		if err != nil || n != st.want {
			t.Fatalf("step %d: DeleteFinishedRuns(limit %d) = %d, %v; want %d, nil", i, st.limit, n, err, st.want)
		}
		for _, id := range st.gone {
			if exists(id) {
				t.Errorf("step %d: run %s was kept, want it deleted", i, id)
			}
		}
		for _, id := range st.kept {
			if !exists(id) {
				t.Errorf("step %d: run %s was deleted, want it kept", i, id)
			}
		}
	}
	if _, err := s.Submission(ctx, sub.ID); err != nil {
		t.Errorf("the submission went with the runs: %v", err)
	}
}
