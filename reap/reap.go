// Package reap makes sure that no run or submission waits forever for a
// job that was lost: Redis restarted without persistence, an API process
// died between storing one and queueing its job, or `serve` restarted
// with its in-memory queue. runs.Service and submissions.Service reap
// with it; the store is read and the work given up or queued again
// through the functions they pass (a Kind).
package reap

import (
	"context"
	"fmt"
	"time"

	"coderunner"
)

// Work is what the reaper needs to know of an unfinished run or
// submission.
type Work struct {
	// Job is its job, as queued (without EnqueuedAt).
	Job       coderunner.Job
	CreatedAt time.Time
	// Running: it has started; StartedAt is when its latest attempt did.
	Running   bool
	StartedAt time.Time
}

// Stale reports whether w has gone without progress since before cutoff:
// created before it and, if running, started before it.
func (w Work) Stale(cutoff time.Time) bool {
	return w.CreatedAt.Before(cutoff) && !(w.Running && w.StartedAt.After(cutoff))
}

// Kind is one kind of work, T: a run or a submission.
type Kind[T any] struct {
	// Unfinished returns up to limit items that are still queued or
	// running and were created before the given time, oldest first,
	// starting just after the item after; the zero T is the start.
	Unfinished func(ctx context.Context, createdBefore time.Time, after T, limit int) ([]T, error)
	// Work tells what the reaper needs of an item.
	Work func(T) Work
	// GiveUp finishes a lost item INTERNAL_ERROR if it is still in the
	// status it was read in (a worker may have claimed a queued one
	// since), and reports whether it did.
	GiveUp func(ctx context.Context, item T) (bool, error)
}

// page is how many items Reap and Requeue read at a time. Items are read
// whole (their stores replace them whole), a run up to MaxSourceBytes +
// MaxStdinBytes: the page bounds what is held at once.
const page = 50

// each calls f with every page of the items unfinished and created before
// createdBefore, until f fails.
func (k Kind[T]) each(ctx context.Context, createdBefore time.Time, f func([]T) error) error {
	var after T
	for {
		items, err := k.Unfinished(ctx, createdBefore, after, page)
		if err != nil {
			return err
		}
		if err := f(items); err != nil || len(items) < page {
			return err
		}
		after = items[len(items)-1]
	}
}

// Reap finishes, INTERNAL_ERROR, the items still queued or running more
// than maxAge before now (and, if running, started that long ago) whose
// job is no longer in q: their job was lost. An item whose job still
// waits, however long the queue, or is still claimed, is not lost: a
// worker carries it out (or dead-letters it) in time. Reap reads every
// stale item, a page at a time, and returns how many it finished. Several
// processes may reap at once: GiveUp is conditional.
func (k Kind[T]) Reap(ctx context.Context, q coderunner.Queue, now time.Time, maxAge time.Duration) (int, error) {
	cutoff := now.Add(-maxAge)
	n := 0
	err := k.each(ctx, cutoff, func(items []T) error {
		var stale []T
		var ids []string
		for _, item := range items {
			if w := k.Work(item); w.Stale(cutoff) {
				stale, ids = append(stale, item), append(ids, w.Job.ID())
			}
		}
		if len(stale) == 0 {
			return nil
		}
		// A job acknowledged after this read belongs to an item finished
		// by now, which GiveUp leaves alone.
		queued, err := q.InQueue(ctx, ids)
		if err != nil {
			return fmt.Errorf("look for the jobs of stale work: %w", err)
		}
		for i, item := range stale {
			if queued[ids[i]] {
				continue // it waits in a long queue, or a worker holds it
			}
			finished, err := k.GiveUp(ctx, item)
			if err != nil {
				return err
			}
			if finished {
				n++
			}
		}
		return nil
	})
	return n, err
}

// Requeue queues again in q the jobs of the items that were unfinished
// at now, for a queue that does not outlive its process (the in-memory
// broker of `serve`): after a restart they are carried out again instead
// of waiting for Reap. Items lost for longer than maxAge are given up at
// once, as Reap would a minute later. An item whose job q has no room
// for is passed to refused, which finishes it; it counts as neither
// queued nor given up.
func (k Kind[T]) Requeue(ctx context.Context, q coderunner.Queue, now time.Time, maxAge time.Duration, refused func(T)) (queued, gaveUp int, err error) {
	cutoff := now.Add(-maxAge)
	err = k.each(ctx, now, func(items []T) error {
		for _, item := range items {
			w := k.Work(item)
			if w.Stale(cutoff) {
				finished, err := k.GiveUp(ctx, item)
				if err != nil {
					return err
				}
				if finished {
					gaveUp++
				}
				continue
			}
			job := w.Job
			job.EnqueuedAt = now
			switch err := q.Enqueue(ctx, job); {
			case coderunner.ErrorCode(err) == coderunner.QueueFull:
				refused(item)
			case err != nil:
				return err
			default:
				queued++
			}
		}
		return nil
	})
	return queued, gaveUp, err
}
