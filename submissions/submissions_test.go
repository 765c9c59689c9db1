package submissions_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
	"coderunner/submissions"
)

// TestSubmitRefused: a submission refused — a guest's, to a problem that
// does not exist, too long, over its owner's budget, or to a full queue —
// leaves nothing behind: no submission in the store, no event published,
// no job queued, nothing charged to the owner's budget. Those submitted
// before it, to bring its owner to the limit, are all there is.
func TestSubmitRefused(t *testing.T) {
	tests := []struct {
		name       string
		caller     coderunner.Caller
		problem    string
		code       string
		quota      func(q *coderunner.Quota) // nil: no quotas at all
		maxWaiting int64
		// before is how many of the caller's submissions are accepted
		// first.
		before int
		// spent is CPU time already charged to the caller today.
		spent time.Duration
		want  coderunner.Code
	}{
		{name: "guest", caller: guest, problem: "double", code: "print(2)", want: coderunner.Unauthenticated},
		{name: "unknown problem", caller: student, problem: "no-such-problem", code: "print(2)", want: coderunner.NotFound},
		{name: "code over MaxCodeBytes", caller: student, problem: "double", code: strings.Repeat("#", submissions.MaxCodeBytes+1), want: coderunner.BadUserInput},
		{name: "submits per day", caller: student, problem: "double", code: "print(2)", before: 2, maxWaiting: 3,
			quota: func(q *coderunner.Quota) { q.SubmitsPerDay = 2 }, want: coderunner.QuotaExceeded},
		{name: "CPU seconds per day", caller: student, problem: "double", code: "print(2)", spent: time.Minute, maxWaiting: 1,
			quota: func(q *coderunner.Quota) { q.ExecSecondsPerDay = 60 }, want: coderunner.QuotaExceeded},
		{name: "submits per minute", caller: student, problem: "double", code: "print(2)", before: 1, maxWaiting: 2,
			quota: func(q *coderunner.Quota) { q.SubmitsPerMinute = 1 }, want: coderunner.RateLimited},
		{name: "active runs", caller: student, problem: "double", code: "print(2)", before: 2, maxWaiting: 3,
			quota: func(q *coderunner.Quota) { q.MaxActiveRuns = 2 }, want: coderunner.RateLimited},
		{name: "queue full", caller: student, problem: "double", code: "print(2)", before: 1, maxWaiting: 1,
			quota: func(q *coderunner.Quota) {}, want: coderunner.QueueFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, broker.Options{MaxWaiting: tt.maxWaiting})
			if tt.quota != nil {
				q := plenty
				tt.quota(&q)
				f.svc.Quotas = fixedQuota(q)
			}
			owner := tt.caller.Owner()
			if tt.spent > 0 { // by a run, which is charged as it ends
				if err := f.broker.AdmitRun(t.Context(), owner, "earlier-run", plenty, f.now); err != nil {
					t.Fatal(err)
				}
				if err := f.broker.EndRun(t.Context(), owner, "earlier-run", tt.spent, f.now); err != nil {
					t.Fatal(err)
				}
			}
			var accepted []string
			for range tt.before {
				accepted = append(accepted, f.submit(t, tt.caller, "print(1)").ID)
			}
			before, err := f.broker.Usage(t.Context(), owner, f.now)
			if err != nil {
				t.Fatal(err)
			}

			_, err = f.svc.Submit(t.Context(), tt.caller, tt.problem, tt.code)
			if got := coderunner.ErrorCode(err); got != tt.want {
				t.Fatalf("Submit: %v (%s), want %s", err, got, tt.want)
			}

			stored, err := f.db.Submissions(t.Context(), owner, "", coderunner.SubmissionCursor{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			unfinished, err := f.db.UnfinishedSubmissions(t.Context(), f.now.Add(time.Hour), coderunner.SubmissionCursor{}, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != len(accepted) || len(unfinished) != len(accepted) {
				t.Errorf("%d submissions stored (%d unfinished); want only the %d accepted before", len(stored), len(unfinished), len(accepted))
			}
			for _, e := range f.published.Events("") {
				if !slices.Contains(accepted, e.RunID) {
					t.Errorf("published %s of %s; want nothing of the refused submission", e.Type, e.RunID)
				}
			}
			if n, err := f.broker.Depth(t.Context()); err != nil || n != int64(len(accepted)) {
				t.Errorf("Depth = %d, %v; want %d", n, err, len(accepted))
			}
			if after, err := f.broker.Usage(t.Context(), owner, f.now); err != nil || after != before {
				t.Errorf("usage went from %+v to %+v (%v): a refused submission spends no budget", before, after, err)
			}
			// Nor room in the queue: once the accepted jobs are claimed,
			// the whole queue is free.
			for range accepted {
				if _, err := f.broker.Claim(t.Context(), "worker"); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tt.maxWaiting {
				if err := f.broker.Reserve(t.Context(), fmt.Sprint("probe-", i)); err != nil {
					t.Errorf("Reserve %d of %d after the refusal: %v; want room", i+1, tt.maxWaiting, err)
				}
			}
		})
	}
}

// TestGetAnswersOthersLikeMissing: another student's submission answers
// Get and Events exactly as one that does not exist; its owner and an
// admin see it.
func TestGetAnswersOthersLikeMissing(t *testing.T) {
	f := newFixture(t, broker.Options{})
	sub := f.submit(t, student, "print(2 * int(input()))")
	for _, caller := range []coderunner.Caller{student, admin} {
		if got, err := f.svc.Get(t.Context(), caller, sub.ID); err != nil || got.ID != sub.ID || got.Code != sub.Code {
			t.Errorf("Get as %s = %+v, %v; want the submission", caller.User.ID, got, err)
		}
	}
	missing := "00000000-0000-4000-8000-000000000000"
	_, errMissing := f.svc.Get(t.Context(), other, missing)
	for _, caller := range []coderunner.Caller{other, guest} {
		_, err := f.svc.Get(t.Context(), caller, sub.ID)
		if err == nil || coderunner.ErrorCode(err) != coderunner.ErrorCode(errMissing) ||
			strings.ReplaceAll(err.Error(), sub.ID, missing) != errMissing.Error() {
			t.Errorf("Get of another's submission as %s: %v; want exactly what a missing one answers: %v", caller.Owner(), err, errMissing)
		}
		_, err = f.svc.Events(t.Context(), caller, sub.ID, 0)
		if coderunner.ErrorCode(err) != coderunner.NotFound || strings.ReplaceAll(err.Error(), sub.ID, missing) != errMissing.Error() {
			t.Errorf("Events of another's submission as %s: %v; want %v", caller.Owner(), err, errMissing)
		}
	}
}

func TestList(t *testing.T) {
	f := newFixture(t, broker.Options{})
	triple := doubleProblem()
	triple.ID, triple.Position = "triple", 2
	f.putProblem(t, triple)
	// u1: five submissions, a second apart, the second and the fourth to
	// "triple"; u2: one.
	var ids []string // newest first
	for i := range 5 {
		problem := "double"
		if i%2 == 1 {
			problem = "triple"
		}
		sub, err := f.svc.Submit(t.Context(), student, problem, "print(1)")
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{sub.ID}, ids...)
		f.now = f.now.Add(time.Second)
	}
	theirs := f.submit(t, other, "print(2)")

	// Pages of two: every submission once, newest first.
	var got []string
	after := ""
	for page := 0; ; page++ {
		p, err := f.svc.List(t.Context(), student, "", "", 2, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Submissions {
			got = append(got, s.ID)
		}
		wantMore := page < 2
		if p.HasMore != wantMore || len(p.Submissions) == 0 || p.EndCursor == "" {
			t.Fatalf("page %d: %d submissions, hasMore %v, endCursor %q; want hasMore %v and a cursor", page, len(p.Submissions), p.HasMore, p.EndCursor, wantMore)
		}
		if !p.HasMore {
			break
		}
		after = p.EndCursor
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages of 2 = %v; want %v", got, ids)
	}

	tests := []struct {
		name    string
		caller  coderunner.Caller
		user    string
		problem string
		first   int
		after   string
		want    []string
		more    bool
		code    coderunner.Code
	}{
		{name: "default page", caller: student, want: ids},
		{name: "first 5 exactly", caller: student, first: 5, want: ids},
		{name: "first 4", caller: student, first: 4, want: ids[:4], more: true},
		{name: "own, named", caller: student, user: "u1", first: 1, want: ids[:1], more: true},
		{name: "problem filter", caller: student, problem: "triple", want: []string{ids[1], ids[3]}},
		{name: "problem filter, pages of 1", caller: student, problem: "double", first: 1, want: ids[:1], more: true},
		{name: "problem without submissions", caller: student, problem: "nothing", want: nil},
		{name: "admin lists another user", caller: admin, user: "u1", first: 2, want: ids[:2], more: true},
		{name: "another user's own", caller: other, want: []string{theirs.ID}},
		{name: "student lists another user", caller: other, user: "u1", code: coderunner.Forbidden},
		{name: "guest", caller: guest, code: coderunner.Unauthenticated},
		{name: "first negative", caller: student, first: -1, code: coderunner.BadUserInput},
		{name: "first over the maximum", caller: student, first: submissions.MaxPageSize + 1, code: coderunner.BadUserInput},
		{name: "cursor not base64", caller: student, after: "not a cursor!", code: coderunner.BadUserInput},
		{name: "cursor not JSON", caller: student, after: base64.RawURLEncoding.EncodeToString([]byte("hello")), code: coderunner.BadUserInput},
		{name: "cursor without id", caller: student, after: base64.RawURLEncoding.EncodeToString([]byte(`{"CreatedAt":"2026-11-28T12:00:00Z"}`)), code: coderunner.BadUserInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.svc.List(t.Context(), tt.caller, tt.user, tt.problem, tt.first, tt.after)
			if tt.code != "" {
				if coderunner.ErrorCode(err) != tt.code {
					t.Errorf("List: %v; want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range p.Submissions {
				got = append(got, s.ID)
			}
			if !slices.Equal(got, tt.want) || p.HasMore != tt.more {
				t.Errorf("List = %v, hasMore %v; want %v, %v", got, p.HasMore, tt.want, tt.more)
			}
		})
	}

	// The cursor of the last submission of a problem ends its list.
	p, err := f.svc.List(t.Context(), student, "", "triple", 2, "")
	if err != nil || p.HasMore {
		t.Fatalf("List(triple) = %+v, %v", p, err)
	}
	if rest, err := f.svc.List(t.Context(), student, "", "triple", 2, p.EndCursor); err != nil || len(rest.Submissions) != 0 || rest.HasMore || rest.EndCursor != "" {
		t.Errorf("List after the last = %+v, %v; want an empty page without a cursor", rest, err)
	}
}

// TestEvents: a subscriber follows a submission live until FINISHED;
// afterwards the same events are replayed from the broker's buffer and,
// in a process whose broker has no buffer, rebuilt from the store — from
// the start or from the middle.
func TestEvents(t *testing.T) {
	f := newFixture(t, broker.Options{})
	code := "print(2 * int(input()))"
	sub := f.submit(t, student, code)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	live, err := f.svc.Events(ctx, student, sub.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	graded := f.grade(t, "2\n", "9\n", "-6\n")
	if graded.Verdict != coderunner.WrongAnswer || graded.Passed != 2 || graded.Total != 3 || len(graded.Tests) != 3 {
		t.Fatalf("graded %s %d/%d with %d tests; want WRONG_ANSWER 2/3", graded.Verdict, graded.Passed, graded.Total, len(graded.Tests))
	}
	const all = "QUEUED STARTED TEST_FINISHED TEST_FINISHED TEST_FINISHED FINISHED"

	check := func(name string, events []coderunner.RunEvent, want string, firstSeq int64) {
		t.Helper()
		if got := brokertest.Types(events); got != want {
			t.Fatalf("%s: %s; want %s", name, got, want)
		}
		for i, e := range events {
			if e.RunID != sub.ID || e.Seq != firstSeq+int64(i) {
				t.Errorf("%s: event %d is %s of %s with seq %d; want seq %d", name, i, e.Type, e.RunID, e.Seq, firstSeq+int64(i))
			}
			if e.Type == coderunner.EventTestFinished && (e.Test == nil || *e.Test != graded.Tests[e.Seq-3]) {
				t.Errorf("%s: TEST_FINISHED seq %d carries %+v; want %+v", name, e.Seq, e.Test, graded.Tests[e.Seq-3])
			}
		}
		end := events[len(events)-1].Submission
		if end == nil || end.Code != code || end.Verdict != coderunner.WrongAnswer || end.Passed != 2 || len(end.Tests) != 3 {
			t.Errorf("%s: FINISHED carries %+v; want the graded submission, with its code", name, end)
		}
	}
	check("live", drain(t, ctx, live), all, 1)
	check("from the buffer", f.events(t, student, sub.ID, 0), all, 1)
	check("from the buffer after seq 3", f.events(t, student, sub.ID, 3), "TEST_FINISHED TEST_FINISHED FINISHED", 4)
	if got := f.events(t, student, sub.ID, 6); len(got) != 0 {
		t.Errorf("after FINISHED's own seq: %s; want nothing", brokertest.Types(got))
	}
	check("from the buffer, as an admin", f.events(t, admin, sub.ID, 0), all, 1)

	// Another process's broker has no buffer: the store answers.
	fresh := *f
	fresh.svc = &submissions.Service{Store: f.svc.Store, Broker: newBroker(t)}
	check("from the store", fresh.events(t, student, sub.ID, 0), all, 1)
	check("from the store after seq 3", fresh.events(t, student, sub.ID, 3), "TEST_FINISHED TEST_FINISHED FINISHED", 4)
	check("from the store after seq 5", fresh.events(t, student, sub.ID, 5), "FINISHED", 6)
	if got := fresh.events(t, student, sub.ID, 40); brokertest.Types(got) != "FINISHED" || got[0].Seq != 41 {
		t.Errorf("from the store after a seq it never had: %s %v; want FINISHED at 41", brokertest.Types(got), seqs(got))
	}
	if _, err := fresh.svc.Events(t.Context(), student, sub.ID, -1); coderunner.ErrorCode(err) != coderunner.BadUserInput {
		t.Errorf("Events after seq -1: %v; want BAD_USER_INPUT", err)
	}
}

// TestFinishTwice: the second Finish of a submission changes nothing: one
// FINISHED is published, its CPU time is charged once, and the stored
// result is the first.
func TestFinishTwice(t *testing.T) {
	f := newFixture(t, broker.Options{})
	f.svc.Quotas = fixedQuota(plenty)
	sub := f.submit(t, student, "print(2)")
	graded := f.grade(t, "2\n", "10\n", "-6\n")
	again := graded
	again.Verdict, again.Passed, again.FinishedAt = coderunner.WrongAnswer, 0, time.Time{}
	if ok, err := f.svc.Finish(t.Context(), again); ok || err != nil {
		t.Errorf("second Finish = %v, %v; want false, nil", ok, err)
	}
	if got := brokertest.Types(f.published.Events(sub.ID)); got != "QUEUED STARTED TEST_FINISHED TEST_FINISHED TEST_FINISHED FINISHED" {
		t.Errorf("published %s; want one FINISHED", got)
	}
	if stored, _ := f.svc.Store.Submission(t.Context(), sub.ID); stored.Verdict != coderunner.Accepted || stored.Passed != 3 {
		t.Errorf("stored %s %d/3; want the first finish's ACCEPTED 3/3", stored.Verdict, stored.Passed)
	}
	usage, err := f.broker.Usage(t.Context(), student.Owner(), f.now)
	if err != nil || usage.ExecToday != 300*time.Millisecond || usage.ActiveRuns != 0 || usage.SubmitsToday != 1 {
		t.Errorf("usage %+v (%v); want 300 ms of CPU, charged once, nothing active, one submission", usage, err)
	}
}

// TestSettle: settling a finished submission charges its tests' CPU time
// to its owner and ends its place among the owner's work in flight; a
// worker that settles it again (its grader died before acknowledging the
// job) charges nothing more.
func TestSettle(t *testing.T) {
	f := newFixture(t, broker.Options{})
	f.svc.Quotas = fixedQuota(plenty)
	sub := f.submit(t, student, "print(2)")
	usage := func() coderunner.Usage {
		t.Helper()
		u, err := f.broker.Usage(t.Context(), student.Owner(), f.now)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := usage(); u.ActiveRuns != 1 || u.ExecToday != 0 {
		t.Fatalf("after Submit: %+v; want one active, no CPU time", u)
	}
	sub.Status, sub.Verdict, sub.Passed, sub.FinishedAt = coderunner.SubmissionFinished, coderunner.WrongAnswer, 1, f.now
	sub.Tests = []coderunner.TestResult{{Index: 0, Verdict: coderunner.Accepted, CPUMs: 250}, {Index: 1, Verdict: coderunner.WrongAnswer, CPUMs: 1500}}
	for i := range 2 {
		f.svc.Settle(t.Context(), sub)
		if u := usage(); u.ActiveRuns != 0 || u.ExecToday != 1750*time.Millisecond {
			t.Errorf("after settling %d times: %+v; want nothing active, 1.75 s of CPU time", i+1, u)
		}
	}
}

// TestUpdateProgress: a user's progress on a problem, from their finished
// submissions to it in any order.
func TestUpdateProgress(t *testing.T) {
	type finished struct {
		verdict       coderunner.Verdict
		passed, total int
		at            int // minutes after the fixture's start
	}
	tests := []struct {
		name string
		subs []finished
		// unfinished: submissions still queued, which count for nothing.
		unfinished int
		// solvedBefore is the progress stored already, solved at that
		// minute (0: none stored).
		solvedBefore int
		want         coderunner.Progress
		// solvedAt is the minute of want.SolvedAt (0: not solved).
		solvedAt int
	}{
		{name: "none", want: coderunner.Progress{}},
		{name: "one wrong", subs: []finished{{coderunner.WrongAnswer, 1, 3, 1}},
			want: coderunner.Progress{Attempts: 1, BestVerdict: coderunner.WrongAnswer, BestPassed: 1, Total: 3}},
		{name: "best verdict and best passed, from different attempts",
			subs: []finished{{coderunner.RuntimeError, 2, 3, 1}, {coderunner.WrongAnswer, 1, 3, 2}, {coderunner.TimeLimitExceeded, 0, 3, 3}},
			want: coderunner.Progress{Attempts: 3, BestVerdict: coderunner.WrongAnswer, BestPassed: 2, Total: 3}},
		{name: "best share across changed totals",
			subs: []finished{{coderunner.WrongAnswer, 2, 3, 1}, {coderunner.WrongAnswer, 3, 5, 2}},
			want: coderunner.Progress{Attempts: 2, BestVerdict: coderunner.WrongAnswer, BestPassed: 2, Total: 3}},
		{name: "INTERNAL_ERROR not counted", subs: []finished{{coderunner.InternalError, 3, 3, 1}, {coderunner.WrongAnswer, 0, 3, 2}},
			want: coderunner.Progress{Attempts: 1, BestVerdict: coderunner.WrongAnswer, BestPassed: 0, Total: 3}},
		{name: "only INTERNAL_ERROR", subs: []finished{{coderunner.InternalError, 2, 3, 1}}, want: coderunner.Progress{}},
		{name: "unfinished not counted", subs: []finished{{coderunner.WrongAnswer, 1, 3, 1}}, unfinished: 2,
			want: coderunner.Progress{Attempts: 1, BestVerdict: coderunner.WrongAnswer, BestPassed: 1, Total: 3}},
		{name: "solved at the first ACCEPTED",
			subs: []finished{{coderunner.WrongAnswer, 1, 3, 1}, {coderunner.Accepted, 3, 3, 2}, {coderunner.WrongAnswer, 0, 3, 3}, {coderunner.Accepted, 3, 3, 4}},
			want: coderunner.Progress{Attempts: 4, BestVerdict: coderunner.Accepted, BestPassed: 3, Total: 3}, solvedAt: 2},
		{name: "solved stays solved without its submissions", subs: []finished{{coderunner.WrongAnswer, 1, 3, 5}}, solvedBefore: 3,
			want: coderunner.Progress{Attempts: 1, BestVerdict: coderunner.WrongAnswer, BestPassed: 1, Total: 3}, solvedAt: 3},
		{name: "solved keeps the earlier time", subs: []finished{{coderunner.Accepted, 3, 3, 5}}, solvedBefore: 3,
			want: coderunner.Progress{Attempts: 1, BestVerdict: coderunner.Accepted, BestPassed: 3, Total: 3}, solvedAt: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, broker.Options{})
			ctx := t.Context()
			minute := func(m int) time.Time { return f.now.Add(time.Duration(m) * time.Minute) }
			if tt.solvedBefore > 0 {
				p := coderunner.Progress{Owner: "u1", ProblemID: "double", Attempts: 1, BestVerdict: coderunner.Accepted, BestPassed: 3, Total: 3, SolvedAt: minute(tt.solvedBefore)}
				if err := f.db.SaveProgress(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			// Stored newest first, so that the order is not the one read.
			for i := len(tt.subs) - 1; i >= 0; i-- {
				s := tt.subs[i]
				sub := coderunner.Submission{ID: "s" + string(rune('a'+i)), Owner: "u1", ProblemID: "double", Status: coderunner.SubmissionFinished,
					Verdict: s.verdict, Passed: s.passed, Total: s.total, CreatedAt: minute(s.at), FinishedAt: minute(s.at).Add(time.Second)}
				if s.verdict == coderunner.Accepted {
					sub.FinishedAt = minute(s.at)
				}
				if err := f.db.CreateSubmission(ctx, sub); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tt.unfinished {
				sub := coderunner.Submission{ID: "q" + string(rune('a'+i)), Owner: "u1", ProblemID: "double", Status: coderunner.SubmissionQueued, Total: 3, CreatedAt: minute(9)}
				if err := f.db.CreateSubmission(ctx, sub); err != nil {
					t.Fatal(err)
				}
			}
			// Another user's and another problem's count for nothing.
			for _, sub := range []coderunner.Submission{
				{ID: "theirs", Owner: "u2", ProblemID: "double", Status: coderunner.SubmissionFinished, Verdict: coderunner.Accepted, Passed: 3, Total: 3, CreatedAt: minute(1), FinishedAt: minute(1)},
				{ID: "elsewhere", Owner: "u1", ProblemID: "triple", Status: coderunner.SubmissionFinished, Verdict: coderunner.Accepted, Passed: 3, Total: 3, CreatedAt: minute(1), FinishedAt: minute(1)},
			} {
				if err := f.db.CreateSubmission(ctx, sub); err != nil {
					t.Fatal(err)
				}
			}

			for range 2 { // repeating it changes nothing
				if err := f.svc.UpdateProgress(ctx, "u1", "double"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := f.db.Progress(ctx, "u1", []string{"double"})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Owner, want.ProblemID = "u1", "double"
			if tt.solvedAt > 0 {
				want.SolvedAt = minute(tt.solvedAt)
			}
			if got["double"] != want {
				t.Errorf("progress\n%+v\nwant\n%+v", got["double"], want)
			}
		})
	}
}

// TestProgressFollowsGrading: finishing a submission brings its owner's
// progress up to date.
func TestProgressFollowsGrading(t *testing.T) {
	f := newFixture(t, broker.Options{})
	f.submit(t, student, "print(1)")
	f.grade(t, "2\n", "9\n", "-6\n")
	f.submit(t, student, "print(2 * int(input()))")
	solved := f.grade(t, "2\n", "10\n", "-6\n")
	got, err := f.db.Progress(t.Context(), "u1", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := coderunner.Progress{Owner: "u1", ProblemID: "double", Attempts: 2, BestVerdict: coderunner.Accepted, BestPassed: 3, Total: 3, SolvedAt: solved.FinishedAt}
	if len(got) != 1 || got["double"] != want {
		t.Errorf("progress %+v; want %+v", got, want)
	}
}

// TestGradingKeptPerVersion: the submissions of one version of a problem
// share one stored grading, put once; a submission is graded against the
// version it was submitted to, whatever edits follow.
func TestGradingKeptPerVersion(t *testing.T) {
	f := newFixture(t, broker.Options{})
	first := f.submit(t, student, "print(1)")
	second := f.submit(t, other, "print(2)")
	if first.GradingKey != second.GradingKey || f.store.gradingsPut() != 1 {
		t.Errorf("two submissions to one version: keys %s and %s, %d gradings put; want one key, put once", first.GradingKey, second.GradingKey, f.store.gradingsPut())
	}

	edited := doubleProblem()
	edited.HiddenTests = append(edited.HiddenTests, coderunner.TestCase{Input: "0\n", Output: "0\n"})
	edited.TimeLimitMs = 2000
	f.putProblem(t, edited)
	third := f.submit(t, student, "print(3)")
	if third.GradingKey == first.GradingKey || f.store.gradingsPut() != 2 || third.Total != 4 {
		t.Errorf("after an edit: key %s (first %s), %d gradings put, total %d; want a new key, put once more, 4 tests",
			third.GradingKey, first.GradingKey, f.store.gradingsPut(), third.Total)
	}

	for _, tt := range []struct {
		sub  coderunner.Submission
		want coderunner.Grading
	}{
		{first, doubleProblem().Grading()},
		{third, edited.Grading()},
	} {
		stored, err := f.svc.Store.Submission(t.Context(), tt.sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		g, err := f.svc.Store.Grading(t.Context(), stored.GradingKey)
		if err != nil {
			t.Fatal(err)
		}
		if g.Key() != tt.want.Key() || len(g.Tests) != len(tt.want.Tests) || g.TimeLimitMs != tt.want.TimeLimitMs || stored.Total != len(tt.want.Tests) {
			t.Errorf("submission %s is graded against %d tests in %d ms (total %d); want %d in %d ms",
				tt.sub.ID, len(g.Tests), g.TimeLimitMs, stored.Total, len(tt.want.Tests), tt.want.TimeLimitMs)
		}
	}
	// The worker grades the first submission against the old tests.
	graded := f.grade(t, "2\n", "10\n", "-6\n")
	if graded.ID != first.ID || graded.Verdict != coderunner.Accepted || graded.Total != 3 {
		t.Errorf("graded %s: %s %d/%d; want %s ACCEPTED 3/3", graded.ID, graded.Verdict, graded.Passed, graded.Total, first.ID)
	}
}
