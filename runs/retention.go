package runs

import (
	"context"
	"time"

	"coderunner"
)

// DefaultRetention is how long finished runs are kept by default.
const DefaultRetention = 30 * 24 * time.Hour

// Retention deletes finished runs older than MaxAge, a batch at a time
// with a pause between batches, so that a backlog (the first pass over a
// year of runs) never holds the store for long. Submissions, their
// gradings and progress are kept: only runs, which hold a program's code,
// input and output, expire.
type Retention struct {
	Store  coderunner.RunStore
	MaxAge time.Duration
	// Batch is how many runs one delete removes at most; 0 means 500.
	Batch int
	// Pause is the wait between batches; 0 means 200 ms.
	Pause time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Deleted, if not nil, is told of each batch deleted (a metric).
	Deleted func(n int)
}

// Sweep deletes every finished run created more than MaxAge ago, in
// batches, and returns how many it deleted. It stops early, with what it
// deleted so far, when ctx ends or a delete fails.
func (r *Retention) Sweep(ctx context.Context) (int, error) {
	batch, pause := r.Batch, r.Pause
	if batch <= 0 {
		batch = 500
	}
	if pause <= 0 {
		pause = 200 * time.Millisecond
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	cutoff := now().Add(-r.MaxAge)
	total := 0
	for {
		n, err := r.Store.DeleteFinishedRuns(ctx, cutoff, batch)
		total += n
		if n > 0 && r.Deleted != nil {
			r.Deleted(n)
		}
		if err != nil || n < batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(pause):
		}
	}
}
