// Package submissions is the life of a submission: a program sent to be
// graded against a problem's tests. The API submits and follows
// submissions; workers (executor.Worker) grade them and record each test
// and the end through this service, which keeps every user's progress.
package submissions

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"coderunner"
	"coderunner/grade"
	"coderunner/runs"
)

// MaxCodeBytes bounds a submitted program: a submission is kept for good,
// as the child's record, and a program for a problem is short.
const MaxCodeBytes = 64 << 10

// Store is what the service keeps submissions in and grades them from.
type Store interface {
	coderunner.SubmissionStore
	Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error)
}

// Service submits, follows and finishes submissions. A submission is its
// owner's: anyone else but an admin is answered as if it did not exist.
type Service struct {
	Store  Store
	Broker coderunner.Broker
	// Quotas budgets every caller; nil admits everything.
	Quotas runs.QuotaSource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FinishCheck: see runs.Service.FinishCheck; 0 means 30 s.
	FinishCheck time.Duration
	// Log receives what goes wrong without failing a call; nil means
	// slog.Default().
	Log *slog.Logger

	// stored holds the keys of the gradings this process has stored, so
	// that a submission to an unchanged problem writes no grading.
	stored sync.Map
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Submit records a submission of code to a problem and queues it for
// grading; it returns the submission, QUEUED, at once. Only a signed-in
// user may submit. Over the caller's budget it answers RATE_LIMITED or
// QUOTA_EXCEEDED, and QUEUE_FULL when too much work waits, having stored
// and published nothing (the steps go in the order runs.Service.Start
// explains).
func (s *Service) Submit(ctx context.Context, caller coderunner.Caller, problemID, code string) (coderunner.Submission, error) {
	if caller.User == nil {
		return coderunner.Submission{}, coderunner.Errorf(coderunner.Unauthenticated, "sign in to submit: guests can run programs, but only a signed-in student's submissions are graded and remembered")
	}
	problems, err := s.Store.Problems(ctx, []string{problemID})
	if err != nil {
		return coderunner.Submission{}, err
	}
	problem, ok := problems[problemID]
	if !ok {
		return coderunner.Submission{}, coderunner.Errorf(coderunner.NotFound, "no problem with id %q", problemID)
	}
	return s.queue(ctx, caller, caller.User.ID, problemID, problem.Grading(), code)
}

// SubmitCheck queues a check submission (see
// coderunner.CheckOwnerPrefix): code graded against grading, which need
// not be any stored problem's — a candidate's, checked before it is
// published (package content). Only an editor may; it is charged to the
// editor's budget, as a submission of theirs would be, but it is owned by
// coderunner.CheckOwner(editor): no student-facing read (Get, List,
// Events) ever returns it, it counts in no progress, and only AwaitCheck,
// by the editor who started it, follows it.
func (s *Service) SubmitCheck(ctx context.Context, caller coderunner.Caller, problemID string, grading coderunner.Grading, code string) (coderunner.Submission, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return coderunner.Submission{}, err
	}
	return s.queue(ctx, caller, coderunner.CheckOwner(caller.User.ID), problemID, grading, code)
}

// queue stores a submission of code by owner to be graded against
// grading, charged to caller, and queues it: the steps of Submit.
func (s *Service) queue(ctx context.Context, caller coderunner.Caller, owner, problemID string, grading coderunner.Grading, code string) (coderunner.Submission, error) {
	if len(code) > MaxCodeBytes {
		return coderunner.Submission{}, coderunner.Errorf(coderunner.BadUserInput, "the program is %d bytes; a submission may be at most %d", len(code), MaxCodeBytes)
	}
	sub := coderunner.Submission{
		ID: uuid.NewString(), Owner: owner, ProblemID: problemID, Code: code,
		GradingKey: grading.Key(), Status: coderunner.SubmissionQueued, Total: len(grading.Tests),
		CreatedAt: s.now().Truncate(time.Millisecond),
	}
	if err := s.Broker.Reserve(ctx, sub.ID); err != nil {
		if coderunner.ErrorCode(err) == coderunner.QueueFull {
			return coderunner.Submission{}, err
		}
		return coderunner.Submission{}, fmt.Errorf("reserve room for submission %s: %w", sub.ID, err)
	}
	if err := s.admit(ctx, caller, sub); err != nil {
		s.Broker.Unreserve(context.WithoutCancel(ctx), sub.ID)
		return coderunner.Submission{}, err
	}
	if err := s.storeGrading(ctx, sub.GradingKey, grading); err != nil {
		s.release(sub)
		return coderunner.Submission{}, err
	}
	if err := s.Store.CreateSubmission(ctx, sub); err != nil {
		s.release(sub)
		return coderunner.Submission{}, err
	}
	if _, err := s.Broker.Publish(ctx, coderunner.RunEvent{RunID: sub.ID, Type: coderunner.EventQueued}); err != nil {
		s.abandon(sub, "the submission could not be queued")
		return coderunner.Submission{}, fmt.Errorf("publish QUEUED of submission %s: %w", sub.ID, err)
	}
	if err := s.Broker.Enqueue(ctx, coderunner.Job{SubmissionID: sub.ID, EnqueuedAt: sub.CreatedAt}); err != nil {
		s.abandon(sub, "the submission could not be queued")
		return coderunner.Submission{}, err
	}
	return sub, nil
}

func (s *Service) admit(ctx context.Context, caller coderunner.Caller, sub coderunner.Submission) error {
	if s.Quotas == nil {
		return nil
	}
	q, err := s.Quotas.QuotaFor(ctx, caller)
	if err != nil {
		return err
	}
	return s.Broker.AdmitSubmission(ctx, sub.Payer(), sub.ID, q, sub.CreatedAt)
}

// storeGrading stores the grading under its key once per process.
func (s *Service) storeGrading(ctx context.Context, key string, g coderunner.Grading) error {
	if _, ok := s.stored.Load(key); ok {
		return nil
	}
	if err := s.Store.PutGrading(ctx, key, g); err != nil {
		return fmt.Errorf("store grading %s: %w", key, err)
	}
	s.stored.Store(key, true)
	return nil
}

// release gives back what a submission that was never stored took: its
// place among its owner's work in flight and its room in the queue.
func (s *Service) release(sub coderunner.Submission) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Broker.Unreserve(ctx, sub.ID)
	s.Broker.EndRun(ctx, sub.Payer(), sub.ID, 0, s.now())
}

// abandon finishes, INTERNAL_ERROR, a submission that never reached the
// queue, so that nothing waits on it forever.
func (s *Service) abandon(sub coderunner.Submission, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Broker.Unreserve(ctx, sub.ID)
	s.log().Error("giving up a submission", "submission", sub.ID, "why", why)
	if _, err := s.Finish(ctx, GiveUp(sub)); err != nil {
		s.log().Error("finish an abandoned submission failed", "submission", sub.ID, "err", err)
	}
}

// GiveUp returns sub finished INTERNAL_ERROR — our fault, never the
// program's — with the tests graded so far. Whoever gives up logs why.
func GiveUp(sub coderunner.Submission) coderunner.Submission {
	sub.Status, sub.Verdict = coderunner.SubmissionFinished, coderunner.InternalError
	sub.Passed = grade.Passed(sub.Tests)
	return sub
}
