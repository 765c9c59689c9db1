package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"coderunner"
)

const runColumns = `id, owner, language, code, stdin, interactive, time_limit_ms, memory_mb, status, exit_code, signal,
	stdout, stderr, truncated, wall_ms, cpu_ms, memory_kb, created_at, started_at, finished_at`

// CreateRun stores a new run.
func (s *Store) CreateRun(ctx context.Context, r coderunner.Run) error {
	_, err := s.exec(ctx, `INSERT INTO runs (`+runColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		runValues(r)...)
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// Run returns the run with the given id.
func (s *Store) Run(ctx context.Context, id string) (coderunner.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return coderunner.Run{}, coderunner.ErrNoRun(id)
	}
	if err != nil {
		return coderunner.Run{}, fmt.Errorf("read run %s: %w", id, err)
	}
	return r, nil
}

// UnfinishedRuns returns runs still QUEUED or RUNNING created before t,
// after the cursor: a keyset page, so that a page costs the same wherever
// it starts (runs_unfinished indexes status, created_at).
func (s *Store) UnfinishedRuns(ctx context.Context, t time.Time, after coderunner.RunCursor, limit int) ([]coderunner.Run, error) {
	afterNanos := toNanos(after.CreatedAt)
	if after == (coderunner.RunCursor{}) {
		afterNanos = -1 // before every run, the ones without a creation time too
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE status IN (?, ?) AND created_at < ?
		AND (created_at > ? OR (created_at = ? AND id > ?))
		ORDER BY created_at, id LIMIT ?`, coderunner.StatusQueued, coderunner.StatusRunning, toNanos(t),
		afterNanos, afterNanos, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("query unfinished runs: %w", err)
	}
	defer rows.Close()
	var runs []coderunner.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("scan run: %w", err)
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

func scanRun(row interface{ Scan(...any) error }) (coderunner.Run, error) {
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
	if from = coderunner.UpdatableFrom(from); len(from) == 0 {
		return false, nil
	}
	args := append(runValues(r), r.ID)
	for _, status := range from {
		args = append(args, status)
	}
	res, err := s.exec(ctx, `UPDATE runs SET (`+runColumns+`) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		WHERE id = ? AND status IN (?`+strings.Repeat(", ?", len(from)-1)+`)`, args...)
	if err != nil {
		return false, fmt.Errorf("update run %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return n == 1, nil
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
