// Package runs is the life of a run as the API sees it: starting one,
// typing into it, cancelling it, and following its events. Workers
// (executor.Worker) carry runs out; both record results through Finish.
package runs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"coderunner"
	"coderunner/reap"
	"coderunner/stream"
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
	// Log receives what goes wrong without failing a call; nil means
	// slog.Default().
	Log *slog.Logger
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

// Start records a run for the caller and queues it. It returns the run,
// QUEUED, at once — or, over the caller's budget, RATE_LIMITED or
// QUOTA_EXCEEDED, or, when too many runs wait, QUEUE_FULL, having stored
// and published nothing.
//
// The order of the steps is what makes that so. The run must be stored
// before its job is queued (a worker may claim the job at once, and
// dead-letters a job whose run it cannot find), and QUEUED must be its
// first event, published before the job exists — so the queue's answer
// cannot come from Enqueue, which comes last. Start asks the queue first
// instead: Reserve holds room for the job atomically (replicas together
// hold no more than the queue allows), or refuses before anything is
// stored; Enqueue then puts the job in that room.
func (s *Service) Start(ctx context.Context, caller coderunner.Caller, language string, req coderunner.RunRequest, interactive bool) (coderunner.Run, error) {
	if language != "python" {
		return coderunner.Run{}, coderunner.Errorf(coderunner.BadUserInput, "language %q is not supported: use \"python\"", language)
	}
	req, err := req.Normalize()
	if err != nil {
		return coderunner.Run{}, err
	}
	run := coderunner.Run{
		ID: uuid.NewString(), Owner: caller.Owner(), Language: language,
		Code: req.Code, Stdin: req.Stdin, Interactive: interactive, TimeLimitMs: req.TimeLimitMs, MemoryMB: req.MemoryMB,
		CreatedAt: s.now(),
	}
	run.Status = coderunner.StatusQueued
	// Room in the queue first: a run refused QUEUE_FULL (an overload,
	// nobody's fault) must not spend its owner's budget.
	if err := s.Broker.Reserve(ctx, run.ID); err != nil {
		if coderunner.ErrorCode(err) == coderunner.QueueFull {
			return coderunner.Run{}, err
		}
		return coderunner.Run{}, fmt.Errorf("reserve room for run %s: %w", run.ID, err)
	}
	if s.Quotas != nil {
		err := s.admit(ctx, caller, run)
		if err != nil {
			s.Broker.Unreserve(context.WithoutCancel(ctx), run.ID)
			return coderunner.Run{}, err
		}
	}
	if err := s.Store.CreateRun(ctx, run); err != nil {
		s.release(run)
		return coderunner.Run{}, err
	}
	if _, err := s.Broker.Publish(ctx, coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventQueued}); err != nil {
		s.abandon(run, coderunner.StatusInternalError, "the run could not be queued")
		return coderunner.Run{}, fmt.Errorf("publish QUEUED of run %s: %w", run.ID, err)
	}
	if err := s.Broker.Enqueue(ctx, coderunner.Job{RunID: run.ID, EnqueuedAt: run.CreatedAt}); err != nil {
		// QUEUE_FULL only if the room expired first (Start took longer
		// than the broker's ReserveTTL): the run is stored by now, so it
		// is finished, that nothing waits on it.
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
// waits on it forever, and gives back its room in the queue. Errors are
// ignored: the caller is already failing.
func (s *Service) abandon(run coderunner.Run, status coderunner.RunStatus, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Broker.Unreserve(ctx, run.ID)
	run.Status, run.Stderr, run.ExitCode = status, why, -1
	s.Finish(ctx, run)
}

// admit counts the run against its caller's budget, or refuses it.
func (s *Service) admit(ctx context.Context, caller coderunner.Caller, run coderunner.Run) error {
	q, err := s.Quotas.QuotaFor(ctx, caller)
	if err != nil {
		return err
	}
	return s.Broker.AdmitRun(ctx, run.Owner, run.ID, q, run.CreatedAt)
}

// release gives back the place a run that was never stored took in its
// owner's budget (the day's and the minute's counts keep it: they count
// attempts) and its room in the queue, if it had one. Errors are ignored:
// the caller is already failing, the place frees itself after
// coderunner.MaxActiveRunLife and the room after the broker's ReserveTTL.
func (s *Service) release(run coderunner.Run) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Broker.Unreserve(ctx, run.ID)
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
	// A charge lost to a broker failure is not retried, nor does it fail
	// the finish (the run is stored): the run's place among its owner's
	// active runs frees itself after coderunner.MaxActiveRunLife, and its
	// CPU time goes uncharged.
	if err := s.Broker.EndRun(ctx, run.Owner, run.ID, time.Duration(run.CPUMs)*time.Millisecond, run.FinishedAt); err != nil {
		s.log().Warn("a finished run was not charged to its owner", "run", run.ID, "owner", run.Owner, "err", err)
	}
	// The run is final now, and this is the one chance to tell its live
	// subscribers: retry a failed publish for a while, even past ctx.
	event := coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventFinished, Run: withoutInputs(run)}
	publishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		_, err = s.Broker.Publish(publishCtx, event)
		if err == nil {
			return true, nil
		}
		select {
		case <-publishCtx.Done():
			return true, fmt.Errorf("publish FINISHED of run %s: %w", run.ID, err)
		case <-time.After(wait):
		}
	}
}

