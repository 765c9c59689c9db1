package submissions

import (
	"context"
	"fmt"
	"time"

	"coderunner"
)

// Start marks a submission RUNNING for a grading attempt that began at
// startedAt (in milliseconds, as every store keeps it: the stored
// StartedAt tells this attempt from another delivery's) and reports
// whether it did: false means it has finished meanwhile.
func (s *Service) Start(ctx context.Context, sub coderunner.Submission, startedAt time.Time) (coderunner.Submission, bool, error) {
	sub.Status, sub.StartedAt = coderunner.SubmissionRunning, startedAt.UTC().Truncate(time.Millisecond)
	ok, err := s.Store.UpdateSubmission(ctx, sub)
	return sub, ok, err
}

// RecordTest stores a graded test in a running submission and tells its
// subscribers. Stored first: a grader that dies after storing it leaves
// the test graded (the next attempt grades from the one after, and
// publishes what the subscribers missed); one that dies before leaves it
// to be graded again, never twice in the verdict. It reports false when
// the submission is no longer running (another attempt finished it).
func (s *Service) RecordTest(ctx context.Context, sub coderunner.Submission, test coderunner.TestResult) (coderunner.Submission, bool, error) {
	sub.Tests = append(sub.Tests[:len(sub.Tests):len(sub.Tests)], test)
	ok, err := s.Store.UpdateSubmission(ctx, sub, coderunner.SubmissionRunning)
	if err != nil || !ok {
		return sub, false, err
	}
	s.PublishTest(ctx, sub.ID, test)
	return sub, true, nil
}

// PublishTest publishes TEST_FINISHED for a stored test. A failed publish
// is logged, not retried: the test is stored, and FINISHED carries every
// test.
func (s *Service) PublishTest(ctx context.Context, id string, test coderunner.TestResult) {
	if _, err := s.Broker.Publish(ctx, coderunner.RunEvent{RunID: id, Type: coderunner.EventTestFinished, Test: &test}); err != nil {
		s.log().Warn("publish TEST_FINISHED failed", "submission", id, "test", test.Index, "err", err)
	}
}

// Finish records a finished submission and, if this was the update that
// finished it, settles it (see Settle) and publishes FINISHED: exactly
// one FINISHED per submission. It reports whether it did: false means it
// had finished already, or its stored status is not one of from (see
// SubmissionStore.UpdateSubmission).
func (s *Service) Finish(ctx context.Context, sub coderunner.Submission, from ...coderunner.SubmissionStatus) (bool, error) {
	sub.Status = coderunner.SubmissionFinished
	if sub.FinishedAt.IsZero() {
		sub.FinishedAt = s.now().Truncate(time.Millisecond)
	}
	ok, err := s.Store.UpdateSubmission(ctx, sub, from...)
	if err != nil || !ok {
		return false, err
	}
	s.Settle(ctx, sub)
	// The one chance to tell live subscribers: retry a failed publish for
	// a while, even past ctx (followers ask the store in the end).
	finished := sub
	finished.Code = "" // every subscriber has it; Events puts it back
	event := coderunner.RunEvent{RunID: sub.ID, Type: coderunner.EventFinished, Submission: &finished}
	publishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		if _, err = s.Broker.Publish(publishCtx, event); err == nil {
			return true, nil
		}
		select {
		case <-publishCtx.Done():
			return true, fmt.Errorf("publish FINISHED of submission %s: %w", sub.ID, err)
		case <-time.After(wait):
		}
	}
}

// Settle does what follows a submission's end: it charges the CPU time
// of its tests to its owner — a check submission's to the editor who
// started it — (and ends its place among the owner's work in flight) and
// brings the owner's progress on its problem up to date, unless it is a
// check submission, which counts in no progress. Both
// steps may be repeated — a worker that finds a job's submission finished
// already (its grader died right after storing it) settles it again —
// and failures are logged: the submission is stored, and the next
// submission to the problem brings the progress up to date.
func (s *Service) Settle(ctx context.Context, sub coderunner.Submission) {
	var cpu time.Duration
	for _, t := range sub.Tests {
		cpu += time.Duration(t.CPUMs) * time.Millisecond
	}
	if err := s.Broker.EndRun(ctx, sub.Payer(), sub.ID, cpu, sub.FinishedAt); err != nil {
		s.log().Warn("a finished submission was not charged to its owner", "submission", sub.ID, "owner", sub.Payer(), "err", err)
	}
	if sub.IsCheck() {
		return
	}
	if err := s.UpdateProgress(ctx, sub.Owner, sub.ProblemID); err != nil {
		s.log().Warn("progress not updated", "owner", sub.Owner, "problem", sub.ProblemID, "err", err)
	}
}

// progressPage is how many submissions UpdateProgress reads at a time.
const progressPage = 100

// UpdateProgress recomputes owner's progress on a problem from their
// finished submissions to it and stores it. Recomputing, rather than
// adding one submission to a count, makes it safe to repeat. A problem
// once solved stays solved, whatever happens to the submissions.
//
// Two submissions to a problem may finish at once, and the one that read
// the submissions first, before the other was stored finished, may save
// last: its progress, one attempt short and perhaps not solved, would
// stay. So after saving it reads the submissions again and, if more have
// finished since its first read, saves again: whichever save comes last
// then counts every submission finished before it.
func (s *Service) UpdateProgress(ctx context.Context, owner, problemID string) error {
	p, err := s.progress(ctx, owner, problemID)
	for err == nil {
		var old map[string]coderunner.Progress
		if old, err = s.Store.Progress(ctx, owner, []string{problemID}); err != nil {
			break
		}
		if was := old[problemID]; was.Solved() && (!p.Solved() || was.SolvedAt.Before(p.SolvedAt)) {
			p.SolvedAt = was.SolvedAt
		}
		if err = s.Store.SaveProgress(ctx, p); err != nil {
			break
		}
		var again coderunner.Progress
		if again, err = s.progress(ctx, owner, problemID); err == nil && again.Attempts == p.Attempts {
			return nil
		}
		p = again
	}
	return err
}

// progress computes owner's progress on a problem from their finished
// submissions to it.
func (s *Service) progress(ctx context.Context, owner, problemID string) (coderunner.Progress, error) {
	p := coderunner.Progress{Owner: owner, ProblemID: problemID}
	for after := (coderunner.SubmissionCursor{}); ; {
		page, err := s.Store.Submissions(ctx, owner, problemID, after, progressPage)
		if err != nil {
			return p, err
		}
		for _, sub := range page {
			p = p.Add(sub)
		}
		if len(page) < progressPage {
			return p, nil
		}
		after = page[len(page)-1].Cursor()
	}
}
