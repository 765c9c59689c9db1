package submissions_test

import (
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

var (
	editor      = coderunner.Caller{User: &coderunner.User{ID: "ed", Name: "eddie", Role: coderunner.RoleEditor}}
	otherEditor = coderunner.Caller{User: &coderunner.User{ID: "ed2", Name: "edna", Role: coderunner.RoleEditor}}
)

// TestSubmitCheckRefusesNonEditors: only an editor (or an admin) may
// start a check submission.
func TestSubmitCheckRefusesNonEditors(t *testing.T) {
	f := newFixture(t, broker.Options{})
	g := doubleProblem().Grading()
	for _, tt := range []struct {
		caller coderunner.Caller
		want   coderunner.Code
	}{
		{guest, coderunner.Unauthenticated},
		{student, coderunner.Forbidden},
	} {
		if _, err := f.svc.SubmitCheck(t.Context(), tt.caller, "double", g, "print(1)"); coderunner.ErrorCode(err) != tt.want {
			t.Errorf("SubmitCheck as %s: %v; want %s", tt.caller.Owner(), err, tt.want)
		}
	}
	if n, err := f.broker.Depth(t.Context()); err != nil || n != 0 {
		t.Errorf("Depth = %d, %v; want nothing queued", n, err)
	}
}

// TestCheckSubmissionsAreNoStudentsRecord: a check submission is graded
// against the grading it names, charged to its editor, and reaches no
// student-facing read — Get, Events and List answer as if it did not
// exist, even to its editor and to an admin — nor anyone's progress; only
// AwaitCheck, by its editor, returns it.
func TestCheckSubmissionsAreNoStudentsRecord(t *testing.T) {
	f := newFixture(t, broker.Options{})
	f.svc.Quotas = fixedQuota(plenty)
	ctx := t.Context()
	candidate := doubleProblem()
	candidate.ID = "candidate" // stored as no problem
	candidate.HiddenTests = append(candidate.HiddenTests, coderunner.TestCase{Input: "7\n", Output: "14\n"})
	g := candidate.Grading()
	sub, err := f.svc.SubmitCheck(ctx, editor, candidate.ID, g, candidate.ReferenceSolution)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Owner != "check:ed" || !sub.IsCheck() || sub.Payer() != "ed" || sub.GradingKey != g.Key() || sub.Total != 4 {
		t.Fatalf("check submission %+v; want owner check:ed, graded against the candidate's 4 tests", sub)
	}
	if stored, err := f.db.Grading(ctx, g.Key()); err != nil || len(stored.Tests) != 4 {
		t.Fatalf("stored grading %+v, %v; want the candidate's", stored, err)
	}

	type awaited struct {
		sub coderunner.Submission
		err error
	}
	done := make(chan awaited, 1)
	go func() {
		s, err := f.svc.AwaitCheck(ctx, editor, sub.ID)
		done <- awaited{s, err}
	}()
	f.grade(t, "2\n", "10\n", "-6\n", "15\n")
	var got awaited
	select {
	case got = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("AwaitCheck still waiting 5 s after the submission finished")
	}
	if got.err != nil || got.sub.Status != coderunner.SubmissionFinished || got.sub.Verdict != coderunner.WrongAnswer || len(got.sub.Tests) != 4 || got.sub.Code != candidate.ReferenceSolution {
		t.Fatalf("AwaitCheck = %+v, %v; want it finished WRONG_ANSWER with its 4 tests and code", got.sub, got.err)
	}

	missing := "00000000-0000-4000-8000-000000000000"
	_, errMissing := f.svc.Get(ctx, editor, missing)
	same := func(err error) bool {
		return err != nil && coderunner.ErrorCode(err) == coderunner.NotFound && strings.ReplaceAll(err.Error(), sub.ID, missing) == errMissing.Error()
	}
	for _, caller := range []coderunner.Caller{editor, admin, student} {
		if _, err := f.svc.Get(ctx, caller, sub.ID); !same(err) {
			t.Errorf("Get of a check submission as %s: %v; want what a missing one answers", caller.Owner(), err)
		}
		if _, err := f.svc.Events(ctx, caller, sub.ID, 0); !same(err) {
			t.Errorf("Events of a check submission as %s: %v; want what a missing one answers", caller.Owner(), err)
		}
	}
	for _, tt := range []struct {
		caller coderunner.Caller
		userID string
	}{{editor, ""}, {admin, "check:ed"}, {admin, "ed"}} {
		page, err := f.svc.List(ctx, tt.caller, tt.userID, "", 0, "")
		if err != nil || len(page.Submissions) != 0 {
			t.Errorf("List(%q) as %s = %d submissions, %v; want none", tt.userID, tt.caller.Owner(), len(page.Submissions), err)
		}
	}
	for _, caller := range []coderunner.Caller{otherEditor, admin, student, guest} {
		if _, err := f.svc.AwaitCheck(ctx, caller, sub.ID); !same(err) {
			t.Errorf("AwaitCheck of ed's check submission as %s: %v; want what a missing one answers", caller.Owner(), err)
		}
	}
	mine := f.submit(t, student, "print(1)")
	if _, err := f.svc.AwaitCheck(ctx, editor, mine.ID); coderunner.ErrorCode(err) != coderunner.NotFound {
		t.Errorf("AwaitCheck of a student's submission: %v; want NOT_FOUND", err)
	}

	for _, owner := range []string{"ed", "check:ed"} {
		if p, err := f.db.Progress(ctx, owner, nil); err != nil || len(p) != 0 {
			t.Errorf("progress of %s: %+v, %v; want none", owner, p, err)
		}
	}
	usage, err := f.broker.Usage(ctx, "ed", f.now)
	if err != nil || usage.SubmitsToday != 1 || usage.ActiveRuns != 0 || usage.ExecToday != 400*time.Millisecond {
		t.Errorf("the editor's usage %+v, %v; want 1 submission, ended, 400 ms charged", usage, err)
	}
}
