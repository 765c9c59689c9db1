package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"coderunner"
	"coderunner/report"
	"coderunner/runs"
	"coderunner/submissions"
)

// Worker claims run jobs from the broker and carries them out in the
// sandbox: it streams their output as events, stores the result, and only
// then acknowledges the job, so a worker that dies mid-run loses nothing —
// another worker claims the job again.
type Worker struct {
	// Name identifies this worker process to the broker; unique per process.
	Name   string
	Broker coderunner.Broker
	Runs   *runs.Service
	// Submissions records the grading of submissions; a worker without
	// it dead-letters submission jobs.
	Submissions *submissions.Service
	Sandbox     coderunner.Sandbox
	// Concurrency is how many runs go at once.
	Concurrency int
	// MaxDeliveries: a job delivered more often than this (its workers
	// kept vanishing) is dead-lettered and its run ends INTERNAL_ERROR.
	MaxDeliveries int
	// KeepAliveEvery renews a claim while its run lasts; it must be well
	// under the broker's claim timeout.
	KeepAliveEvery time.Duration
	// Grace bounds how long runs in flight may go on once Run's context
	// ends; runs cut short then are left to be claimed again elsewhere.
	Grace time.Duration
	// StoreRetry bounds how long a finished run's result write is retried
	// before the job is left to be claimed again; 0 means 30 s.
	StoreRetry time.Duration
	Log        *slog.Logger
	Metrics    Metrics
	// Reporter, if not nil, is told of panics, of runs and submissions
	// that end INTERNAL_ERROR through our failure, and of dead letters.
	Reporter report.Reporter
}

// report tells the Reporter of e, as the worker.
func (w *Worker) report(e report.Event) {
	report.WithRole(w.Reporter, "worker").Report(e)
}

// jobEvent is the Event of kind about job: the action and its id.
func jobEvent(kind report.Kind, job coderunner.Job) report.Event {
	if job.SubmissionID != "" {
		return report.Event{Kind: kind, Operation: "grade", SubmissionID: job.SubmissionID}
	}
	return report.Event{Kind: kind, Operation: "run", RunID: job.RunID}
}

// handleSafely is handle, with a panic reported and logged instead of
// ending the process: the job is left unacknowledged, to be claimed again
// and in the end dead-lettered if it keeps failing.
func (w *Worker) handleSafely(ctx context.Context, claim coderunner.Claim) {
	defer func() {
		if p := recover(); p != nil {
			e := jobEvent(report.Panic, claim.Job())
			e.Panic = p
			w.report(e)
			w.Log.Error("job panicked; it will be claimed again", "run", e.RunID, "submission", e.SubmissionID, "panic", p)
		}
	}()
	w.handle(ctx, claim)
}

// crashing reports a panic of a goroutine of job's, waits a moment for
// the report to be sent, and panics again: a helper goroutine's panic
// leaves its job in no state to go on. Defer it.
func (w *Worker) crashing(job coderunner.Job) {
	if p := recover(); p != nil {
		e := jobEvent(report.Panic, job)
		e.Panic = p
		w.report(e)
		report.OrNop(w.Reporter).Flush(2 * time.Second)
		panic(p)
	}
}

// Metrics receives what a worker measures; nil fields are not called.
type Metrics struct {
	QueueWait    func(time.Duration)
	RunFinished  func(status coderunner.RunStatus, d time.Duration)
	DeadLettered func()
	// SubmissionGraded: its verdict, how many tests ran, and how long
	// grading took.
	SubmissionGraded func(verdict coderunner.Verdict, tests int, d time.Duration)
	// ProgramCPU: the CPU time of a program run, of kind "run" or "test"
	// (the cost model's program time).
	ProgramCPU func(kind string, d time.Duration)
}

// Run claims and carries out jobs until ctx ends, then waits up to Grace
// for runs in flight to finish.
func (w *Worker) Run(ctx context.Context) error {
	// Runs live on their own context, so that stopping claims does not stop
	// them; it ends Grace after ctx does.
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	var wg sync.WaitGroup
	for range max(1, w.Concurrency) {
		wg.Go(func() { w.claimLoop(ctx, runCtx) })
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.Grace):
		w.Log.Warn("grace period over: stopping runs in flight; they will be claimed again", "grace", w.Grace)
		stopRuns()
		<-done
	}
	return nil
}

