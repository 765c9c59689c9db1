package submissions

import (
	"context"
	"time"

	"coderunner"
	"coderunner/reap"
)

// Reap finishes, INTERNAL_ERROR (see GiveUp), the submissions still
// QUEUED or RUNNING more than maxAge after they were created (and, if
// running, started) whose job is no longer in the queue: their job was
// lost, so that no submission waits forever (see reap.Kind.Reap). It
// returns how many it finished.
func (s *Service) Reap(ctx context.Context, maxAge time.Duration) (int, error) {
	return s.reaper(maxAge).Reap(ctx, s.Broker, s.now(), maxAge)
}

// Requeue queues again the submissions that were unfinished when the
// process started, for a queue that does not outlive its process (the
// in-memory broker of `serve`): after a restart they are graded on from
// the tests they have, instead of waiting for Reap. Submissions lost for
// longer than maxAge are given up at once, as Reap would a minute later,
// and so is one the queue has no room for (counted as neither). It
// returns how many it queued and how many it gave up.
func (s *Service) Requeue(ctx context.Context, maxAge time.Duration) (queued, gaveUp int, err error) {
	return s.reaper(maxAge).Requeue(ctx, s.Broker, s.now(), maxAge, func(sub coderunner.Submission) {
		s.abandon(sub, "too many jobs were waiting when the server restarted")
	})
}

// reaper is the submissions' kind of work for package reap.
func (s *Service) reaper(maxAge time.Duration) reap.Kind[coderunner.Submission] {
	return reap.Kind[coderunner.Submission]{
		Unfinished: func(ctx context.Context, before time.Time, after coderunner.Submission, limit int) ([]coderunner.Submission, error) {
			return s.Store.UnfinishedSubmissions(ctx, before, after.Cursor(), limit)
		},
		Work: func(sub coderunner.Submission) reap.Work {
			return reap.Work{Job: coderunner.Job{SubmissionID: sub.ID}, CreatedAt: sub.CreatedAt, Running: sub.Status == coderunner.SubmissionRunning, StartedAt: sub.StartedAt}
		},
		GiveUp: func(ctx context.Context, sub coderunner.Submission) (bool, error) {
			finished, err := s.Finish(ctx, GiveUp(sub), sub.Status)
			if finished {
				s.log().Error("gave up a lost submission", "submission", sub.ID, "was", sub.Status, "staleAfter", maxAge)
			}
			return finished, err
		},
	}
}
