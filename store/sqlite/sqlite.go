// Package sqlite implements coderunner.Store on an embedded SQLite file
// (modernc.org/sqlite: pure Go, no cgo). It is the default store of
// `coderunner serve` when MONGODB_URI is unset.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	sqlitedriver "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"coderunner"
)

// busyTimeout bounds how long a write waits for the write lock before it
// fails with coderunner.ErrBusy: under a flood of writes a caller is told
// to try again soon rather than held, and a worker retries its own write.
const busyTimeout = time.Second

// Store is a coderunner.Store backed by one SQLite file.
type Store struct {
	db *sql.DB
}

var _ coderunner.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, in WAL mode, and
// applies any migrations it has not seen yet.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// busy_timeout lets concurrent writers wait for each other instead of
	// failing with SQLITE_BUSY at once, and _txlock=immediate takes the
	// write lock when a transaction begins: a transaction that reads first
	// and then writes would otherwise fail at once, busy_timeout or not,
	// when another writer got in between. WAL lets readers proceed during
	// a write.
	dsn := fmt.Sprintf("file:%s?_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate",
		path, busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrations are applied in order; PRAGMA user_version records how many
// have been applied. Append new ones; never edit an applied one.
var migrations = []string{
	`CREATE TABLE age_groups (
		slug        TEXT PRIMARY KEY,
		title       TEXT NOT NULL,
		description TEXT NOT NULL,
		position    INTEGER NOT NULL
	);
	CREATE TABLE levels (
		id            TEXT PRIMARY KEY,
		age_group     TEXT NOT NULL REFERENCES age_groups(slug),
		position      INTEGER NOT NULL,
		title         TEXT NOT NULL,
		description   TEXT NOT NULL,
		problem_count INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX levels_by_age_group ON levels(age_group, position);
	CREATE TABLE problems (
		id                 TEXT PRIMARY KEY,
		level_id           TEXT NOT NULL REFERENCES levels(id),
		position           INTEGER NOT NULL,
		title              TEXT NOT NULL,
		statement          TEXT NOT NULL,
		starter_code       TEXT NOT NULL,
		sample_tests       TEXT NOT NULL, -- JSON array of {input, output}
		hidden_tests       TEXT NOT NULL, -- JSON array of {input, output}
		time_limit_ms      INTEGER NOT NULL,
		memory_mb          INTEGER NOT NULL,
		reference_solution TEXT NOT NULL
	);
	CREATE INDEX problems_by_level ON problems(level_id, position);`,
	`CREATE TABLE runs (
		id            TEXT PRIMARY KEY,
		owner         TEXT NOT NULL,
		language      TEXT NOT NULL,
		code          TEXT NOT NULL,
		stdin         TEXT NOT NULL,
		interactive   INTEGER NOT NULL,
		time_limit_ms INTEGER NOT NULL,
		memory_mb     INTEGER NOT NULL,
		status        TEXT NOT NULL,
		exit_code     INTEGER NOT NULL,
		signal        INTEGER NOT NULL,
		stdout        TEXT NOT NULL,
		stderr        TEXT NOT NULL,
		truncated     INTEGER NOT NULL,
		wall_ms       INTEGER NOT NULL,
		cpu_ms        INTEGER NOT NULL,
		memory_kb     INTEGER NOT NULL,
		created_at    INTEGER NOT NULL, -- Unix nanoseconds; 0: not yet
		started_at    INTEGER NOT NULL,
		finished_at   INTEGER NOT NULL
	);
	CREATE INDEX runs_by_owner ON runs(owner, created_at);`,
	`CREATE INDEX runs_unfinished ON runs(status, created_at);`,
	`CREATE TABLE users (
		id            TEXT PRIMARY KEY,
		name          TEXT NOT NULL,
		name_key      TEXT NOT NULL UNIQUE, -- coderunner.NameKey(name): decides uniqueness
		role          TEXT NOT NULL,
		created_at    INTEGER NOT NULL, -- Unix nanoseconds
		quota         TEXT NOT NULL,    -- JSON coderunner.QuotaOverride
		password_hash TEXT NOT NULL
	);
	CREATE TABLE sessions (
		token_hash TEXT PRIMARY KEY,
		user_id    TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE INDEX sessions_by_expiry ON sessions(expires_at);
	CREATE TABLE role_quotas (
		role  TEXT PRIMARY KEY,
		quota TEXT NOT NULL -- JSON coderunner.QuotaOverride
	);
	CREATE TABLE audit_log (
		id          TEXT PRIMARY KEY, -- UUIDv7: orders entries by time
		actor_id    TEXT NOT NULL,
		action      TEXT NOT NULL,
		target      TEXT NOT NULL,
		before_json TEXT NOT NULL,
		after_json  TEXT NOT NULL,
		at          INTEGER NOT NULL
	);`,
	`CREATE TABLE submissions (
		id          TEXT PRIMARY KEY,
		owner       TEXT NOT NULL,
		problem_id  TEXT NOT NULL, -- no foreign key: a submission outlives its problem
		code        TEXT NOT NULL,
		grading_key TEXT NOT NULL,
		status      TEXT NOT NULL,
		verdict     TEXT NOT NULL,
		passed      INTEGER NOT NULL,
		total       INTEGER NOT NULL,
		tests       TEXT NOT NULL, -- JSON array of coderunner.TestResult
		created_at  INTEGER NOT NULL, -- Unix nanoseconds; 0: not yet
		started_at  INTEGER NOT NULL,
		finished_at INTEGER NOT NULL
	);
	CREATE INDEX submissions_by_owner ON submissions(owner, created_at DESC, id DESC);
	CREATE INDEX submissions_by_owner_problem ON submissions(owner, problem_id, created_at DESC, id DESC);
	CREATE TABLE gradings (
		key     TEXT PRIMARY KEY, -- coderunner.Grading.Key
		grading TEXT NOT NULL     -- JSON coderunner.Grading
	);
	CREATE TABLE progress (
		owner        TEXT NOT NULL,
		problem_id   TEXT NOT NULL,
		attempts     INTEGER NOT NULL,
		best_verdict TEXT NOT NULL,
		best_passed  INTEGER NOT NULL,
		total        INTEGER NOT NULL,
		solved_at    INTEGER NOT NULL, -- Unix nanoseconds; 0: not solved
		PRIMARY KEY (owner, problem_id)
	) WITHOUT ROWID;`,
	// Tests in sample_tests and hidden_tests may carry a "hint" since.
	`ALTER TABLE problems ADD COLUMN checker TEXT NOT NULL DEFAULT '{}'; -- JSON coderunner.Checker
	ALTER TABLE problems ADD COLUMN stop_on_first_failure INTEGER NOT NULL DEFAULT 0;`,
	// The reaper's read of unfinished submissions, oldest first.
	`CREATE INDEX submissions_unfinished ON submissions(status, created_at, id);`,
	// Content editing: versions (existing content is at version 1) and
	// draft problems.
	`ALTER TABLE age_groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE levels ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE problems ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE problems ADD COLUMN draft INTEGER NOT NULL DEFAULT 0;`,
	// Retention deletes the oldest finished runs first.
	`CREATE INDEX runs_by_created ON runs(created_at);`,
	// Usage: Activity reads a day's runs and submissions by creation time;
	// the roll-ups outlive them.
	`CREATE INDEX submissions_by_created ON submissions(created_at);
	CREATE TABLE usage_days (
		day  INTEGER PRIMARY KEY, -- Unix nanoseconds of the UTC midnight
		data TEXT NOT NULL        -- JSON coderunner.UsageDay
	);
	CREATE TABLE runner_usage (
		day                      INTEGER NOT NULL, -- Unix nanoseconds of the UTC midnight
		runner                   TEXT NOT NULL,
		host                     TEXT NOT NULL,
		busy_cpu_seconds         REAL NOT NULL,
		provisioned_vcpu_seconds REAL NOT NULL,
		vcpus                    INTEGER NOT NULL,
		updated_at               INTEGER NOT NULL,
		PRIMARY KEY (day, runner)
	) WITHOUT ROWID;`,
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade coderunner", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, i+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %d: %w", i+1, err)
		}
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// inTx runs fn in a transaction that holds the write lock from its start.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return busy(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return busy(err)
	}
	return busy(tx.Commit())
}