// withoutInputs is the run as FINISHED is published: its output and
// status, not its code and stdin. Those are up to MaxSourceBytes +
// MaxStdinBytes that every subscriber has already (it sent them, or read
// them with the run), and that would otherwise sit in the replay buffer
// and cross pub/sub to every api replica; Events puts them back.
func withoutInputs(run coderunner.Run) *coderunner.Run {
	run.Code, run.Stdin = "", ""
	return &run
}

// withInputs gives a published FINISHED event back the code and stdin of
// run, its run as read from the store. It copies the event's run: the
// broker may share it with other subscribers.
func withInputs(e coderunner.RunEvent, run coderunner.Run) coderunner.RunEvent {
	if e.Type != coderunner.EventFinished || e.Run == nil {
		return e
	}
	r := *e.Run
	r.Code, r.Stdin = run.Code, run.Stdin
	e.Run = &r
	return e
}

// Reap finishes, as INTERNAL_ERROR, the runs that are still QUEUED or
// RUNNING more than maxAge after they were created (and, if running,
// started) and whose job is no longer in the queue: their job was lost —
// Redis restarted without persistence, or an API process died between
// storing a run and queueing it — so that no run waits forever (see
// reap.Kind.Reap). It returns how many it finished.
func (s *Service) Reap(ctx context.Context, maxAge time.Duration) (int, error) {
	return s.reaper(maxAge).Reap(ctx, s.Broker, s.now(), maxAge)
}

// Requeue queues again the runs that were unfinished when the process
// started, for a queue that does not outlive its process (the in-memory
// broker of `serve`): after a restart they are carried out again, from the
// start, instead of waiting for Reap. Runs lost for longer than maxAge are
// given up at once, as Reap would a minute later. A run the queue has no
// room for is finished CANCELLED, as Start does. It returns how many runs
// it queued and how many it gave up.
func (s *Service) Requeue(ctx context.Context, maxAge time.Duration) (queued, gaveUp int, err error) {
	return s.reaper(maxAge).Requeue(ctx, s.Broker, s.now(), maxAge, func(run coderunner.Run) {
		s.abandon(run, coderunner.StatusCancelled, "not run: too many runs were waiting when the server restarted")
	})
}

// reaper is the runs' kind of work for package reap.
func (s *Service) reaper(maxAge time.Duration) reap.Kind[coderunner.Run] {
	return reap.Kind[coderunner.Run]{
		Unfinished: func(ctx context.Context, before time.Time, after coderunner.Run, limit int) ([]coderunner.Run, error) {
			return s.Store.UnfinishedRuns(ctx, before, after.Cursor(), limit)
		},
		Work: func(run coderunner.Run) reap.Work {
			return reap.Work{Job: coderunner.Job{RunID: run.ID}, CreatedAt: run.CreatedAt, Running: run.Status == coderunner.StatusRunning, StartedAt: run.StartedAt}
		},
		GiveUp: func(ctx context.Context, run coderunner.Run) (bool, error) {
			from := run.Status
			run.Status, run.ExitCode = coderunner.StatusInternalError, -1
			run.Stderr += fmt.Sprintf("\ncoderunner: the run was lost and did not finish within %s; please run it again\n", maxAge)
			return s.Finish(ctx, run, from)
		},
	}
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
// Published FINISHED events get the run's code and stdin back (see
// withoutInputs).
func (s *Service) Events(ctx context.Context, caller coderunner.Caller, id string, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	if afterSeq < 0 {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "afterSeq must be 0 or the seq of an event already seen")
	}
	run, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	pass := func(e coderunner.RunEvent) coderunner.RunEvent { return withInputs(e, run) }
	if !run.Status.Finished() {
		live, err := s.Broker.Subscribe(ctx, id, afterSeq)
		if err != nil {
			return nil, err
		}
		every := s.FinishCheck
		if every <= 0 {
			every = 30 * time.Second
		}
		return stream.Follow(ctx, live, afterSeq, every, s.ending(id), pass), nil
	}
	events, err := stream.Finished(ctx, s.Broker, id, afterSeq, func() []coderunner.RunEvent { return fromStore(run) })
	if err != nil {
		return nil, err
	}
	out := make(chan coderunner.RunEvent, len(events))
	for _, e := range events {
		out <- pass(e)
	}
	close(out)
	return out, nil
}

// ending reads run id from the store, for stream.Follow.
func (s *Service) ending(id string) stream.Ending {
	return func(ctx context.Context, last int64) (coderunner.RunEvent, bool) {
		run, err := s.Store.Run(ctx, id)
		if err != nil || !run.Status.Finished() {
			return coderunner.RunEvent{}, false
		}
		return coderunner.RunEvent{RunID: id, Seq: last + 1, Type: coderunner.EventFinished, Run: &run}, true
	}
}

// fromStore rebuilds a finished run's events from its stored record, to
// be numbered by stream.Finished.
func fromStore(run coderunner.Run) []coderunner.RunEvent {
	all := []coderunner.RunEvent{{Type: coderunner.EventQueued}, {Type: coderunner.EventStarted}}
	if run.Stdout != "" {
		all = append(all, coderunner.RunEvent{Type: coderunner.EventStdout, Text: run.Stdout})
	}
	if run.Stderr != "" {
		all = append(all, coderunner.RunEvent{Type: coderunner.EventStderr, Text: run.Stderr})
	}
	return append(all, coderunner.RunEvent{Type: coderunner.EventFinished, Run: &run})
}
