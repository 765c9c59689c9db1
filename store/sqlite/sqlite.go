// Package sqlite implements coderunner.Store on an embedded SQLite file
// (modernc.org/sqlite: pure Go, no cgo). It is the default store of
// `coderunner serve` when MONGODB_URI is unset.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
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
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
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

// AgeGroups returns every age group in order.
func (s *Store) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT slug, title, description, position FROM age_groups ORDER BY position, slug`)
	if err != nil {
		return nil, fmt.Errorf("query age groups: %w", err)
	}
	defer rows.Close()
	var groups []coderunner.AgeGroup
	for rows.Next() {
		var g coderunner.AgeGroup
		if err := rows.Scan(&g.Slug, &g.Title, &g.Description, &g.Position); err != nil {
			return nil, fmt.Errorf("scan age group: %w", err)
		}
		groups = append(groups, g)
	}
	return groups, rows.Err()
}

const levelColumns = `id, age_group, position, title, description, problem_count`

func scanLevels(rows *sql.Rows) ([]coderunner.Level, error) {
	defer rows.Close()
	var levels []coderunner.Level
	for rows.Next() {
		var l coderunner.Level
		if err := rows.Scan(&l.ID, &l.AgeGroup, &l.Position, &l.Title, &l.Description, &l.ProblemCount); err != nil {
			return nil, fmt.Errorf("scan level: %w", err)
		}
		levels = append(levels, l)
	}
	return levels, rows.Err()
}

// LevelsInAgeGroups returns the levels of each age group, in order.
func (s *Store) LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]coderunner.Level, error) {
	out := make(map[string][]coderunner.Level, len(slugs))
	if len(slugs) == 0 {
		return out, nil
	}
	in, args := inClause(slugs)
	rows, err := s.db.QueryContext(ctx, `SELECT `+levelColumns+` FROM levels WHERE age_group IN `+in+` ORDER BY position, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("query levels by age group: %w", err)
	}
	levels, err := scanLevels(rows)
	if err != nil {
		return nil, err
	}
	for _, l := range levels {
		out[l.AgeGroup] = append(out[l.AgeGroup], l)
	}
	return out, nil
}

// Levels returns the levels with the given ids.
func (s *Store) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	out := make(map[string]coderunner.Level, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inClause(ids)
	rows, err := s.db.QueryContext(ctx, `SELECT `+levelColumns+` FROM levels WHERE id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("query levels: %w", err)
	}
	levels, err := scanLevels(rows)
	if err != nil {
		return nil, err
	}
	for _, l := range levels {
		out[l.ID] = l
	}
	return out, nil
}

const problemColumns = `id, level_id, position, title, statement, starter_code, sample_tests, hidden_tests, time_limit_ms, memory_mb,
	reference_solution, checker, stop_on_first_failure`

func scanProblems(rows *sql.Rows) ([]coderunner.Problem, error) {
	defer rows.Close()
	var problems []coderunner.Problem
	for rows.Next() {
		var p coderunner.Problem
		var samples, hidden, checker string
		if err := rows.Scan(&p.ID, &p.LevelID, &p.Position, &p.Title, &p.Statement, &p.StarterCode,
			&samples, &hidden, &p.TimeLimitMs, &p.MemoryMB, &p.ReferenceSolution, &checker, &p.StopOnFirstFailure); err != nil {
			return nil, fmt.Errorf("scan problem: %w", err)
		}
		if err := json.Unmarshal([]byte(samples), &p.SampleTests); err != nil {
			return nil, fmt.Errorf("decode sample tests of problem %s: %w", p.ID, err)
		}
		if err := json.Unmarshal([]byte(hidden), &p.HiddenTests); err != nil {
			return nil, fmt.Errorf("decode hidden tests of problem %s: %w", p.ID, err)
		}
		if err := json.Unmarshal([]byte(checker), &p.Checker); err != nil {
			return nil, fmt.Errorf("decode checker of problem %s: %w", p.ID, err)
		}
		problems = append(problems, p)
	}
	return problems, rows.Err()
}

// ProblemsInLevels returns the problems of each level, in order.
func (s *Store) ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	out := make(map[string][]coderunner.Problem, len(levelIDs))
	if len(levelIDs) == 0 {
		return out, nil
	}
	in, args := inClause(levelIDs)
	rows, err := s.db.QueryContext(ctx, `SELECT `+problemColumns+` FROM problems WHERE level_id IN `+in+` ORDER BY position, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("query problems by level: %w", err)
	}
	problems, err := scanProblems(rows)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		out[p.LevelID] = append(out[p.LevelID], p)
	}
	return out, nil
}

