package coderunner

import (
	"context"
	"errors"
	"time"
)

// Broker carries work and messages between api and worker processes:
// the run queue, run events, control messages to running programs, the
// quota counters every api replica shares, session revocations and
// content changes.
// broker/redis (for several processes) and broker/memory (the embedded
// default, one process) implement it and pass one conformance suite
// (broker/brokertest).
type Broker interface {
	Queue
	EventLog
	Control
	Limiter
	Revocations
	ContentChanges
	// Ping reports whether the broker can be reached.
	Ping(ctx context.Context) error
	Close() error
}

// Job asks a worker to carry out a run or to grade a submission (exactly
// one of RunID and SubmissionID is set); the run or submission itself is
// in the store.
type Job struct {
	RunID        string    `json:"runId,omitempty"`
	SubmissionID string    `json:"submissionId,omitempty"`
	EnqueuedAt   time.Time `json:"enqueuedAt"`
}

// ID is the id of the job's run or submission: the queue knows a job by
// it (Reserve, InQueue).
func (j Job) ID() string {
	if j.SubmissionID != "" {
		return j.SubmissionID
	}
	return j.RunID
}

// Queue is a work queue with at-least-once delivery: a claimed job that is
// neither acknowledged nor kept alive within the broker's claim timeout is
// delivered again, to any worker.
type Queue interface {
	// Reserve holds room in the queue for runID's job, or fails with
	// QUEUE_FULL when waiting jobs and rooms reserved already fill it as
	// far as the broker allows. A caller that must do something before
	// the job may be claimed — store its run — thereby learns whether
	// there is room before it does anything, and can refuse a run having
	// stored and published nothing. Enqueue of runID's job takes the
	// room; Unreserve gives it back; a room neither taken nor given back
	// (its caller died) frees itself after the broker's ReserveTTL.
	// Reserving a room held already renews it.
	Reserve(ctx context.Context, runID string) error
	// Unreserve gives back the room reserved for runID's job, if any.
	Unreserve(ctx context.Context, runID string) error
	// Enqueue adds a job, taking the room reserved for its run; without
	// one, it fails with QUEUE_FULL when waiting jobs and rooms reserved
	// fill the queue.
	Enqueue(ctx context.Context, job Job) error
	// Claim blocks until a job is available to consumer (a name unique to
	// the worker process) or ctx ends. Jobs whose claim has timed out are
	// delivered again before new ones.
	Claim(ctx context.Context, consumer string) (Claim, error)
	// Depth is the number of jobs waiting to be claimed.
	Depth(ctx context.Context) (int64, error)
	// OldestWaiting is how long the oldest of the jobs Depth counts has
	// been in the queue: the oldest job enqueued and not yet delivered to
	// any worker, measured by the broker's own clock (Redis's for
	// broker/redis); zero when none waits. A claimed job, even one whose
	// claim has timed out and that waits to be delivered again, does not
	// count: its worker's death shows in redeliveries and dead letters.
	OldestWaiting(ctx context.Context) (time.Duration, error)
	// InQueue reports which of runIDs have a job in the queue, waiting or
	// claimed (not yet acknowledged nor dead-lettered): those are not
	// lost, however long ago their run was made — a worker carries them
	// out in time. Runs without one are absent from the map. It reads the
	// whole queue, which holds at most MaxWaiting waiting jobs and the
	// claimed ones.
	InQueue(ctx context.Context, runIDs []string) (map[string]bool, error)
}

// Claim is a worker's hold on one delivered job.
type Claim interface {
	Job() Job
	// Deliveries counts the times the job has been delivered, this one
	// included: more than one means a worker vanished while holding it.
	Deliveries() int
	// KeepAlive renews the claim; a worker calls it periodically while the
	// run lasts, more often than the claim timeout. It fails with
	// ErrClaimLost once the job was delivered again, acknowledged or
	// dead-lettered: the worker should then stop the run.
	KeepAlive(ctx context.Context) error
	// Ack removes the job for good: call it once the result is stored. It
	// succeeds even if the claim was lost meanwhile (the result is stored,
	// so the job is done) and when the job is already gone.
	Ack(ctx context.Context) error
	// DeadLetter moves the job to the dead-letter queue, with a reason, and
	// removes it from the queue. It does nothing if the job is already gone.
	DeadLetter(ctx context.Context, reason string) error
}

// ErrClaimLost is returned by Claim.KeepAlive when the worker no longer
// holds the job: its claim timed out and the job went to another delivery,
// or it was acknowledged or dead-lettered.
var ErrClaimLost = errors.New("claim lost: the job was delivered again or is done")

// EventLog publishes run events and keeps each run's recent events in a
// bounded replay buffer that expires some time after the run's last event.
type EventLog interface {
	// Publish appends e to its run's events with the next seq (ignoring
	// e.Seq) and delivers it to the run's subscribers; it returns e as
	// numbered.
	Publish(ctx context.Context, e RunEvent) (RunEvent, error)
	// Subscribe delivers the events of runID with seq > afterSeq: first
	// those in the replay buffer, then new ones as they are published, in
	// order and each once. The channel closes after a FINISHED event (at
	// once if the buffer's FINISHED is at or before afterSeq) or when ctx
	// ends. Events the buffer no longer holds are not delivered:
	// callers that may need them check Replay first.
	Subscribe(ctx context.Context, runID string, afterSeq int64) (<-chan RunEvent, error)
	// Replay returns the events of runID with seq > afterSeq that the
	// replay buffer holds, without waiting for more.
	Replay(ctx context.Context, runID string, afterSeq int64) ([]RunEvent, error)
}

// ControlMessage is sent to the worker running a run.
type ControlMessage struct {
	// Input is text for the program's standard input.
	Input string `json:"input,omitempty"`
	// CloseInput ends the program's standard input after Input: it reads
	// end-of-file.
	CloseInput bool `json:"closeInput,omitempty"`
	// Cancel asks the worker to stop the run.
	Cancel bool `json:"cancel,omitempty"`
}

// Control carries messages to whichever worker runs a run, wherever it is.
// Messages sent before the run starts wait for it (until they expire), so
// input typed early is not lost.
type Control interface {
	// SendControl sends m; a message with Cancel is sent as CancelRun
	// sends it: once per run.
	SendControl(ctx context.Context, runID string, m ControlMessage) error
	// CancelRun sends runID a Cancel message, past the limit on unread
	// input, unless one was sent already: a cancel is sent once per run
	// (remembered as long as unread messages are kept), so that repeating
	// it cannot pile up messages. sent reports whether this call sent it.
	CancelRun(ctx context.Context, runID string) (sent bool, err error)
	// ControlMessages delivers runID's messages, in order, until ctx ends.
	ControlMessages(ctx context.Context, runID string) (<-chan ControlMessage, error)
}
