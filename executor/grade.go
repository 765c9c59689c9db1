package executor

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"coderunner"
	"coderunner/grade"
	"coderunner/report"
	"coderunner/submissions"
)

// grade grades a claimed submission: each of its tests in turn, each as a
// sandbox run of its own with the problem's limits, compared with the
// expected output here, outside the sandbox — expected outputs never
// enter a container. Each graded test is stored before the next starts,
// so that an attempt that dies loses at most the test it was running:
// the next delivery grades from there, and no test counts twice.
func (w *Worker) grade(ctx context.Context, claim coderunner.Claim) {
	id := claim.Job().SubmissionID
	log := w.Log.With("submission", id, "delivery", claim.Deliveries())
	if w.Submissions == nil {
		log.Error("job for a submission, but this worker grades none: dead-lettering it")
		w.deadLetter(ctx, claim, "no grader")
		return
	}
	subs := w.Submissions
	sub, err := subs.Store.Submission(ctx, id)
	switch {
	case coderunner.ErrorCode(err) == coderunner.NotFound:
		log.Error("job for a submission that does not exist: dead-lettering it")
		w.deadLetter(ctx, claim, "submission not found")
		return
	case err != nil:
		log.Error("read submission failed; leaving the job to be claimed again", "err", err)
		return
	case sub.Status == coderunner.SubmissionFinished:
		// Its grader died between storing the end and acknowledging the
		// job: what followed the end may not have happened.
		subs.Settle(ctx, sub)
		w.ack(ctx, claim, log)
		return
	case claim.Deliveries() > w.MaxDeliveries:
		log.Error("job delivered too often: dead-lettering it", "max", w.MaxDeliveries)
		if _, err := subs.Finish(ctx, submissions.GiveUp(sub)); err != nil {
			log.Error("finish given-up submission failed", "err", err)
			return
		}
		w.deadLetter(ctx, claim, "too many deliveries")
		return
	}
	grading, err := subs.Store.Grading(ctx, sub.GradingKey)
	if err != nil {
		log.Error("read the submission's grading failed; leaving the job to be claimed again", "err", err)
		return
	}
	if w.Metrics.QueueWait != nil && claim.Deliveries() == 1 {
		w.Metrics.QueueWait(time.Since(claim.Job().EnqueuedAt))
	}
	wasQueued := sub.Status == coderunner.SubmissionQueued
	sub, ok, err := subs.Start(ctx, sub, time.Now())
	if err != nil || !ok {
		if err != nil {
			log.Error("mark submission RUNNING failed; leaving the job to be claimed again", "err", err)
		} else {
			w.ack(ctx, claim, log) // it finished meanwhile
		}
		return
	}
	w.catchUp(ctx, sub, wasQueued)

	attemptCtx, stopAttempt := context.WithCancel(ctx)
	defer stopAttempt()
	var claimLost atomic.Bool
	startedAt := sub.StartedAt // sub changes as tests are graded; the keep-alive reads this
	superseded := func(ctx context.Context) bool {
		stored, err := subs.Store.Submission(ctx, id)
		return err == nil && (stored.Status == coderunner.SubmissionFinished || !stored.StartedAt.Equal(startedAt))
	}
	go w.keepAlive(attemptCtx, claim, superseded, log, func() { claimLost.Store(true); stopAttempt() })

	for i := len(sub.Tests); i < len(grading.Tests) && !stopped(grading, sub.Tests); i++ {
		result, err := w.runTest(attemptCtx, sub, grading, i)
		if err != nil {
			if claimLost.Load() {
				log.Warn("claim lost mid-grading: another worker grades it now; dropping this attempt")
			} else {
				log.Warn("grading cut short; it will be claimed again", "test", i, "err", err)
			}
			return
		}
		if w.Metrics.ProgramCPU != nil {
			w.Metrics.ProgramCPU("test", time.Duration(result.CPUMs)*time.Millisecond)
		}
		var recorded bool
		sub, recorded, err = subs.RecordTest(attemptCtx, sub, result)
		if err != nil || !recorded {
			if err != nil {
				log.Error("store graded test failed; leaving the job to be claimed again", "test", i, "err", err)
			}
			return
		}
	}
	sub.Verdict, sub.Passed = grade.Overall(sub.Tests), grade.Passed(sub.Tests)
	sub.FinishedAt = time.Now().UTC().Truncate(time.Millisecond)
	finish := func(ctx context.Context) (bool, error) { return subs.Finish(ctx, sub) }
	if !w.storeResult(attemptCtx, log, finish) {
		return
	}
	if w.Metrics.SubmissionGraded != nil {
		w.Metrics.SubmissionGraded(sub.Verdict, len(sub.Tests), sub.FinishedAt.Sub(sub.StartedAt))
	}
	w.ack(ctx, claim, log)
}