// Problems returns the problems with the given ids.
func (s *Store) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	out := make(map[string]coderunner.Problem, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inClause(ids)
	rows, err := s.db.QueryContext(ctx, `SELECT `+problemColumns+` FROM problems WHERE id IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("query problems: %w", err)
	}
	problems, err := scanProblems(rows)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		out[p.ID] = p
	}
	return out, nil
}

// PutAgeGroup inserts or replaces an age group.
func (s *Store) PutAgeGroup(ctx context.Context, g coderunner.AgeGroup) error {
	if err := g.Validate(); err != nil {
		return err
	}
	_, err := s.exec(ctx, `INSERT INTO age_groups (slug, title, description, position) VALUES (?, ?, ?, ?)
		ON CONFLICT (slug) DO UPDATE SET title = excluded.title, description = excluded.description, position = excluded.position`,
		g.Slug, g.Title, g.Description, g.Position)
	if err != nil {
		return fmt.Errorf("put age group %s: %w", g.Slug, err)
	}
	return nil
}

// PutLevel inserts or replaces a level, keeping its problem count.
func (s *Store) PutLevel(ctx context.Context, l coderunner.Level) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "age_groups", "slug", l.AgeGroup, "age group"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO levels (id, age_group, position, title, description) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET age_group = excluded.age_group, position = excluded.position,
				title = excluded.title, description = excluded.description`,
			l.ID, l.AgeGroup, l.Position, l.Title, l.Description)
		if err != nil {
			return fmt.Errorf("put level %s: %w", l.ID, err)
		}
		return nil
	})
}

// PutProblem inserts or replaces a problem and updates the problem counts
// of the level it is in and, if it moved, the level it left.
func (s *Store) PutProblem(ctx context.Context, p coderunner.Problem) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.WithDefaults()
	samples, err := json.Marshal(p.SampleTests)
	if err != nil {
		return fmt.Errorf("encode sample tests: %w", err)
	}
	hidden, err := json.Marshal(p.HiddenTests)
	if err != nil {
		return fmt.Errorf("encode hidden tests: %w", err)
	}
	checker, err := json.Marshal(p.Checker)
	if err != nil {
		return fmt.Errorf("encode checker: %w", err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "levels", "id", p.LevelID, "level"); err != nil {
			return err
		}
		var oldLevel string
		err := tx.QueryRowContext(ctx, `SELECT level_id FROM problems WHERE id = ?`, p.ID).Scan(&oldLevel)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read problem %s: %w", p.ID, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO problems (`+problemColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET level_id = excluded.level_id, position = excluded.position,
				title = excluded.title, statement = excluded.statement, starter_code = excluded.starter_code,
				sample_tests = excluded.sample_tests, hidden_tests = excluded.hidden_tests,
				time_limit_ms = excluded.time_limit_ms, memory_mb = excluded.memory_mb,
				reference_solution = excluded.reference_solution, checker = excluded.checker,
				stop_on_first_failure = excluded.stop_on_first_failure`,
			p.ID, p.LevelID, p.Position, p.Title, p.Statement, p.StarterCode, string(samples), string(hidden),
			p.TimeLimitMs, p.MemoryMB, p.ReferenceSolution, string(checker), p.StopOnFirstFailure)
		if err != nil {
			return fmt.Errorf("put problem %s: %w", p.ID, err)
		}
		return recount(ctx, tx, p.LevelID, oldLevel)
	})
}

// DeleteProblem removes a problem and updates its level's problem count.
func (s *Store) DeleteProblem(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var level string
		err := tx.QueryRowContext(ctx, `DELETE FROM problems WHERE id = ? RETURNING level_id`, id).Scan(&level)
		if errors.Is(err, sql.ErrNoRows) {
			return coderunner.Errorf(coderunner.NotFound, "no problem with id %q", id)
		}
		if err != nil {
			return fmt.Errorf("delete problem %s: %w", id, err)
		}
		return recount(ctx, tx, level)
	})
}

// DeleteLevel removes a level that has no problems.
func (s *Store) DeleteLevel(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var count int
		err := tx.QueryRowContext(ctx, `SELECT problem_count FROM levels WHERE id = ?`, id).Scan(&count)
		if errors.Is(err, sql.ErrNoRows) {
			return coderunner.Errorf(coderunner.NotFound, "no level with id %q", id)
		}
		if err != nil {
			return fmt.Errorf("read level %s: %w", id, err)
		}
		if count > 0 {
			return coderunner.Errorf(coderunner.BadUserInput, "level %q still has %d problems: delete or move them first", id, count)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM levels WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete level %s: %w", id, err)
		}
		return nil
	})
}

// recount sets the problem count of each named level from its problems.
// It runs inside the writing transaction, so the count is never stale.
func recount(ctx context.Context, tx *sql.Tx, levelIDs ...string) error {
	for _, id := range levelIDs {
		if id == "" {
			continue
		}
		_, err := tx.ExecContext(ctx, `UPDATE levels SET problem_count = (SELECT COUNT(*) FROM problems WHERE level_id = ?) WHERE id = ?`, id, id)
		if err != nil {
			return fmt.Errorf("update problem count of level %s: %w", id, err)
		}
	}
	return nil
}

// mustExist returns NOT_FOUND unless table has a row whose column equals id.
// table and column are constants of this package, never user input.
func mustExist(ctx context.Context, tx *sql.Tx, table, column, id, what string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE `+column+` = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return coderunner.Errorf(coderunner.NotFound, "no %s with id %q", what, id)
	}
	if err != nil {
		return fmt.Errorf("look up %s %s: %w", what, id, err)
	}
	return nil
}
