package coderunner

import (
	"context"
	"time"
)

// Run is one execution of a program a student sent: what was asked, where
// it is in its life, and, once finished, how it ended.
type Run struct {
	ID string `json:"id"`
	// Owner is the Caller.Owner of whoever started the run: a user's id,
	// or "guest:<address>".
	Owner string `json:"owner"`
	// Language is "python", the only one for now.
	Language string `json:"language"`
	Code     string `json:"code"`
	Stdin    string `json:"stdin"`
	// Interactive keeps standard input open after Stdin for text sent with
	// sendInput, until the program ends or input is closed; otherwise the
	// program reads end-of-file right after Stdin.
	Interactive bool `json:"interactive"`
	// Request holds the limits the run was given (Code and Stdin are above).
	TimeLimitMs int `json:"timeLimitMs"`
	MemoryMB    int `json:"memoryMb"`
	// RunResult holds the status (QUEUED and RUNNING included) and, once
	// finished, the outcome.
	RunResult
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

// Request is the sandbox request the run was made for.
func (r Run) Request() RunRequest {
	return RunRequest{Code: r.Code, Stdin: r.Stdin, TimeLimitMs: r.TimeLimitMs, MemoryMB: r.MemoryMB}
}

// RunEventType says what a RunEvent reports.
type RunEventType string

const (
	EventQueued   RunEventType = "QUEUED"
	EventStarted  RunEventType = "STARTED"
	EventStdout   RunEventType = "STDOUT"
	EventStderr   RunEventType = "STDERR"
	EventFinished RunEventType = "FINISHED"
	// EventTestFinished reports one graded test of a submission.
	EventTestFinished RunEventType = "TEST_FINISHED"
)

// RunEvent is one step of a run, or of a submission's grading, as its
// subscribers see it. Seq numbers the events of one run (or submission)
// 1, 2, 3, … without gaps, so a subscriber that reconnects with the last
// seq it saw misses nothing and sees nothing twice.
type RunEvent struct {
	// RunID is the id of the run — or of the submission, for a
	// submission's events: the EventLog keeps both alike.
	RunID string       `json:"runId"`
	Seq   int64        `json:"seq"`
	Type  RunEventType `json:"type"`
	// Text is the output chunk of a STDOUT or STDERR event.
	Text string `json:"text,omitempty"`
	// Run is the finished run, on a run's FINISHED only.
	Run *Run `json:"run,omitempty"`
	// Test is the graded test, on TEST_FINISHED.
	Test *TestResult `json:"test,omitempty"`
	// Submission is the finished submission, on a submission's FINISHED.
	Submission *Submission `json:"submission,omitempty"`
}

// ErrNoRun is NOT_FOUND for a run: the answer both for a run that does
// not exist and for one the caller may not see.
func ErrNoRun(id string) error {
	return Errorf(NotFound, "no run with id %q", id)
}

// RunStore keeps runs. store/sqlite and store/mongo implement it.
type RunStore interface {
	// CreateRun stores a new run.
	CreateRun(ctx context.Context, r Run) error
	// Run returns the run with the given id, or NOT_FOUND.
	Run(ctx context.Context, id string) (Run, error)
	// UpdateRun replaces a run whose stored status is one of from — QUEUED
	// or RUNNING if from is empty — and reports whether it did. A finished
	// run is final, so a late or duplicate update (a reclaimed job, a
	// cancel racing a finish) changes nothing; from narrows it further for
	// a caller deciding on a status it read (a cancel of a run still
	// QUEUED, which a worker may have started since).
	UpdateRun(ctx context.Context, r Run, from ...RunStatus) (bool, error)
	// UnfinishedRuns returns up to limit runs that are still QUEUED or
	// RUNNING and were created before the given time, oldest first (by
	// CreatedAt, then ID), starting after the cursor: a caller reads them
	// all a page at a time, with the cursor of each page's last run.
	UnfinishedRuns(ctx context.Context, createdBefore time.Time, after RunCursor, limit int) ([]Run, error)
	// DeleteFinishedRuns deletes up to limit finished runs (any status
	// but QUEUED and RUNNING) created before the given time, oldest first,
	// and returns how many it deleted: fewer than limit when no more are
	// left. Runs stored without a creation time are kept. Submissions,
	// gradings and progress are not touched. An index on the creation time
	// keeps a call's cost bounded by limit.
	DeleteFinishedRuns(ctx context.Context, createdBefore time.Time, limit int) (int, error)
}

// RunCursor is a place in the order of RunStore.UnfinishedRuns: just after
// the run created at CreatedAt with ID. The zero RunCursor is the start.
type RunCursor struct {
	CreatedAt time.Time
	ID        string
}

// Cursor is the place just after r in the order of UnfinishedRuns.
func (r Run) Cursor() RunCursor { return RunCursor{CreatedAt: r.CreatedAt, ID: r.ID} }

// UpdatableFrom returns the statuses UpdateRun may replace for its from
// argument: the unfinished ones in from, or both unfinished statuses when
// from is empty. None means UpdateRun replaces nothing.
func UpdatableFrom(from []RunStatus) []RunStatus {
	if len(from) == 0 {
		return []RunStatus{StatusQueued, StatusRunning}
	}
	var updatable []RunStatus
	for _, status := range from {
		if !status.Finished() {
			updatable = append(updatable, status)
		}
	}
	return updatable
}
