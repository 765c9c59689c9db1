// Package runs is the life of a run as the API sees it: starting one,
// typing into it, cancelling it, and following its events. Workers
// (executor.Worker) carry runs out; both record results through Finish.
package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"coderunner"
)

// MaxInputBytes bounds one sendInput.
const MaxInputBytes = 64 << 10

// Service starts and follows runs.
type Service struct {
	Store  coderunner.RunStore
	Broker coderunner.Broker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CancelWait bounds how long Cancel waits for a running program to
	// stop, so that it can return the cancelled run; 0 means 3 s.
	CancelWait time.Duration
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Start records a run and queues it. It returns the run, QUEUED, at once.
func (s *Service) Start(ctx context.Context, owner, language string, req coderunner.RunRequest, interactive bool) (coderunner.Run, error) {
	if language != "python" {
		return coderunner.Run{}, coderunner.Errorf(coderunner.BadUserInput, "language %q is not supported: use \"python\"", language)
	}
	req, err := req.Normalize()
	if err != nil {
		return coderunner.Run{}, err
	}
	run := coderunner.Run{
		ID: uuid.NewString(), Owner: owner, Language: language,
		Code: req.Code, Stdin: req.Stdin, Interactive: interactive, TimeLimitMs: req.TimeLimitMs, MemoryMB: req.MemoryMB,
		CreatedAt: s.now(),
	}
	run.Status = coderunner.StatusQueued
	if err := s.Store.CreateRun(ctx, run); err != nil {
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

// Finish records a finished run and, if this was the update that finished
// it, publishes FINISHED. It reports whether it did: false means the run had
// finished already (cancelled, or finished by another worker), and then
// nothing is published.
func (s *Service) Finish(ctx context.Context, run coderunner.Run) (bool, error) {
	if run.FinishedAt.IsZero() {
		run.FinishedAt = s.now()
	}
	ok, err := s.Store.UpdateRun(ctx, run)
	if err != nil || !ok {
		return false, err
	}
	// The run is final now, and this is the one chance to tell its live
	// subscribers: retry a failed publish for a while, even past ctx.
	event := coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventFinished, Run: &run}
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

// Reap finishes, as INTERNAL_ERROR, runs that are still QUEUED or RUNNING
// more than maxAge after they were created: their job was lost — Redis
// restarted without persistence, or an API process died between storing a
// run and queueing it — so that no run waits forever. It returns how many
// it finished. Several processes may reap at once: Finish is conditional.
func (s *Service) Reap(ctx context.Context, maxAge time.Duration) (int, error) {
	cutoff := s.now().Add(-maxAge)
	stale, err := s.Store.UnfinishedRuns(ctx, cutoff, 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, run := range stale {
		if run.Status == coderunner.StatusRunning && run.StartedAt.After(cutoff) {
			continue // it waited long in the queue, but a worker has it now
		}
		run.Status, run.ExitCode = coderunner.StatusInternalError, -1
		run.Stderr += fmt.Sprintf("\ncoderunner: the run was lost and did not finish within %s; please run it again\n", maxAge)
		finished, err := s.Finish(ctx, run)
		if err != nil {
			return n, err
		}
		if finished {
			n++
		}
	}
	return n, nil
}

// Get returns a run.
func (s *Service) Get(ctx context.Context, id string) (coderunner.Run, error) {
	return s.Store.Run(ctx, id)
}

// SendInput types m.Input into an interactive run's standard input and, if
// m.CloseInput, closes it. Input sent before the program starts waits for it.
func (s *Service) SendInput(ctx context.Context, id string, m coderunner.ControlMessage) error {
	if len(m.Input) > MaxInputBytes {
		return coderunner.Errorf(coderunner.BadUserInput, "input is %d bytes; send at most %d at a time", len(m.Input), MaxInputBytes)
	}
	run, err := s.Store.Run(ctx, id)
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
// asked to stop, and Cancel waits a little for it to do so. A finished run
// is returned as it is.
func (s *Service) Cancel(ctx context.Context, id string) (coderunner.Run, error) {
	run, err := s.Store.Run(ctx, id)
	if err != nil || run.Status.Finished() {
		return run, err
	}
	// Tell whichever worker holds it, or will: a worker that claims a
	// cancelled run's job skips it.
	if err := s.Broker.SendControl(ctx, id, coderunner.ControlMessage{Cancel: true}); err != nil {
		return coderunner.Run{}, err
	}
	if run.Status == coderunner.StatusQueued {
		cancelled := run
		cancelled.Status, cancelled.ExitCode = coderunner.StatusCancelled, -1
		if _, err := s.Finish(ctx, cancelled); err != nil {
			return coderunner.Run{}, err
		}
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
func (s *Service) Events(ctx context.Context, id string, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	if afterSeq < 0 {
		return nil, coderunner.Errorf(coderunner.BadUserInput, "afterSeq must be 0 or the seq of an event already seen")
	}
	run, err := s.Store.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	if !run.Status.Finished() {
		return s.Broker.Subscribe(ctx, id, afterSeq)
	}
	events, err := s.Broker.Replay(ctx, id, afterSeq)
	if err != nil {
		return nil, err
	}
	// The buffer must hold everything after afterSeq, ending in FINISHED;
	// if it has expired or dropped the start, the store answers.
	if n := len(events); n == 0 || events[0].Seq != afterSeq+1 || events[n-1].Type != coderunner.EventFinished {
		events = fromStore(run, afterSeq)
	}
	out := make(chan coderunner.RunEvent, len(events))
	for _, e := range events {
		out <- e
	}
	close(out)
	return out, nil
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
