// Package runs is the life of a run as the API sees it: starting one,
// typing into it, cancelling it, and following its events. Workers
// (executor.Worker) carry runs out; both record results through Finish.
package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"coderunner"
)

// MaxInputBytes bounds one sendInput.
const MaxInputBytes = 64 << 10

// QuotaSource tells a caller's budget (accounts.Service is one).
type QuotaSource interface {
	QuotaFor(ctx context.Context, c coderunner.Caller) (coderunner.Quota, error)
}

// Service starts and follows runs. A run is its owner's: anyone else but
// an admin is answered as if it did not exist.
type Service struct {
	Store  coderunner.RunStore
	Broker coderunner.Broker
	// Quotas, if not nil, budgets every caller: a run over budget is
	// refused before anything is stored or published.
	Quotas QuotaSource
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CancelWait bounds how long Cancel waits for a running program to
	// stop, so that it can return the cancelled run; 0 means 3 s.
	CancelWait time.Duration
	// FinishCheck is how long a live subscription may go without an
	// event before it asks the store whether its run finished unseen
	// (see follow); 0 means 30 s.
	FinishCheck time.Duration
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Start records a run for the caller and queues it. It returns the run,
// QUEUED, at once — or, over the caller's budget, RATE_LIMITED or
// QUOTA_EXCEEDED, having stored nothing.
func (s *Service) Start(ctx context.Context, caller coderunner.Caller, language string, req coderunner.RunRequest, interactive bool) (coderunner.Run, error) {
	if language != "python" {
		return coderunner.Run{}, coderunner.Errorf(coderunner.BadUserInput, "language %q is not supported: use \"python\"", language)
	}
	req, err := req.Normalize()
	if err != nil {
		return coderunner.Run{}, err
	}
	id := uuid.NewString()
	if s.Quotas != nil {
		q, err := s.Quotas.QuotaFor(ctx, caller)
		if err != nil {
			return coderunner.Run{}, err
		}
		if err := s.Broker.AdmitRun(ctx, caller.Owner(), id, q, s.now()); err != nil {
			return coderunner.Run{}, err
		}
	}
	run := coderunner.Run{
		ID: id, Owner: caller.Owner(), Language: language,
		Code: req.Code, Stdin: req.Stdin, Interactive: interactive, TimeLimitMs: req.TimeLimitMs, MemoryMB: req.MemoryMB,
		CreatedAt: s.now(),
	}
	run.Status = coderunner.StatusQueued
	if err := s.Store.CreateRun(ctx, run); err != nil {
		s.release(run)
		return coderunner.Run{}, err
	}
	// QUEUED is published before the job exists, so that it is always
	// the first event: a worker may claim the job at once.
	if _, err := s.Broker.Publish(ctx, coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventQueued}); err != nil {
		s.abandon(run, coderunner.StatusInternalError, "the run could not be queued")
		return coderunner.Run{}, fmt.Errorf("publish QUEUED of run %s: %w", run.ID, err)
	}
	if err := s.Broker.Enqueue(ctx, coderunner.Job{RunID: run.ID, EnqueuedAt: run.CreatedAt}); err != nil {
		if coderunner.ErrorCode(err) == coderunner.QueueFull {
			s.abandon(run, coderunner.StatusCancelled, "not run: too many runs were waiting")
		} else {
			s.abandon(run, coderunner.StatusInternalError, "the run could not be queued")
		}
		return coderunner.Run{}, err
	}
	return run, nil
}

// abandon finishes a run that never reached the queue, so that nothing
// waits on it forever. Errors are ignored: the caller is already failing.
func (s *Service) abandon(run coderunner.Run, status coderunner.RunStatus, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	run.Status, run.Stderr, run.ExitCode = status, why, -1
	s.Finish(ctx, run)
}

// release gives back the place a run that was never stored took in its
// owner's budget. Errors are ignored: the caller is already failing, and
// the place frees itself after coderunner.MaxActiveRunLife.
func (s *Service) release(run coderunner.Run) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Broker.EndRun(ctx, run.Owner, run.ID, 0, s.now())
}

