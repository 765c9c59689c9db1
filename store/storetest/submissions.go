package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner"
)

func queuedSubmission(id, owner, problemID string, created int64) coderunner.Submission {
	return coderunner.Submission{
		ID: id, Owner: owner, ProblemID: problemID,
		Code:       "a = int(input())\nb = int(input())\nprint(max(a, b))  # 🐍\n",
		GradingKey: "grading-" + problemID, Status: coderunner.SubmissionQueued, CreatedAt: at(created),
	}
}

// finishedSubmission has a result of every kind: a sample test with all
// its data, a hidden one with none, one with every field empty.
func finishedSubmission(id, owner, problemID string, created int64) coderunner.Submission {
	s := queuedSubmission(id, owner, problemID, created)
	s.Status, s.Verdict, s.Passed, s.Total = coderunner.SubmissionFinished, coderunner.WrongAnswer, 1, 3
	s.StartedAt, s.FinishedAt = at(created+5), at(created+1234)
	s.Tests = []coderunner.TestResult{
		{
			Index: 0, Sample: true, Verdict: coderunner.Accepted, WallMs: 12, CPUMs: 10, MemoryKB: 8192,
			Input: "1\n2\n", ExpectedOutput: "2\n", ActualOutput: "2\n",
		},
		{
			Index: 1, Sample: true, Verdict: coderunner.WrongAnswer, WallMs: 1500, CPUMs: 1499, MemoryKB: 65536,
			Hint: "Ein negativer Fall — 負の数 ✨", Input: "-5\n-7\n", ExpectedOutput: "-5\n",
			ActualOutput: "-7\n\x00 NUL, tab\t", Stderr: "Traceback (most recent call last):\n",
			Diff: "- -5\n+ -7\n",
		},
		{Index: 2, Verdict: coderunner.TimeLimitExceeded, Hint: "Try the biggest numbers."},
		{},
	}
	return s
}

func subID(sub coderunner.Submission) string { return sub.ID }

// tie is the cursor of submission id made at 30, with others.
func tie(id string) coderunner.SubmissionCursor {
	return coderunner.SubmissionCursor{CreatedAt: at(30), ID: id}
}

func mustCreateSubmission(t *testing.T, s coderunner.Store, sub coderunner.Submission) {
	t.Helper()
	if err := s.CreateSubmission(ctxFor(t), sub); err != nil {
		t.Fatalf("CreateSubmission(%q): %v", sub.ID, err)
	}
}

// wantSubmission fails unless the submission stored under want.ID is want;
// an empty Tests reads back nil or empty, alike.
func wantSubmission(t *testing.T, s coderunner.Store, what string, want coderunner.Submission) {
	t.Helper()
	got, err := s.Submission(ctxFor(t), want.ID)
	if err != nil {
		t.Fatalf("%s: Submission(%q): %v", what, want.ID, err)
	}
	if len(got.Tests) == 0 && len(want.Tests) == 0 {
		got.Tests, want.Tests = nil, nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Submission(%q) =\n%+v\nwant\n%+v", what, want.ID, got, want)
	}
}