func (w *Worker) claimLoop(ctx, runCtx context.Context) {
	for ctx.Err() == nil {
		claim, err := w.Broker.Claim(ctx, w.Name)
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Error("claim failed; retrying", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		w.handleSafely(runCtx, claim)
	}
}

// handle carries out one claimed job: a run, or a submission to grade.
func (w *Worker) handle(ctx context.Context, claim coderunner.Claim) {
	job := claim.Job()
	if job.SubmissionID != "" {
		w.grade(ctx, claim)
		return
	}
	log := w.Log.With("run", job.RunID, "delivery", claim.Deliveries())
	run, err := w.Runs.Store.Run(ctx, job.RunID) // the worker acts for the system, not a caller
	switch {
	case coderunner.ErrorCode(err) == coderunner.NotFound:
		log.Error("job for a run that does not exist: dead-lettering it")
		w.deadLetter(ctx, claim, "run not found")
		return
	case err != nil:
		log.Error("read run failed; leaving the job to be claimed again", "err", err)
		return
	case run.Status.Finished():
		// Cancelled while queued, or finished by a worker that died
		// before its acknowledgement.
		w.ack(ctx, claim, log)
		return
	case claim.Deliveries() > w.MaxDeliveries:
		log.Error("job delivered too often: dead-lettering it", "max", w.MaxDeliveries)
		run.Status, run.ExitCode = coderunner.StatusInternalError, -1
		run.Stderr = fmt.Sprintf("the run was started %d times and never finished; it was given up", claim.Deliveries()-1)
		if _, err := w.Runs.Finish(ctx, run); err != nil {
			log.Error("finish given-up run failed", "err", err)
			return
		}
		w.deadLetter(ctx, claim, "too many deliveries")
		return
	}
	if w.Metrics.QueueWait != nil && claim.Deliveries() == 1 {
		w.Metrics.QueueWait(time.Since(job.EnqueuedAt))
	}

	// Milliseconds, as every store keeps them: the stored StartedAt tells
	// this attempt from another delivery's (see superseded).
	run.Status, run.StartedAt = coderunner.StatusRunning, time.Now().UTC().Truncate(time.Millisecond)
	if ok, err := w.Runs.Store.UpdateRun(ctx, run); err != nil || !ok {
		if err != nil {
			log.Error("mark run RUNNING failed; leaving the job to be claimed again", "err", err)
		} else {
			w.ack(ctx, claim, log) // it finished meanwhile
		}
		return
	}
	// The claim is kept alive from here until the result is stored, so
	// that no other worker runs the program again meanwhile.
	attemptCtx, stopAttempt := context.WithCancel(ctx)
	defer stopAttempt()
	var claimLost atomic.Bool
	// The run as this attempt started it: run itself gets the result
	// later, while the keep-alive may still read.
	started := run
	superseded := func(ctx context.Context) bool { return w.superseded(ctx, started) }
	go w.keepAlive(attemptCtx, claim, superseded, log, func() { claimLost.Store(true); stopAttempt() })
	result, cancelled, err := w.execute(attemptCtx, run, claim.Job(), log)
	if claimLost.Load() {
		log.Warn("claim lost mid-run: another worker runs it now; dropping this attempt")
		return
	}
	if errors.Is(err, errNotStarted) {
		// The broker failed before the program ran, so the run is not at
		// fault: it is carried out again once the claim times out (and
		// ends INTERNAL_ERROR only after MaxDeliveries attempts).
		log.Warn("run could not be started; leaving the job to be claimed again", "err", err)
		return
	}
	if err != nil && !cancelled {
		if ctx.Err() != nil {
			log.Warn("run cut short by shutdown; it will be claimed again")
			return
		}
		log.Error("run could not be carried out", "err", err)
		if !errors.Is(err, errSandboxPanicked) {
			w.report(report.Event{Kind: report.RunFailed, Operation: "run", RunID: run.ID, Err: err,
				Redact: []string{run.Code, run.Stdin, result.Stdout, result.Stderr}})
		}
		result.Status, result.ExitCode = coderunner.StatusInternalError, -1
	}
	run.RunResult = result
	run.FinishedAt = time.Now().UTC()
	finish := func(ctx context.Context) (bool, error) { return w.Runs.Finish(ctx, run) }
	if !w.storeResult(attemptCtx, log, finish) {
		return
	}
	if w.Metrics.RunFinished != nil {
		w.Metrics.RunFinished(run.Status, run.FinishedAt.Sub(run.StartedAt))
	}
	if w.Metrics.ProgramCPU != nil {
		w.Metrics.ProgramCPU("run", time.Duration(run.CPUMs)*time.Millisecond)
	}
	w.ack(ctx, claim, log)
}

// storeResult records a finished run (or submission) with finish,
// retrying a failed write for up to StoreRetry: the program has run, and
// running it again (what leaving the job to be claimed again does) costs
// more than waiting for a busy or briefly unreachable store. It reports
// whether the result is in the store, by this call or another.
func (w *Worker) storeResult(ctx context.Context, log *slog.Logger, finish func(context.Context) (bool, error)) bool {
	bound := w.StoreRetry
	if bound <= 0 {
		bound = 30 * time.Second
	}
	deadline := time.Now().Add(bound)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		finished, err := finish(ctx)
		switch {
		case err == nil:
			return true
		case finished:
			// Stored: the job is done, whatever the broker said.
			log.Warn("run finished, but telling the broker failed", "err", err)
			return true
		case ctx.Err() != nil || time.Now().Add(wait).After(deadline):
			log.Error("store result failed; leaving the job to be claimed again", "err", err, "tried", bound)
			return false
		}
		log.Warn("store result failed; retrying", "err", err, "in", wait)
		sleep(ctx, wait)
	}
}