// stopped reports whether grading ends before the next test: at the first
// failed one, if the problem says so — one graded by an earlier attempt
// included.
func stopped(g coderunner.Grading, graded []coderunner.TestResult) bool {
	return g.StopOnFirstFailure && grade.Passed(graded) < len(graded)
}

// runTest runs test i of the grading and judges it. An error means the
// test could not be judged — the attempt was stopped — and says nothing of
// the program; a sandbox failure is the test's INTERNAL_ERROR verdict.
func (w *Worker) runTest(ctx context.Context, sub coderunner.Submission, g coderunner.Grading, i int) (coderunner.TestResult, error) {
	tc := g.Tests[i]
	req := coderunner.RunRequest{
		Code: sub.Code, Stdin: tc.Input, TimeLimitMs: g.TimeLimitMs, MemoryMB: g.MemoryMB,
		// Room for the expected output and then some, so that a long
		// wrong answer is judged WRONG_ANSWER rather than cut short.
		OutputLimitBytes: min(max(coderunner.DefaultOutputLimitBytes, 2*len(tc.Output)), coderunner.MaxOutputLimitBytes),
		SilentPrompts:    true,
	}
	result, err := w.runSandbox(ctx, coderunner.Job{SubmissionID: sub.ID}, req, nil)
	if err != nil {
		if ctx.Err() != nil {
			return coderunner.TestResult{}, ctx.Err()
		}
		w.Log.Error("a test could not be run", "submission", sub.ID, "test", i, "err", err)
		if !errors.Is(err, errSandboxPanicked) {
			w.report(report.Event{Kind: report.SubmissionFailed, Operation: "grade", SubmissionID: sub.ID, Err: err,
				Redact: []string{sub.Code, tc.Input, tc.Output, result.Stdout, result.Stderr}})
		}
		result.Status = coderunner.StatusInternalError
	}
	result.Stdout, result.Stderr = toValidUTF8([]byte(result.Stdout)), toValidUTF8([]byte(result.Stderr))
	if sub.IsCheck() {
		// An editor's check: the editor may see every test's data.
		return grade.Full(i, i < g.SampleCount, tc, g.Checker, result), nil
	}
	return grade.Result(i, i < g.SampleCount, tc, g.Checker, result), nil
}

// catchUp publishes what an earlier attempt stored but may not have
// told: STARTED, and the TEST_FINISHED of stored tests, where the replay
// buffer lacks them (a first attempt publishes STARTED, nothing else). A
// subscriber that had them already does not see them twice: it follows
// the events after the last seq it saw, and these come after.
func (w *Worker) catchUp(ctx context.Context, sub coderunner.Submission, first bool) {
	subs := w.Submissions
	var events []coderunner.RunEvent
	if !first {
		var err error
		if events, err = subs.Broker.Replay(ctx, sub.ID, 0); err != nil {
			w.Log.Warn("read the submission's events failed: publishing them again", "submission", sub.ID, "err", err)
		}
	}
	started, told := false, make(map[int]bool)
	for _, e := range events {
		switch {
		case e.Type == coderunner.EventStarted:
			started = true
		case e.Type == coderunner.EventTestFinished && e.Test != nil:
			told[e.Test.Index] = true
		}
	}
	if !started {
		if _, err := subs.Broker.Publish(ctx, coderunner.RunEvent{RunID: sub.ID, Type: coderunner.EventStarted}); err != nil {
			w.Log.Warn("publish STARTED failed", "submission", sub.ID, "err", err)
		}
	}
	for _, t := range sub.Tests {
		if !told[t.Index] {
			subs.PublishTest(ctx, sub.ID, t)
		}
	}
}