func testSubmissionRoundTrip(t *testing.T, s coderunner.Store) {
	tests := []struct {
		name string
		sub  coderunner.Submission
	}{
		{"queued", queuedSubmission("sub-queued", "u1", "p1", 0)},
		{"queued, no tests yet", func() coderunner.Submission {
			sub := queuedSubmission("sub-empty-tests", "u1", "p1", 1)
			sub.Tests = []coderunner.TestResult{}
			return sub
		}()},
		{"finished", finishedSubmission("sub-finished", "u1", "p1", 2)},
		{"large", func() coderunner.Submission {
			sub := finishedSubmission("sub-large", "u1", "p1", 3)
			sub.Code = strings.Repeat("print('line ✓')\n", 4000)
			for i := range 100 {
				sub.Tests = append(sub.Tests, coderunner.TestResult{Index: i + 4, Verdict: coderunner.Accepted, WallMs: int64(i)})
			}
			return sub
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustCreateSubmission(t, s, tt.sub)
			wantSubmission(t, s, "after create", tt.sub)
		})
	}

	ctx := ctxFor(t)
	_, err := s.Submission(ctx, "no-such-submission")
	wantCode(t, "Submission of a missing id", err, coderunner.NotFound)
	if ok, err := s.UpdateSubmission(ctx, queuedSubmission("no-such-submission", "u1", "p1", 0)); ok || err != nil {
		t.Errorf("UpdateSubmission of a missing id = %v, %v; want false, nil", ok, err)
	}
	if err := s.CreateSubmission(ctx, finishedSubmission("sub-queued", "u2", "p2", 9)); err == nil {
		t.Error("creating a submission with an id in use succeeded, want an error")
	}
	wantSubmission(t, s, "after a refused create", tests[0].sub)

	// Values read are the caller's.
	got, err := s.Submission(ctx, "sub-finished")
	if err != nil {
		t.Fatal(err)
	}
	got.Tests[1].ActualOutput = "scribbled"
	wantSubmission(t, s, "after changing a read copy", tests[2].sub)
}

// testUpdateSubmission walks a submission through its life: QUEUED →
// RUNNING, with results coming in → FINISHED, after which every update is
// refused and the submission stays as it was.
func testUpdateSubmission(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	queued := queuedSubmission("sub-life", "u1", "p1", 0)
	mustCreateSubmission(t, s, queued)
	finished := finishedSubmission("sub-life", "u1", "p1", 0)
	running := queued
	running.Status, running.StartedAt = coderunner.SubmissionRunning, finished.StartedAt
	graded := running
	graded.Tests = finished.Tests[:2]
	requeued := queued
	requeued.Code = "print('requeued')\n"

	steps := []struct {
		name   string
		update coderunner.Submission
		from   []coderunner.SubmissionStatus
		wantOK bool
		want   coderunner.Submission
	}{
		{"start", running, nil, true, running},
		{"as of QUEUED, one started since", requeued, []coderunner.SubmissionStatus{coderunner.SubmissionQueued}, false, running},
		{"results of two tests", graded, []coderunner.SubmissionStatus{coderunner.SubmissionRunning}, true, graded},
		{"finish", finished, nil, true, finished},
		{"start after finishing", running, nil, false, finished},
		{"as of FINISHED", requeued, []coderunner.SubmissionStatus{coderunner.SubmissionFinished}, false, finished},
		{"as of any status", requeued, []coderunner.SubmissionStatus{coderunner.SubmissionQueued, coderunner.SubmissionRunning, coderunner.SubmissionFinished}, false, finished},
	}
	for _, st := range steps {
		ok, err := s.UpdateSubmission(ctx, st.update, st.from...)
		if err != nil || ok != st.wantOK {
			t.Fatalf("%s: UpdateSubmission = %v, %v; want %v, nil", st.name, ok, err, st.wantOK)
		}
		wantSubmission(t, s, st.name, st.want)
	}
}