// execute runs the program, streaming its output and passing control
// messages to it. cancelled reports a cancelRun.
func (w *Worker) execute(ctx context.Context, run coderunner.Run, job coderunner.Job, log *slog.Logger) (result coderunner.RunResult, cancelled bool, err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	runID := run.ID

	if _, err := w.Runs.Broker.Publish(ctx, coderunner.RunEvent{RunID: runID, Type: coderunner.EventStarted}); err != nil {
		return coderunner.RunResult{}, false, fmt.Errorf("%w: publish STARTED: %w", errNotStarted, err)
	}
	// Control messages: input goes to the program, cancel stops it.
	var cancelledByUser atomic.Bool
	input := make(chan string, 16)
	messages, err := w.Broker.ControlMessages(ctx, runID)
	if err != nil {
		return coderunner.RunResult{}, false, fmt.Errorf("%w: listen for control messages: %w", errNotStarted, err)
	}
	sandboxCtx, stopSandbox := context.WithCancel(ctx)
	defer stopSandbox()
	go func() {
		defer w.crashing(job)
		inputOpen := true
		closeInput := func() {
			if inputOpen {
				close(input)
				inputOpen = false
			}
		}
		defer closeInput()
		for m := range messages {
			if m.Cancel {
				cancelledByUser.Store(true)
				stopSandbox()
				return
			}
			if m.Input != "" && inputOpen {
				select {
				case input <- m.Input:
				case <-sandboxCtx.Done():
					return
				}
			}
			if m.CloseInput {
				closeInput()
			}
		}
	}()

	// Output: coalesced, then published in order by one goroutine, so
	// that a slow broker never blocks the sandbox's reader.
	events := make(chan coderunner.RunEvent, 256)
	published := make(chan struct{})
	go func() {
		defer w.crashing(job)
		defer close(published)
		for e := range events {
			if _, err := w.Broker.Publish(ctx, e); err != nil {
				log.Warn("publish output failed", "err", err)
			}
		}
	}()
	co := newCoalescer(func(stream coderunner.OutputStream, text string) {
		typ := coderunner.EventStdout
		if stream == coderunner.StreamStderr {
			typ = coderunner.EventStderr
		}
		events <- coderunner.RunEvent{RunID: runID, Type: typ, Text: text}
	})

	req := run.Request()
	if run.Interactive {
		req.Input = input
	}
	result, err = w.runSandbox(sandboxCtx, job, req, co.add)
	co.close()
	close(events)
	<-published
	stop() // ends the control listener
	result.Stdout, result.Stderr = toValidUTF8([]byte(result.Stdout)), toValidUTF8([]byte(result.Stderr))
	// A cancel that came after the program had ended changes nothing.
	if cancelledByUser.Load() && result.Status == coderunner.StatusCancelled {
		return result, true, nil
	}
	if errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = fmt.Errorf("sandbox stopped unexpectedly: %w", err)
	}
	return result, false, err
}

