package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"coderunner"
)

// activityQuery selects what Activity needs of the finished runs and
// submissions created in [?1, ?2), found by the created_at indexes, so
// that reading a day costs the same however many days are kept. A
// submission's CPU time and test count are taken from its tests' JSON in
// SQLite: the tests' inputs and outputs are never copied out. Rows without
// a creation time (0) are left out by ?1 ≥ 1.
const activityQuery = `
	SELECT 0, owner, created_at, started_at, finished_at, cpu_ms, 0
	FROM runs INDEXED BY runs_by_created
	WHERE created_at >= ?1 AND created_at < ?2 AND status NOT IN (?3, ?4)
	UNION ALL
	SELECT 1, owner, created_at, started_at, finished_at,
		(SELECT coalesce(sum(json_extract(value, '$.cpuMs')), 0) FROM json_each(tests)), json_array_length(tests)
	FROM submissions INDEXED BY submissions_by_created
	WHERE created_at >= ?1 AND created_at < ?2 AND status NOT IN (?5, ?6)`

// Activity calls fn for every finished run and submission created in
// [from, to), as the rows are read: memory stays bounded, however many.
func (s *Store) Activity(ctx context.Context, from, to time.Time, fn func(coderunner.Activity) error) error {
	rows, err := s.db.QueryContext(ctx, activityQuery, max(toNanos(from), 1), toNanos(to),
		coderunner.StatusQueued, coderunner.StatusRunning, coderunner.SubmissionQueued, coderunner.SubmissionRunning)
	if err != nil {
		return fmt.Errorf("query activity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a coderunner.Activity
		var created, started, finished int64
		if err := rows.Scan(&a.Submission, &a.Owner, &created, &started, &finished, &a.CPUMs, &a.Tests); err != nil {
			return fmt.Errorf("read activity: %w", err)
		}
		a.CreatedAt, a.StartedAt, a.FinishedAt = fromNanos(created), fromNanos(started), fromNanos(finished)
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read activity: %w", err)
	}
	return nil
}

// SaveUsageDay inserts or replaces the roll-up of d's UTC day, kept as
// JSON: the histograms' and the sketch's own form.
func (s *Store) SaveUsageDay(ctx context.Context, d coderunner.UsageDay) error {
	d.Day, d.MadeAt = coderunner.DayOf(d.Day), d.MadeAt.UTC()
	data, err := json.Marshal(d)
	if err == nil {
		_, err = s.exec(ctx, `INSERT OR REPLACE INTO usage_days (day, data) VALUES (?, ?)`, toNanos(d.Day), string(data))
	}
	if err != nil {
		return fmt.Errorf("save usage of %s: %w", d.Day.Format(time.DateOnly), err)
	}
	return nil
}

// UsageDays returns the roll-ups of the days in [from, to), oldest first.
func (s *Store) UsageDays(ctx context.Context, from, to time.Time) ([]coderunner.UsageDay, error) {
	days, err := queryAll(ctx, s, scanJSON[coderunner.UsageDay], `SELECT data FROM usage_days WHERE day >= ? AND day < ? ORDER BY day`,
		toNanos(from), toNanos(to))
	if err != nil {
		return nil, fmt.Errorf("query usage days: %w", err)
	}
	return days, nil
}

const runnerUsageColumns = `day, runner, host, busy_cpu_seconds, provisioned_vcpu_seconds, vcpus, updated_at`

// SaveRunnerUsage inserts or replaces u, by its UTC day and runner.
func (s *Store) SaveRunnerUsage(ctx context.Context, u coderunner.RunnerUsage) error {
	day := coderunner.DayOf(u.Day)
	_, err := s.exec(ctx, `INSERT OR REPLACE INTO runner_usage (`+runnerUsageColumns+`) VALUES `+placeholders(7),
		toNanos(day), u.Runner, u.Host, u.BusyCPUSeconds, u.ProvisionedVCPUSeconds, u.VCPUs, toNanos(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("save usage of runner %s on %s: %w", u.Runner, day.Format(time.DateOnly), err)
	}
	return nil
}

// RunnerUsage returns the runner figures of the days in [from, to), by
// day, then runner (the primary key's order).
func (s *Store) RunnerUsage(ctx context.Context, from, to time.Time) ([]coderunner.RunnerUsage, error) {
	usage, err := queryAll(ctx, s, scanRunnerUsage, `SELECT `+runnerUsageColumns+` FROM runner_usage
		WHERE day >= ? AND day < ? ORDER BY day, runner`, toNanos(from), toNanos(to))
	if err != nil {
		return nil, fmt.Errorf("query runner usage: %w", err)
	}
	return usage, nil
}

func scanRunnerUsage(row rowScanner) (coderunner.RunnerUsage, error) {
	var u coderunner.RunnerUsage
	var day, updated int64
	err := row.Scan(&day, &u.Runner, &u.Host, &u.BusyCPUSeconds, &u.ProvisionedVCPUSeconds, &u.VCPUs, &updated)
	u.Day, u.UpdatedAt = fromNanos(day), fromNanos(updated)
	return u, err
}