func testSubmissionsPages(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	for _, sub := range []coderunner.Submission{
		queuedSubmission("a-old", "u1", "p1", 10),
		finishedSubmission("a-p2", "u1", "p2", 20),
		// Made in the same millisecond: ordered by id, descending, and a
		// cursor between them skips neither.
		queuedSubmission("tie-b", "u1", "p1", 30),
		finishedSubmission("tie-c", "u1", "p2", 30),
		queuedSubmission("tie-a", "u1", "p1", 30),
		queuedSubmission("z-new", "u1", "p1", 40),
		// Another owner's, on the same problems and times.
		queuedSubmission("other-1", "u2", "p1", 30),
		queuedSubmission("other-2", "u2", "p2", 50),
	} {
		mustCreateSubmission(t, s, sub)
	}
	tests := []struct {
		owner, problem string
		after          coderunner.SubmissionCursor
		limit          int
		want           []string
	}{
		{"u1", "", coderunner.SubmissionCursor{}, 10, []string{"z-new", "tie-c", "tie-b", "tie-a", "a-p2", "a-old"}},
		{"u1", "", coderunner.SubmissionCursor{}, 2, []string{"z-new", "tie-c"}},
		{"u1", "", coderunner.SubmissionCursor{}, 0, nil},
		{"u1", "", tie("tie-c"), 10, []string{"tie-b", "tie-a", "a-p2", "a-old"}},
		{"u1", "", tie("tie-b"), 1, []string{"tie-a"}},
		{"u1", "", tie("tie-a"), 10, []string{"a-p2", "a-old"}},
		{"u1", "", coderunner.SubmissionCursor{CreatedAt: at(10), ID: "a-old"}, 10, nil},
		{"u1", "p1", coderunner.SubmissionCursor{}, 10, []string{"z-new", "tie-b", "tie-a", "a-old"}},
		{"u1", "p2", coderunner.SubmissionCursor{}, 10, []string{"tie-c", "a-p2"}},
		{"u1", "p1", tie("tie-c"), 10, []string{"tie-b", "tie-a", "a-old"}},
		{"u1", "p3", coderunner.SubmissionCursor{}, 10, nil},
		{"u2", "", coderunner.SubmissionCursor{}, 10, []string{"other-2", "other-1"}},
		{"u2", "p1", coderunner.SubmissionCursor{}, 10, []string{"other-1"}},
		{"nobody", "", coderunner.SubmissionCursor{}, 10, nil},
	}
	for _, tt := range tests {
		subs, err := s.Submissions(ctx, tt.owner, tt.problem, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("Submissions(%q, %q, %+v, %d): %v", tt.owner, tt.problem, tt.after, tt.limit, err)
		}
		if got := ids(subs, subID); len(got) > 0 || len(tt.want) > 0 {
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Submissions(%q, %q, %+v, %d) = %v, want %v", tt.owner, tt.problem, tt.after, tt.limit, got, tt.want)
			}
		}
	}

	// A page holds whole submissions.
	subs, err := s.Submissions(ctx, "u1", "p2", coderunner.SubmissionCursor{}, 1)
	if err != nil || len(subs) != 1 {
		t.Fatalf("Submissions(u1, p2, limit 1) = %v, %v", subs, err)
	}
	if want := finishedSubmission("tie-c", "u1", "p2", 30); !reflect.DeepEqual(subs[0], want) {
		t.Errorf("Submissions(u1, p2)[0] =\n%+v\nwant\n%+v", subs[0], want)
	}

	// Paging with each page's last submission as the cursor reads every
	// one once.
	for _, problem := range []string{"", "p1"} {
		want, err := s.Submissions(ctx, "u1", problem, coderunner.SubmissionCursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, 2, 4} {
			var got []string
			for after := (coderunner.SubmissionCursor{}); ; {
				page, err := s.Submissions(ctx, "u1", problem, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ids(page, subID)...)
				if len(page) < limit {
					break
				}
				if len(got) > len(want) {
					t.Fatalf("problem %q: pages of %d read %v, more than there are", problem, limit, got)
				}
				after = page[len(page)-1].Cursor()
			}
			if !reflect.DeepEqual(got, ids(want, subID)) {
				t.Errorf("problem %q: pages of %d = %v, want %v", problem, limit, got, ids(want, subID))
			}
		}
	}
}