// exec runs one write outside a transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	return res, busy(err)
}

// busy marks err, if the write lock could not be had within busyTimeout,
// as coderunner.ErrBusy.
func busy(err error) error {
	var e *sqlitedriver.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY && !errors.Is(err, coderunner.ErrBusy) {
		return fmt.Errorf("%w: %w", coderunner.ErrBusy, err)
	}
	return err
}

// inClause returns "(?,?,…)" for the values and the values as []any.
func inClause[T any](values []T) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return placeholders(len(values)), args
}

// placeholders returns "(?,?,…)" with n question marks.
func placeholders(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row it returns with scan.
func queryAll[T any](ctx context.Context, s *Store, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	return queryRows(ctx, s.db, scan, query, args...)
}

// readByID scans, with scan, the row that query selects by id; notFound
// makes the error for there being none.
func readByID[T any](ctx context.Context, s *Store, scan func(rowScanner) (T, error), notFound func(string) error, query, id string) (T, error) {
	v, err := scan(s.db.QueryRowContext(ctx, query, id))
	var zero T
	if errors.Is(err, sql.ErrNoRows) {
		return zero, notFound(id)
	}
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", id, err)
	}
	return v, nil
}

// insert adds a row to table. table and columns are constants of this
// package; values are the columns' values, in order, the id first.
func (s *Store) insert(ctx context.Context, table, columns string, values []any) error {
	if _, err := s.exec(ctx, `INSERT INTO `+table+` (`+columns+`) VALUES `+placeholders(len(values)), values...); err != nil {
		return fmt.Errorf("insert %v into %s: %w", values[0], table, err)
	}
	return nil
}

// replaceIfStatus sets the columns of table's row with the given id to
// values if its status is one of from, and reports whether it did; with
// from empty it replaces nothing. The check and the write are one
// statement. table and columns are constants of this package.
func replaceIfStatus[S ~string](ctx context.Context, s *Store, table, columns string, values []any, id string, from []S) (bool, error) {
	if len(from) == 0 {
		return false, nil
	}
	in, statuses := inClause(from)
	res, err := s.exec(ctx, `UPDATE `+table+` SET (`+columns+`) = `+placeholders(len(values))+` WHERE id = ? AND status IN `+in,
		slices.Concat(values, []any{id}, statuses)...)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		return false, fmt.Errorf("update %s in %s: %w", id, table, err)
	}
	return n == 1, nil
}