// Finish records a finished run and, if this was the update that finished
// it, charges its CPU time to its owner and publishes FINISHED. It reports
// whether it did: false means the run had finished already (cancelled, or
// finished by another worker), or its stored status is not one of from
// (see RunStore.UpdateRun), and then nothing is charged or published.
func (s *Service) Finish(ctx context.Context, run coderunner.Run, from ...coderunner.RunStatus) (bool, error) {
	if run.FinishedAt.IsZero() {
		run.FinishedAt = s.now()
	}
	ok, err := s.Store.UpdateRun(ctx, run, from...)
	if err != nil || !ok {
		return false, err
	}
	// A charge lost to a broker failure is not retried: the run's place
	// among its owner's active runs then frees itself after
	// coderunner.MaxActiveRunLife, and its CPU time goes uncharged.
	chargeErr := s.Broker.EndRun(ctx, run.Owner, run.ID, time.Duration(run.CPUMs)*time.Millisecond, run.FinishedAt)
	if chargeErr != nil {
		chargeErr = fmt.Errorf("charge run %s to %s: %w", run.ID, run.Owner, chargeErr)
	}
	// The run is final now, and this is the one chance to tell its live
	// subscribers: retry a failed publish for a while, even past ctx.
	event := coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventFinished, Run: &run}
	publishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		_, err = s.Broker.Publish(publishCtx, event)
		if err == nil {
			return true, chargeErr
		}
		select {
		case <-publishCtx.Done():
			return true, errors.Join(chargeErr, fmt.Errorf("publish FINISHED of run %s: %w", run.ID, err))
		case <-time.After(wait):
		}
	}
}