// testUnfinishedSubmissions: the reaper's read, oldest first (unlike
// Submissions), of every owner's QUEUED and RUNNING submissions.
func testUnfinishedSubmissions(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	running := func(sub coderunner.Submission) coderunner.Submission {
		sub.Status, sub.StartedAt = coderunner.SubmissionRunning, sub.CreatedAt.Add(time.Millisecond)
		sub.Tests = finishedSubmission(sub.ID, sub.Owner, sub.ProblemID, 0).Tests[:2]
		return sub
	}
	for _, sub := range []coderunner.Submission{
		queuedSubmission("old-queued", "u1", "p1", 10),
		running(queuedSubmission("old-running", "u2", "p2", 20)),
		finishedSubmission("old-finished", "u1", "p1", 5),
		queuedSubmission("new-queued", "u2", "p1", 100),
		// Made in the same millisecond: ordered by id, ascending, and a
		// cursor between them skips neither.
		queuedSubmission("tie-b", "u1", "p1", 30),
		running(queuedSubmission("tie-a", "u2", "p1", 30)),
		finishedSubmission("tie-d", "u1", "p2", 30),
		queuedSubmission("tie-c", "u1", "p2", 30),
	} {
		mustCreateSubmission(t, s, sub)
	}
	all := []string{"old-queued", "old-running", "tie-a", "tie-b", "tie-c", "new-queued"}
	tests := []struct {
		before int64
		after  coderunner.SubmissionCursor
		limit  int
		want   []string
	}{
		{50, coderunner.SubmissionCursor{}, 10, all[:5]},
		{50, coderunner.SubmissionCursor{}, 1, all[:1]},
		{50, coderunner.SubmissionCursor{}, 0, nil},
		{200, coderunner.SubmissionCursor{}, 10, all},
		{10, coderunner.SubmissionCursor{}, 10, nil},
		{11, coderunner.SubmissionCursor{}, 10, all[:1]},
		{200, coderunner.SubmissionCursor{CreatedAt: at(10), ID: "old-queued"}, 2, []string{"old-running", "tie-a"}},
		{200, tie("tie-a"), 10, []string{"tie-b", "tie-c", "new-queued"}},
		{200, tie("tie-bb"), 10, []string{"tie-c", "new-queued"}},
		{200, tie("tie-c"), 10, []string{"new-queued"}},
		{50, tie("tie-c"), 10, nil},
		{200, coderunner.SubmissionCursor{CreatedAt: at(100), ID: "new-queued"}, 10, nil},
	}
	for _, tt := range tests {
		subs, err := s.UnfinishedSubmissions(ctx, at(tt.before), tt.after, tt.limit)
		if err != nil {
			t.Fatalf("UnfinishedSubmissions(before %d, after %+v, limit %d): %v", tt.before, tt.after, tt.limit, err)
		}
		if got := ids(subs, subID); len(got) > 0 || len(tt.want) > 0 {
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UnfinishedSubmissions(before %d, after %+v, limit %d) = %v, want %v", tt.before, tt.after, tt.limit, got, tt.want)
			}
		}
	}

	// A page holds whole submissions: the reaper finishes what it read.
	subs, err := s.UnfinishedSubmissions(ctx, at(200), coderunner.SubmissionCursor{CreatedAt: at(10), ID: "old-queued"}, 1)
	if err != nil || len(subs) != 1 {
		t.Fatalf("UnfinishedSubmissions(after old-queued, limit 1) = %v, %v", subs, err)
	}
	if want := running(queuedSubmission("old-running", "u2", "p2", 20)); !reflect.DeepEqual(subs[0], want) {
		t.Errorf("UnfinishedSubmissions(after old-queued)[0] =\n%+v\nwant\n%+v", subs[0], want)
	}

	// Paging with each page's last submission as the cursor reads every
	// one once; one finished meanwhile drops out and moves nothing.
	for _, limit := range []int{1, 2, 4} {
		var got []string
		for after := (coderunner.SubmissionCursor{}); ; {
			page, err := s.UnfinishedSubmissions(ctx, at(200), after, limit)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page, subID)...)
			if len(page) < limit {
				break
			}
			if len(got) > len(all) {
				t.Fatalf("pages of %d read %v, more than there are", limit, got)
			}
			after = page[len(page)-1].Cursor()
		}
		if !reflect.DeepEqual(got, all) {
			t.Errorf("pages of %d = %v, want %v", limit, got, all)
		}
	}
	finished := finishedSubmission("tie-b", "u1", "p1", 30)
	if ok, err := s.UpdateSubmission(ctx, finished); !ok || err != nil {
		t.Fatalf("UpdateSubmission(tie-b finished) = %v, %v", ok, err)
	}
	subs, err = s.UnfinishedSubmissions(ctx, at(200), tie("tie-a"), 10)
	if got, want := ids(subs, subID), []string{"tie-c", "new-queued"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after tie-b finished: UnfinishedSubmissions(after tie-a) = %v, %v; want %v", got, err, want)
	}
}