// runSandbox is Sandbox.Run for job, with a panic of the sandbox's
// reported and turned into the error of a run that could not be carried
// out (errSandboxPanicked, which is not reported again).
func (w *Worker) runSandbox(ctx context.Context, job coderunner.Job, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (result coderunner.RunResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			e := jobEvent(report.Panic, job)
			e.Panic, e.Redact = p, []string{req.Code, req.Stdin}
			w.report(e)
			result, err = coderunner.RunResult{Status: coderunner.StatusInternalError, ExitCode: -1}, fmt.Errorf("%w: %v", errSandboxPanicked, p)
		}
	}()
	return w.Sandbox.Run(ctx, req, onOutput)
}

// errSandboxPanicked: the sandbox panicked; the run was not carried out.
var errSandboxPanicked = errors.New("the sandbox panicked")

// errNotStarted: the broker failed before the program could run.
var errNotStarted = errors.New("run not started")

// keepAlive renews the claim until ctx ends. If the broker says the claim
// is lost and the store confirms that another attempt has started or the
// run (or submission) has finished — superseded says so — it calls lost,
// which stops the attempt. Any other failure leaves the program running:
// Redis may be restarting, and the result is stored without it.
func (w *Worker) keepAlive(ctx context.Context, claim coderunner.Claim, superseded func(context.Context) bool, log *slog.Logger, lost func()) {
	defer w.crashing(claim.Job())
	t := time.NewTicker(w.KeepAliveEvery)
	defer t.Stop()
	forgotten := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := claim.KeepAlive(ctx)
			switch {
			case errors.Is(err, coderunner.ErrClaimLost):
				if superseded(ctx) {
					lost()
					return
				}
				if !forgotten {
					forgotten = true
					log.Warn("the broker no longer holds the job (did Redis restart?): the run goes on, and its result is stored")
				}
			case err != nil && ctx.Err() == nil:
				log.Warn("keep claim alive failed", "err", err)
			}
		}
	}
}

// superseded reports whether the store shows that run, started by this
// attempt, has since finished or been started by another delivery. A lost
// claim alone does not tell: a Redis that restarted without persistence
// forgets every job, and then nobody else will run this one. A store that
// cannot be read answers false: the program goes on, and Finish decides.
func (w *Worker) superseded(ctx context.Context, run coderunner.Run) bool {
	stored, err := w.Runs.Store.Run(ctx, run.ID)
	if err != nil {
		return false
	}
	return stored.Status.Finished() || !stored.StartedAt.Equal(run.StartedAt)
}

func (w *Worker) ack(ctx context.Context, claim coderunner.Claim, log *slog.Logger) {
	if err := claim.Ack(ctx); err != nil {
		log.Error("acknowledge job failed; it may run again", "err", err)
	}
}

func (w *Worker) deadLetter(ctx context.Context, claim coderunner.Claim, reason string) {
	if err := claim.DeadLetter(ctx, reason); err != nil {
		w.Log.Error("dead-letter job failed", "job", claim.Job().ID(), "err", err)
		return
	}
	e := jobEvent(report.DeadLettered, claim.Job())
	e.Message = "job dead-lettered: " + reason // reason is ours: never a user's
	w.report(e)
	if w.Metrics.DeadLettered != nil {
		w.Metrics.DeadLettered()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