// Reap finishes, as INTERNAL_ERROR, runs that are still QUEUED or RUNNING
// more than maxAge after they were created (and, if running, started):
// their job was lost — Redis restarted without persistence, or an API
// process died between storing a run and queueing it — so that no run
// waits forever. It returns how many it finished. Several processes may
// reap at once: Finish is conditional.
func (s *Service) Reap(ctx context.Context, maxAge time.Duration) (int, error) {
	cutoff := s.now().Add(-maxAge)
	unfinished, err := s.Store.UnfinishedRuns(ctx, cutoff, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, run := range unfinished {
		if !lost(run, cutoff) {
			continue // it waited long in the queue, but a worker has it now
		}
		finished, err := s.giveUp(ctx, run, maxAge)
		if err != nil {
			return n, err
		}
		if finished {
			n++
		}
	}
	return n, nil
}

// lost reports whether an unfinished run has gone without progress since
// before cutoff: created before it and, if running, started before it.
func lost(run coderunner.Run, cutoff time.Time) bool {
	return run.CreatedAt.Before(cutoff) && !(run.Status == coderunner.StatusRunning && run.StartedAt.After(cutoff))
}

// giveUp finishes a lost run INTERNAL_ERROR, if it is still in the status
// it was read in: a worker may have claimed a queued run since.
func (s *Service) giveUp(ctx context.Context, run coderunner.Run, maxAge time.Duration) (bool, error) {
	from := run.Status
	run.Status, run.ExitCode = coderunner.StatusInternalError, -1
	run.Stderr += fmt.Sprintf("\ncoderunner: the run was lost and did not finish within %s; please run it again\n", maxAge)
	return s.Finish(ctx, run, from)
}

// maxRequeue bounds how many runs one Requeue reads; any beyond it are
// left to Reap.
const maxRequeue = 10_000

// Requeue queues again the runs that were unfinished when the process
// started, for a queue that does not outlive its process (the in-memory
// broker of `serve`): after a restart they are carried out again, from the
// start, instead of waiting for Reap. Runs lost for longer than maxAge are
// given up at once, as Reap would a minute later. A run the queue has no
// room for is finished CANCELLED, as Start does. It returns how many runs
// it queued and how many it gave up.
func (s *Service) Requeue(ctx context.Context, maxAge time.Duration) (queued, gaveUp int, err error) {
	now := s.now()
	unfinished, err := s.Store.UnfinishedRuns(ctx, now, maxRequeue)
	if err != nil {
		return 0, 0, err
	}
	for _, run := range unfinished {
		if lost(run, now.Add(-maxAge)) {
			finished, err := s.giveUp(ctx, run, maxAge)
			if err != nil {
				return queued, gaveUp, err
			}
			if finished {
				gaveUp++
			}
			continue
		}
		err := s.Broker.Enqueue(ctx, coderunner.Job{RunID: run.ID, EnqueuedAt: now})
		switch {
		case coderunner.ErrorCode(err) == coderunner.QueueFull:
			s.abandon(run, coderunner.StatusCancelled, "not run: too many runs were waiting when the server restarted")
		case err != nil:
			return queued, gaveUp, err
		default:
			queued++
		}
	}
	return queued, gaveUp, nil
}

// Get returns a run the caller may see.
func (s *Service) Get(ctx context.Context, caller coderunner.Caller, id string) (coderunner.Run, error) {
	run, err := s.Store.Run(ctx, id)
	if err == nil && !caller.CanSee(run.Owner) {
		// Exactly what the store answers for a run that does not exist.
		return coderunner.Run{}, coderunner.ErrNoRun(id)
	}
	return run, err
}

// SendInput types m.Input into an interactive run's standard input and, if
// m.CloseInput, closes it. Input sent before the program starts waits for it.
func (s *Service) SendInput(ctx context.Context, caller coderunner.Caller, id string, m coderunner.ControlMessage) error {
	if len(m.Input) > MaxInputBytes {
		return coderunner.Errorf(coderunner.BadUserInput, "input is %d bytes; send at most %d at a time", len(m.Input), MaxInputBytes)
	}
	run, err := s.Get(ctx, caller, id)
	if err != nil {
		return err
	}
	switch {
	case run.Status.Finished():
		return coderunner.Errorf(coderunner.BadUserInput, "run %s has finished (%s): it reads no more input", id, run.Status)
	case !run.Interactive:
		return coderunner.Errorf(coderunner.BadUserInput, "run %s is not interactive: its input was given up front", id)
	}
	m.Cancel = false
	return s.Broker.SendControl(ctx, id, m)
}

// Cancel stops a run. A queued run is cancelled at once; a running one is
// asked to stop, and the first Cancel waits a little for it to do so. A
// finished run, or one already asked to stop, is returned as it is.
func (s *Service) Cancel(ctx context.Context, caller coderunner.Caller, id string) (coderunner.Run, error) {
	run, err := s.Get(ctx, caller, id)
	if err != nil || run.Status.Finished() {
		return run, err
	}
	// Tell whichever worker holds it, or will: a worker that claims a
	// cancelled run's job skips it. The broker sends this once per run.
	sent, err := s.Broker.CancelRun(ctx, id)
	if err != nil {
		return coderunner.Run{}, err
	}
	if run.Status == coderunner.StatusQueued {
		// Only if it is still queued: a worker that has started it since
		// has the cancel message, and stops it.
		cancelled := run
		cancelled.Status, cancelled.ExitCode = coderunner.StatusCancelled, -1
		if _, err := s.Finish(ctx, cancelled, coderunner.StatusQueued); err != nil {
			return coderunner.Run{}, err
		}
	}
	if !sent {
		// An earlier Cancel asked already, and waits (or waited) for the
		// run to stop: repeating it holds no request.
		return s.Store.Run(ctx, id)
	}
	wait := s.CancelWait
	if wait == 0 {
		wait = 3 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		run, err = s.Store.Run(ctx, id)
		if err != nil || run.Status.Finished() || time.Now().After(deadline) {
			return run, err
		}
		select {
		case <-ctx.Done():
			return run, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Events delivers the events of a run after afterSeq, in order and each
// once, and closes after FINISHED or when ctx ends. For a run that finished
// so long ago that its replay buffer expired, it replays the run from the
// store: QUEUED, STARTED, its whole stdout, its whole stderr, FINISHED.
func (s *Service) Events(ctx context.Context, caller coderunner.Caller, id string, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	if afterSeq < 0 {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "afterSeq must be 0 or the seq of an event already seen")
	}
	run, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if !run.Status.Finished() {
		live, err := s.Broker.Subscribe(ctx, id, afterSeq)
		if err != nil {
			return nil, err
		}
		return s.follow(ctx, id, afterSeq, live), nil
	}
	events, err := s.replay(ctx, run, afterSeq)
	if err != nil {
		return nil, err
	}
	out := make(chan coderunner.RunEvent, len(events))
	for _, e := range events {
		out <- e
	}
	close(out)
	return out, nil
}

// replay returns a finished run's events after afterSeq: from the buffer
// if it holds all of them, else rebuilt from the store. A client that has
// seen FINISHED (afterSeq is its seq) gets nothing more.
func (s *Service) replay(ctx context.Context, run coderunner.Run, afterSeq int64) ([]coderunner.RunEvent, error) {
	// Read from the event at afterSeq, to tell whether it was FINISHED.
	events, err := s.Broker.Replay(ctx, run.ID, max(afterSeq-1, 0))
	if err != nil {
		return nil, err
	}
	if afterSeq > 0 && len(events) > 0 && events[0].Seq == afterSeq {
		if events[0].Type == coderunner.EventFinished {
			return nil, nil
		}
		events = events[1:]
	}
	// Nothing counts after FINISHED (a worker that lost a race with a
	// cancel may still have published output).
	if i := slices.IndexFunc(events, isFinished); i >= 0 {
		events = events[:i+1]
	}
	if n := len(events); n == 0 || events[0].Seq != afterSeq+1 || events[n-1].Type != coderunner.EventFinished {
		events = fromStore(run, afterSeq)
	}
	return events, nil
}

func isFinished(e coderunner.RunEvent) bool { return e.Type == coderunner.EventFinished }

// follow passes a live run's events on until FINISHED, and makes sure the
// subscription ends with FINISHED once the run has finished even when the
// broker never delivers it: its publish failed for longer than Finish
// retries, Redis lost the run's events, or the process holding the
// in-memory broker restarted. It asks the store when the broker closes the
// subscription without FINISHED, and whenever no event came for
// FinishCheck: a run found finished at two such checks in a row is ended
// from the store. A chatty run costs no store read.
func (s *Service) follow(ctx context.Context, id string, afterSeq int64, live <-chan coderunner.RunEvent) <-chan coderunner.RunEvent {
	every := s.FinishCheck
	if every <= 0 {
		every = 30 * time.Second
	}
	out := make(chan coderunner.RunEvent)
	go func() {
		defer close(out)
		last := afterSeq
		quiet := time.NewTimer(every)
		defer quiet.Stop()
		finishedBefore := false
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-live:
				if !ok {
					if ctx.Err() == nil {
						s.endFromStore(ctx, id, last, out)
					}
					return
				}
				send(ctx, out, e)
				if last = e.Seq; e.Type == coderunner.EventFinished {
					return
				}
				quiet.Reset(every)
				finishedBefore = false
			case <-quiet.C:
				run, err := s.Store.Run(ctx, id)
				finished := err == nil && run.Status.Finished()
				if finished && finishedBefore {
					send(ctx, out, finishedEvent(run, last))
					return
				}
				finishedBefore = finished
				quiet.Reset(every)
			}
		}
	}()
	return out
}

// endFromStore sends FINISHED from the store after seq last, if the run
// has finished.
func (s *Service) endFromStore(ctx context.Context, id string, last int64, out chan<- coderunner.RunEvent) {
	if run, err := s.Store.Run(ctx, id); err == nil && run.Status.Finished() {
		send(ctx, out, finishedEvent(run, last))
	}
}

func send(ctx context.Context, out chan<- coderunner.RunEvent, e coderunner.RunEvent) {
	select {
	case out <- e:
	case <-ctx.Done():
	}
}

func finishedEvent(run coderunner.Run, last int64) coderunner.RunEvent {
	return coderunner.RunEvent{RunID: run.ID, Seq: last + 1, Type: coderunner.EventFinished, Run: &run}
}

// fromStore rebuilds a finished run's events from its stored record.
func fromStore(run coderunner.Run, afterSeq int64) []coderunner.RunEvent {
	all := []coderunner.RunEvent{{Type: coderunner.EventQueued}, {Type: coderunner.EventStarted}}
	if run.Stdout != "" {
		all = append(all, coderunner.RunEvent{Type: coderunner.EventStdout, Text: run.Stdout})
	}
	if run.Stderr != "" {
		all = append(all, coderunner.RunEvent{Type: coderunner.EventStderr, Text: run.Stderr})
	}
	all = append(all, coderunner.RunEvent{Type: coderunner.EventFinished, Run: &run})
	var out []coderunner.RunEvent
	for i, e := range all {
		e.RunID, e.Seq = run.ID, int64(i+1)
		if e.Type == coderunner.EventFinished {
			// Whatever seq the client saw last, it gets the ending.
			e.Seq = max(e.Seq, afterSeq+1)
		}
		if e.Seq > afterSeq {
			out = append(out, e)
		}
	}
	return out
}