// grading is what richProblem's submissions are graded against, with
// hints and a float checker.
func grading() coderunner.Grading {
	p := richProblem("g", "l", 1)
	p.Checker = coderunner.Checker{Kind: coderunner.CheckFloat, Tolerance: 1e-3}
	p.StopOnFirstFailure = true
	p.SampleTests[0].Hint = "Compare the two numbers."
	p.HiddenTests[2].Hint = "What if there is no input at all? — 입력 없음"
	return p.Grading()
}

func testGradings(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	rich := grading()
	plain := problem("p", "l", 1).Grading()
	for _, g := range []coderunner.Grading{rich, plain} {
		if err := s.PutGrading(ctx, g.Key(), g); err != nil {
			t.Fatalf("PutGrading(%s): %v", g.Key(), err)
		}
	}
	wantGrading := func(what, key string, want coderunner.Grading) {
		t.Helper()
		got, err := s.Grading(ctx, key)
		if err != nil {
			t.Fatalf("%s: Grading(%s): %v", what, key, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Grading(%s) =\n%+v\nwant\n%+v", what, key, got, want)
		}
		if got.Key() != key {
			t.Errorf("%s: the grading read back has key %s, want %s", what, got.Key(), key)
		}
	}
	wantGrading("rich", rich.Key(), rich)
	wantGrading("plain", plain.Key(), plain)

	// A key once stored keeps its grading.
	if err := s.PutGrading(ctx, rich.Key(), plain); err != nil {
		t.Errorf("PutGrading under a stored key: %v, want no error", err)
	}
	wantGrading("after a second put", rich.Key(), rich)

	_, err := s.Grading(ctx, "no-such-key")
	wantCode(t, "Grading of a missing key", err, coderunner.NotFound)

	// Submissions of one new version of a problem, submitted at once, all
	// put its grading: every put succeeds.
	fresh := rich
	fresh.TimeLimitMs = 1234
	const writers = 8
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			if err := s.PutGrading(ctx, fresh.Key(), fresh); err != nil {
				t.Errorf("concurrent PutGrading: %v", err)
			}
		})
	}
	wg.Wait()
	wantGrading("after concurrent puts", fresh.Key(), fresh)
}

