package sqlite

import (
	"context"
	"fmt"
	"time"

	"coderunner"
)

const runColumns = `id, owner, language, code, stdin, interactive, time_limit_ms, memory_mb, status, exit_code, signal,
	stdout, stderr, truncated, wall_ms, cpu_ms, memory_kb, created_at, started_at, finished_at`

// CreateRun stores a new run.
func (s *Store) CreateRun(ctx context.Context, r coderunner.Run) error {
	return s.insert(ctx, "runs", runColumns, runValues(r))
}

// Run returns the run with the given id.
func (s *Store) Run(ctx context.Context, id string) (coderunner.Run, error) {
	return readByID(ctx, s, scanRun, coderunner.ErrNoRun, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id)
}

// UnfinishedRuns returns runs still QUEUED or RUNNING created before t,
// after the cursor (runs_unfinished indexes status, created_at).
func (s *Store) UnfinishedRuns(ctx context.Context, t time.Time, after coderunner.RunCursor, limit int) ([]coderunner.Run, error) {
	return unfinished(ctx, s, scanRun, "runs", runColumns, []coderunner.RunStatus{coderunner.StatusQueued, coderunner.StatusRunning},
		t, after.CreatedAt, after.ID, limit)
}

// DeleteFinishedRuns deletes up to limit finished runs created before t,
// oldest first (runs_by_created indexes created_at).
func (s *Store) DeleteFinishedRuns(ctx context.Context, t time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE id IN (
		SELECT id FROM runs INDEXED BY runs_by_created
		WHERE created_at > 0 AND created_at < ? AND status NOT IN (?, ?)
		ORDER BY created_at LIMIT ?)`,
		toNanos(t), coderunner.StatusQueued, coderunner.StatusRunning, limit)
	if err != nil {
		return 0, fmt.Errorf("delete finished runs: %w", busy(err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// unfinished returns up to limit rows of table whose status is one of
// statuses, created before t, oldest first (by created_at, then id), after
// the row created at afterCreated with afterID (from the start when both
// are zero): a keyset page, so that a page costs the same wherever it
// starts.
func unfinished[T any, S ~string](ctx context.Context, s *Store, scan func(rowScanner) (T, error), table, columns string, statuses []S,
	t, afterCreated time.Time, afterID string, limit int) ([]T, error) {
	if limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as no limit at all
	}
	afterNanos := toNanos(afterCreated)
	if afterCreated.IsZero() && afterID == "" {
		afterNanos = -1 // before every row, the ones without a creation time too
	}
	in, args := inClause(statuses)
	rows, err := queryAll(ctx, s, scan, `SELECT `+columns+` FROM `+table+` WHERE status IN `+in+` AND created_at < ?
		AND (created_at > ? OR (created_at = ? AND id > ?))
		ORDER BY created_at, id LIMIT ?`, append(args, toNanos(t), afterNanos, afterNanos, afterID, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query unfinished %s: %w", table, err)
	}
	return rows, nil
}

func scanRun(row rowScanner) (coderunner.Run, error) {
	var r coderunner.Run
	var created, started, finished int64
	err := row.Scan(&r.ID, &r.Owner, &r.Language, &r.Code, &r.Stdin, &r.Interactive, &r.TimeLimitMs, &r.MemoryMB,
		&r.Status, &r.ExitCode, &r.Signal, &r.Stdout, &r.Stderr, &r.Truncated, &r.WallMs, &r.CPUMs, &r.MemoryKB,
		&created, &started, &finished)
	r.CreatedAt, r.StartedAt, r.FinishedAt = fromNanos(created), fromNanos(started), fromNanos(finished)
	return r, err
}

// UpdateRun replaces a run that has not finished.
func (s *Store) UpdateRun(ctx context.Context, r coderunner.Run, from ...coderunner.RunStatus) (bool, error) {
	return replaceIfStatus(ctx, s, "runs", runColumns, runValues(r), r.ID, coderunner.UpdatableFrom(from))
}

func runValues(r coderunner.Run) []any {
	return []any{r.ID, r.Owner, r.Language, r.Code, r.Stdin, r.Interactive, r.TimeLimitMs, r.MemoryMB, r.Status, r.ExitCode, r.Signal,
		r.Stdout, r.Stderr, r.Truncated, r.WallMs, r.CPUMs, r.MemoryKB,
		toNanos(r.CreatedAt), toNanos(r.StartedAt), toNanos(r.FinishedAt)}
}

// Times are stored as Unix nanoseconds, 0 for the zero time.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