func testProgress(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	save := func(p coderunner.Progress) {
		t.Helper()
		if err := s.SaveProgress(ctx, p); err != nil {
			t.Fatalf("SaveProgress(%s, %s): %v", p.Owner, p.ProblemID, err)
		}
	}
	tried := coderunner.Progress{Owner: "u1", ProblemID: "p1", Attempts: 1, BestVerdict: coderunner.WrongAnswer, BestPassed: 2, Total: 5}
	solved := coderunner.Progress{Owner: "u1", ProblemID: "p1", Attempts: 3, BestVerdict: coderunner.Accepted, BestPassed: 5, Total: 5, SolvedAt: at(77)}
	other := coderunner.Progress{Owner: "u1", ProblemID: "p2", Attempts: 1, BestVerdict: coderunner.RuntimeError, Total: 4}
	theirs := coderunner.Progress{Owner: "u2", ProblemID: "p1", Attempts: 9, BestVerdict: coderunner.TimeLimitExceeded, BestPassed: 1, Total: 5}
	save(tried)
	save(other)
	save(theirs)
	save(solved) // replaces tried

	byProblem := func(ps ...coderunner.Progress) map[string]coderunner.Progress {
		m := map[string]coderunner.Progress{}
		for _, p := range ps {
			m[p.ProblemID] = p
		}
		return m
	}
	tests := []struct {
		owner    string
		problems []string
		want     map[string]coderunner.Progress
	}{
		{"u1", nil, byProblem(solved, other)},
		{"u1", []string{"p1"}, byProblem(solved)},
		{"u1", []string{"p2", "p1", "p3"}, byProblem(solved, other)},
		{"u1", []string{"p3"}, byProblem()},
		{"u1", []string{}, byProblem()},
		{"u2", nil, byProblem(theirs)},
		{"u2", []string{"p1", "p2"}, byProblem(theirs)},
		{"nobody", nil, byProblem()},
		{"nobody", []string{"p1"}, byProblem()},
	}
	for _, tt := range tests {
		got, err := s.Progress(ctx, tt.owner, tt.problems)
		if err != nil {
			t.Fatalf("Progress(%q, %q): %v", tt.owner, tt.problems, err)
		}
		if len(got) > 0 || len(tt.want) > 0 {
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Progress(%q, %q) =\n%+v\nwant\n%+v", tt.owner, tt.problems, got, tt.want)
			}
		}
	}
}

// testProblemGrading: a problem's checker, stopOnFirstFailure and its
// tests' hints read back as put, and a put replaces them.
func testProblemGrading(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("a", 1))
	mustPutLevel(t, s, level("l", "a", 1))
	withHints := func(p coderunner.Problem) coderunner.Problem {
		p.SampleTests[0].Hint = "Read the input with input()."
		p.HiddenTests[len(p.HiddenTests)-1].Hint = "Leerzeichen am Ende — 末尾の空白 🙂"
		return p
	}
	tests := []struct {
		name string
		edit func(p *coderunner.Problem)
	}{
		{"default checker", func(p *coderunner.Problem) {}},
		{"lines", func(p *coderunner.Problem) { p.Checker.Kind = coderunner.CheckLines }},
		{"exact, stop on first failure", func(p *coderunner.Problem) {
			p.Checker.Kind, p.StopOnFirstFailure = coderunner.CheckExact, true
		}},
		{"tokens, hints", func(p *coderunner.Problem) { p.Checker.Kind = coderunner.CheckTokens; *p = withHints(*p) }},
		{"float, default tolerance", func(p *coderunner.Problem) { p.Checker.Kind = coderunner.CheckFloat }},
		{"float with tolerance, hints, stop", func(p *coderunner.Problem) {
			p.Checker = coderunner.Checker{Kind: coderunner.CheckFloat, Tolerance: 0.000125}
			p.StopOnFirstFailure = true
			*p = withHints(*p)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := richProblem(fmt.Sprintf("p%d", i), "l", i)
			tt.edit(&p)
			mustPutProblem(t, s, p)
			got, ok := getProblem(t, s, p.ID)
			if !ok || !reflect.DeepEqual(unversioned(got), p) {
				t.Fatalf("Problems[%q] =\n%#v\nwant\n%#v", p.ID, got, p)
			}
			if got.Grading().Key() != p.Grading().Key() {
				t.Errorf("the problem read back grades against another grading")
			}
		})
	}

	// Putting a problem again replaces the checker, the flag and hints.
	p := richProblem("p5", "l", 5)
	mustPutProblem(t, s, p)
	if got, _ := getProblem(t, s, p.ID); !reflect.DeepEqual(unversioned(got), p) {
		t.Errorf("problem put again without checker, flag or hints =\n%#v\nwant\n%#v", got, p)
	}
}
