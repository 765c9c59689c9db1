package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"coderunner"
)

// The curriculum. Every write is one transaction that takes the write lock
// when it begins (_txlock=immediate), so a write reads what it changes —
// versions, a parent's children — with no other write in between: version
// checks, appends at n+1 and renumbering cannot race. Each structural write
// renumbers the parents it touches from their stored order, so positions
// are dense 1..n afterwards even if puts left them otherwise.

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// queryRows runs a query on q and scans every row with scan.
func queryRows[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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

const ageGroupColumns = `slug, title, description, position, version`

func scanAgeGroup(r rowScanner) (coderunner.AgeGroup, error) {
	var g coderunner.AgeGroup
	err := r.Scan(&g.Slug, &g.Title, &g.Description, &g.Position, &g.Version)
	return g, err
}

const levelColumns = `id, age_group, position, title, description, problem_count, version`

func scanLevel(r rowScanner) (coderunner.Level, error) {
	var l coderunner.Level
	err := r.Scan(&l.ID, &l.AgeGroup, &l.Position, &l.Title, &l.Description, &l.ProblemCount, &l.Version)
	return l, err
}

const problemColumns = `id, level_id, position, title, statement, starter_code, sample_tests, hidden_tests, time_limit_ms, memory_mb,
	reference_solution, checker, stop_on_first_failure, draft, version`

func scanProblem(r rowScanner) (coderunner.Problem, error) {
	var p coderunner.Problem
	var samples, hidden, checker string
	if err := r.Scan(&p.ID, &p.LevelID, &p.Position, &p.Title, &p.Statement, &p.StarterCode,
		&samples, &hidden, &p.TimeLimitMs, &p.MemoryMB, &p.ReferenceSolution, &checker, &p.StopOnFirstFailure,
		&p.Draft, &p.Version); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(samples), &p.SampleTests); err != nil {
		return p, fmt.Errorf("decode sample tests of problem %s: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(hidden), &p.HiddenTests); err != nil {
		return p, fmt.Errorf("decode hidden tests of problem %s: %w", p.ID, err)
	}
	if err := json.Unmarshal([]byte(checker), &p.Checker); err != nil {
		return p, fmt.Errorf("decode checker of problem %s: %w", p.ID, err)
	}
	return p, nil
}

// AgeGroups returns every age group in order.
func (s *Store) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	groups, err := queryRows(ctx, s.db, scanAgeGroup, `SELECT `+ageGroupColumns+` FROM age_groups ORDER BY position, slug`)
	if err != nil {
		return nil, fmt.Errorf("query age groups: %w", err)
	}
	return groups, nil
}

// byKey runs query, whose one "%s" is an IN clause for keys, and groups
// the rows by key(row). With list, the rows are ordered as query orders
// them.
func byKey[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, keys []string, key func(T) string) (map[string][]T, error) {
	out := make(map[string][]T, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	in, args := inClause(keys)
	rows, err := queryRows(ctx, q, scan, fmt.Sprintf(query, in), args...)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[key(r)] = append(out[key(r)], r)
	}
	return out, nil
}

// single flattens a map of lists keyed by unique ids.
func single[T any](m map[string][]T, err error) (map[string]T, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[string]T, len(m))
	for k, v := range m {
		out[k] = v[0]
	}
	return out, nil
}

func levelAgeGroup(l coderunner.Level) string  { return l.AgeGroup }
func levelID(l coderunner.Level) string        { return l.ID }
func problemLevel(p coderunner.Problem) string { return p.LevelID }
func problemID(p coderunner.Problem) string    { return p.ID }

// LevelsInAgeGroups returns the levels of each age group, in order.
func (s *Store) LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]coderunner.Level, error) {
	out, err := byKey(ctx, s.db, scanLevel, `SELECT `+levelColumns+` FROM levels WHERE age_group IN %s ORDER BY position, id`, slugs, levelAgeGroup)
	if err != nil {
		return nil, fmt.Errorf("query levels by age group: %w", err)
	}
	return out, nil
}

// Levels returns the levels with the given ids.
func (s *Store) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	out, err := single(byKey(ctx, s.db, scanLevel, `SELECT `+levelColumns+` FROM levels WHERE id IN %s`, ids, levelID))
	if err != nil {
		return nil, fmt.Errorf("query levels: %w", err)
	}
	return out, nil
}

// published is the condition on problems students may see.
const published = ` AND draft = 0`

// problemsIn returns the problems of each level, in order; drafts only if
// drafts.
func (s *Store) problemsIn(ctx context.Context, levelIDs []string, drafts bool) (map[string][]coderunner.Problem, error) {
	query := `SELECT ` + problemColumns + ` FROM problems WHERE level_id IN %s`
	if !drafts {
		query += published
	}
	out, err := byKey(ctx, s.db, scanProblem, query+` ORDER BY position, id`, levelIDs, problemLevel)
	if err != nil {
		return nil, fmt.Errorf("query problems by level: %w", err)
	}
	return out, nil
}

// ProblemsInLevels returns the published problems of each level, in order.
func (s *Store) ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	return s.problemsIn(ctx, levelIDs, false)
}

// ProblemsForEditing returns the problems of each level, drafts included.
func (s *Store) ProblemsForEditing(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	return s.problemsIn(ctx, levelIDs, true)
}

// Problems returns the published problems with the given ids.
func (s *Store) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	out, err := single(byKey(ctx, s.db, scanProblem, `SELECT `+problemColumns+` FROM problems WHERE id IN %s`+published, ids, problemID))
	if err != nil {
		return nil, fmt.Errorf("query problems: %w", err)
	}
	return out, nil
}

// ProblemForEditing returns a problem, draft or not.
func (s *Store) ProblemForEditing(ctx context.Context, id string) (coderunner.Problem, error) {
	return getProblem(ctx, s.db, id)
}

// Reads inside a write.

func notFound(what string) func(string) error {
	return func(id string) error { return coderunner.Errorf(coderunner.NotFound, "no %s with id %q", what, id) }
}

// getOne reads the row of table whose key is id; NOT_FOUND names what.
func getOne[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), columns, table, key, what, id string) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM `+table+` WHERE `+key+` = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, notFound(what)(id)
	}
	if err != nil {
		return v, fmt.Errorf("read %s %s: %w", what, id, err)
	}
	return v, nil
}

func getAgeGroup(ctx context.Context, q querier, slug string) (coderunner.AgeGroup, error) {
	return getOne(ctx, q, scanAgeGroup, ageGroupColumns, "age_groups", "slug", "age group", slug)
}

func getLevel(ctx context.Context, q querier, id string) (coderunner.Level, error) {
	return getOne(ctx, q, scanLevel, levelColumns, "levels", "id", "level", id)
}

func getProblem(ctx context.Context, q querier, id string) (coderunner.Problem, error) {
	return getOne(ctx, q, scanProblem, problemColumns, "problems", "id", "problem", id)
}

// lookUp is get that tells "there is none" (ok false) from failure.
func lookUp[T any](v T, err error) (T, bool, error) {
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return v, false, nil
	}
	return v, err == nil, err
}

// Writes of whole rows.

func writeAgeGroup(ctx context.Context, tx *sql.Tx, g coderunner.AgeGroup) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO age_groups (`+ageGroupColumns+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (slug) DO UPDATE SET title = excluded.title, description = excluded.description,
			position = excluded.position, version = excluded.version`,
		g.Slug, g.Title, g.Description, g.Position, g.Version)
	if err != nil {
		return fmt.Errorf("write age group %s: %w", g.Slug, err)
	}
	return nil
}

// writeLevel inserts or replaces a level, keeping its problem count.
func writeLevel(ctx context.Context, tx *sql.Tx, l coderunner.Level) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO levels (id, age_group, position, title, description, version) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET age_group = excluded.age_group, position = excluded.position,
			title = excluded.title, description = excluded.description, version = excluded.version`,
		l.ID, l.AgeGroup, l.Position, l.Title, l.Description, l.Version)
	if err != nil {
		return fmt.Errorf("write level %s: %w", l.ID, err)
	}
	return nil
}

func writeProblem(ctx context.Context, tx *sql.Tx, p coderunner.Problem) error {
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
	_, err = tx.ExecContext(ctx, `INSERT INTO problems (`+problemColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET level_id = excluded.level_id, position = excluded.position,
			title = excluded.title, statement = excluded.statement, starter_code = excluded.starter_code,
			sample_tests = excluded.sample_tests, hidden_tests = excluded.hidden_tests,
			time_limit_ms = excluded.time_limit_ms, memory_mb = excluded.memory_mb,
			reference_solution = excluded.reference_solution, checker = excluded.checker,
			stop_on_first_failure = excluded.stop_on_first_failure, draft = excluded.draft, version = excluded.version`,
		p.ID, p.LevelID, p.Position, p.Title, p.Statement, p.StarterCode, string(samples), string(hidden),
		p.TimeLimitMs, p.MemoryMB, p.ReferenceSolution, string(checker), p.StopOnFirstFailure, p.Draft, p.Version)
	if err != nil {
		return fmt.Errorf("write problem %s: %w", p.ID, err)
	}
	return nil
}

// Parents: an age group's levels, a level's problems.

// parent names a parent's table and its children's.
type parent struct {
	what, table, key   string // "level", "levels", "id"
	children, ofParent string // "problems", "level_id"
}

var (
	ageGroupParent = parent{"age group", "age_groups", "slug", "levels", "age_group"}
	levelParent    = parent{"level", "levels", "id", "problems", "level_id"}
)

// childIDs returns the ids of id's children in their stored order.
func (p parent) childIDs(ctx context.Context, tx *sql.Tx, id string) ([]string, error) {
	ids, err := queryRows(ctx, tx, func(r rowScanner) (string, error) {
		var s string
		return s, r.Scan(&s)
	}, `SELECT id FROM `+p.children+` WHERE `+p.ofParent+` = ? ORDER BY position, id`, id)
	if err != nil {
		return nil, fmt.Errorf("read the children of %s %s: %w", p.what, id, err)
	}
	return ids, nil
}

// order sets the positions of id's children to 1..n in the order of ids.
func (p parent) order(ctx context.Context, tx *sql.Tx, ids []string) error {
	for i, child := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE `+p.children+` SET position = ? WHERE id = ? AND position != ?`, i+1, child, i+1); err != nil {
			return fmt.Errorf("reposition %s: %w", child, err)
		}
	}
	return nil
}

// touch renumbers each named parent's children 1..n in their stored order,
// and bumps its version. Empty ids are skipped.
func (p parent) touch(ctx context.Context, tx *sql.Tx, ids ...string) error {
	for _, id := range ids {
		if id == "" {
			continue
		}
		children, err := p.childIDs(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := p.order(ctx, tx, children); err != nil {
			return err
		}
		if err := p.bump(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// bump adds one to a parent's version.
func (p parent) bump(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE `+p.table+` SET version = version + 1 WHERE `+p.key+` = ?`, id); err != nil {
		return fmt.Errorf("bump the version of %s %s: %w", p.what, id, err)
	}
	return nil
}

// end returns the position after the last of id's children.
func (p parent) end(ctx context.Context, tx *sql.Tx, id string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) + 1 FROM `+p.children+` WHERE `+p.ofParent+` = ?`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read the last position in %s %s: %w", p.what, id, err)
	}
	return n, nil
}

// recount sets the problem count of each named level from its published
// problems. It runs inside the writing transaction, so the count is never
// stale.
func recount(ctx context.Context, tx *sql.Tx, levelIDs ...string) error {
	for _, id := range levelIDs {
		if id == "" {
			continue
		}
		_, err := tx.ExecContext(ctx, `UPDATE levels SET problem_count = (SELECT COUNT(*) FROM problems WHERE level_id = ?`+published+`) WHERE id = ?`, id, id)
		if err != nil {
			return fmt.Errorf("update problem count of level %s: %w", id, err)
		}
	}
	return nil
}

// Puts.

// PutAgeGroup inserts or replaces an age group.
func (s *Store) PutAgeGroup(ctx context.Context, g coderunner.AgeGroup) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		old, ok, err := lookUp(getAgeGroup(ctx, tx, g.Slug))
		if err != nil || (ok && old.SameContent(g)) {
			return err
		}
		g.Version = old.Version + 1
		return writeAgeGroup(ctx, tx, g)
	})
}

// PutLevel inserts or replaces a level, keeping its problem count.
func (s *Store) PutLevel(ctx context.Context, l coderunner.Level) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := getAgeGroup(ctx, tx, l.AgeGroup); err != nil {
			return err
		}
		old, ok, err := lookUp(getLevel(ctx, tx, l.ID))
		if err != nil || (ok && old.SameContent(l)) {
			return err
		}
		l.Version = old.Version + 1
		if err := writeLevel(ctx, tx, l); err != nil {
			return err
		}
		if !ok || old.AgeGroup != l.AgeGroup || old.Position != l.Position {
			return bumpParents(ctx, tx, ageGroupParent, l.AgeGroup, old.AgeGroup)
		}
		return nil
	})
}

// bumpParents bumps the version of parent id and, if another, of was.
func bumpParents(ctx context.Context, tx *sql.Tx, p parent, id, was string) error {
	if err := p.bump(ctx, tx, id); err != nil {
		return err
	}
	if was != "" && was != id {
		return p.bump(ctx, tx, was)
	}
	return nil
}

// PutProblem inserts or replaces a problem and updates the problem counts
// of the level it is in and, if it moved, the level it left.
func (s *Store) PutProblem(ctx context.Context, p coderunner.Problem) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.WithDefaults()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := getLevel(ctx, tx, p.LevelID); err != nil {
			return err
		}
		old, ok, err := lookUp(getProblem(ctx, tx, p.ID))
		if err != nil || (ok && old.SameContent(p)) {
			return err
		}
		p.Version = old.Version + 1
		if err := writeProblem(ctx, tx, p); err != nil {
			return err
		}
		if ok && old.LevelID == p.LevelID && old.Position == p.Position && old.Draft == p.Draft {
			return nil
		}
		if err := bumpParents(ctx, tx, levelParent, p.LevelID, old.LevelID); err != nil {
			return err
		}
		return recount(ctx, tx, p.LevelID, old.LevelID)
	})
}

// Creates.

// CreateAgeGroup adds a new age group.
func (s *Store) CreateAgeGroup(ctx context.Context, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	if err := g.Validate(); err != nil {
		return g, err
	}
	g.Version = 1
	return g, s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := getAgeGroup(ctx, tx, g.Slug)
		if err := mustBeNew("age group", g.Slug, err); err != nil {
			return err
		}
		return writeAgeGroup(ctx, tx, g)
	})
}

// mustBeNew is CONFLICT if err, of a read of what id, is none: the id is
// taken.
func mustBeNew(what, id string, err error) error {
	switch {
	case err == nil:
		return coderunner.Errorf(coderunner.Conflict, "%s %q already exists: choose another id", what, id)
	case coderunner.ErrorCode(err) == coderunner.NotFound:
		return nil
	default:
		return err
	}
}

// CreateLevel appends a new level to its age group.
func (s *Store) CreateLevel(ctx context.Context, l coderunner.Level) (coderunner.Level, error) {
	if err := l.Validate(); err != nil {
		return l, err
	}
	var stored coderunner.Level
	return stored, s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := getAgeGroup(ctx, tx, l.AgeGroup); err != nil {
			return err
		}
		_, err := getLevel(ctx, tx, l.ID)
		if err := mustBeNew("level", l.ID, err); err != nil {
			return err
		}
		end, err := ageGroupParent.end(ctx, tx, l.AgeGroup)
		if err != nil {
			return err
		}
		l.Position, l.Version = end, 1
		if err := writeLevel(ctx, tx, l); err != nil {
			return err
		}
		if err := ageGroupParent.touch(ctx, tx, l.AgeGroup); err != nil {
			return err
		}
		stored, err = getLevel(ctx, tx, l.ID)
		return err
	})
}

// CreateProblem appends a new problem to its level.
func (s *Store) CreateProblem(ctx context.Context, p coderunner.Problem) (coderunner.Problem, error) {
	if err := p.Validate(); err != nil {
		return p, err
	}
	p = p.WithDefaults()
	var stored coderunner.Problem
	return stored, s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := getLevel(ctx, tx, p.LevelID); err != nil {
			return err
		}
		_, err := getProblem(ctx, tx, p.ID)
		if err := mustBeNew("problem", p.ID, err); err != nil {
			return err
		}
		end, err := levelParent.end(ctx, tx, p.LevelID)
		if err != nil {
			return err
		}
		p.Position, p.Version = end, 1
		if err := writeProblem(ctx, tx, p); err != nil {
			return err
		}
		if err := levelParent.touch(ctx, tx, p.LevelID); err != nil {
			return err
		}
		if err := recount(ctx, tx, p.LevelID); err != nil {
			return err
		}
		stored, err = getProblem(ctx, tx, p.ID)
		return err
	})
}

// Updates.

// UpdateAgeGroup replaces an age group at the version it names.
func (s *Store) UpdateAgeGroup(ctx context.Context, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	if err := g.ValidateUpdate(); err != nil {
		return g, err
	}
	return g, s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getAgeGroup(ctx, tx, g.Slug)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("age group", g.Slug, g.Version, old.Version); err != nil {
			return err
		}
		g.Version++
		return writeAgeGroup(ctx, tx, g)
	})
}

// UpdateLevel replaces a level at the version it names, moving it to the
// end of another age group if it names one.
func (s *Store) UpdateLevel(ctx context.Context, l coderunner.Level) (coderunner.Level, error) {
	if err := l.ValidateUpdate(); err != nil {
		return l, err
	}
	var stored coderunner.Level
	return stored, s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getLevel(ctx, tx, l.ID)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("level", l.ID, l.Version, old.Version); err != nil {
			return err
		}
		l.Version, l.Position = old.Version+1, old.Position
		moved := old.AgeGroup != l.AgeGroup
		if moved {
			if _, err := getAgeGroup(ctx, tx, l.AgeGroup); err != nil {
				return err
			}
			if l.Position, err = ageGroupParent.end(ctx, tx, l.AgeGroup); err != nil {
				return err
			}
		}
		if err := writeLevel(ctx, tx, l); err != nil {
			return err
		}
		if moved {
			if err := ageGroupParent.touch(ctx, tx, l.AgeGroup, old.AgeGroup); err != nil {
				return err
			}
		}
		stored, err = getLevel(ctx, tx, l.ID)
		return err
	})
}

// UpdateProblem replaces a problem at the version it names, moving it to
// the end of another level if it names one.
func (s *Store) UpdateProblem(ctx context.Context, p coderunner.Problem) (coderunner.Problem, error) {
	if err := p.ValidateUpdate(); err != nil {
		return p, err
	}
	p = p.WithDefaults()
	var stored coderunner.Problem
	return stored, s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getProblem(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("problem", p.ID, p.Version, old.Version); err != nil {
			return err
		}
		p.Version, p.Position = old.Version+1, old.Position
		moved := old.LevelID != p.LevelID
		if moved {
			if _, err := getLevel(ctx, tx, p.LevelID); err != nil {
				return err
			}
			if p.Position, err = levelParent.end(ctx, tx, p.LevelID); err != nil {
				return err
			}
		}
		if err := writeProblem(ctx, tx, p); err != nil {
			return err
		}
		switch {
		case moved:
			err = levelParent.touch(ctx, tx, p.LevelID, old.LevelID)
		case old.Draft != p.Draft:
			err = levelParent.bump(ctx, tx, p.LevelID)
		}
		if err != nil {
			return err
		}
		if err := recount(ctx, tx, p.LevelID, old.LevelID); err != nil {
			return err
		}
		stored, err = getProblem(ctx, tx, p.ID)
		return err
	})
}

// Deletes.

// DeleteAgeGroup removes an age group that has no levels.
func (s *Store) DeleteAgeGroup(ctx context.Context, slug string, version int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getAgeGroup(ctx, tx, slug)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("age group", slug, version, old.Version); err != nil {
			return err
		}
		if err := mustBeEmpty(ctx, tx, ageGroupParent, slug); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM age_groups WHERE slug = ?`, slug); err != nil {
			return fmt.Errorf("delete age group %s: %w", slug, err)
		}
		return nil
	})
}

// mustBeEmpty is BAD_USER_INPUT if parent id has children.
func mustBeEmpty(ctx context.Context, tx *sql.Tx, p parent, id string) error {
	children, err := p.childIDs(ctx, tx, id)
	if err != nil {
		return err
	}
	if len(children) > 0 {
		return coderunner.Errorf(coderunner.BadUserInput, "%s %q still has %d %s: delete or move them first", p.what, id, len(children), p.children)
	}
	return nil
}

// DeleteLevel removes a level that has no problems.
func (s *Store) DeleteLevel(ctx context.Context, id string, version int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getLevel(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("level", id, version, old.Version); err != nil {
			return err
		}
		if err := mustBeEmpty(ctx, tx, levelParent, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM levels WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete level %s: %w", id, err)
		}
		return ageGroupParent.touch(ctx, tx, old.AgeGroup)
	})
}

// DeleteProblem removes a problem and closes the gap in its level.
func (s *Store) DeleteProblem(ctx context.Context, id string, version int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getProblem(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("problem", id, version, old.Version); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM problems WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete problem %s: %w", id, err)
		}
		if err := levelParent.touch(ctx, tx, old.LevelID); err != nil {
			return err
		}
		return recount(ctx, tx, old.LevelID)
	})
}

// Reorders.

// ReorderLevels sets the order of an age group's levels.
func (s *Store) ReorderLevels(ctx context.Context, ageGroup string, groupVersion int64, ids []string) error {
	return s.reorder(ctx, ageGroupParent, ageGroup, groupVersion, ids, func(tx *sql.Tx) (int64, error) {
		g, err := getAgeGroup(ctx, tx, ageGroup)
		return g.Version, err
	})
}

// ReorderProblems sets the order of a level's problems.
func (s *Store) ReorderProblems(ctx context.Context, levelID string, levelVersion int64, ids []string) error {
	return s.reorder(ctx, levelParent, levelID, levelVersion, ids, func(tx *sql.Tx) (int64, error) {
		l, err := getLevel(ctx, tx, levelID)
		return l.Version, err
	})
}

// reorder orders the children of parent id as ids, if version reads back.
func (s *Store) reorder(ctx context.Context, p parent, id string, version int64, ids []string, read func(*sql.Tx) (int64, error)) error {
	if err := coderunner.CheckEditVersion(p.what, id, version); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stored, err := read(tx)
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion(p.what, id, version, stored); err != nil {
			return err
		}
		children, err := p.childIDs(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := coderunner.CheckOrder(fmt.Sprintf("%s %q", p.what, id), children, ids); err != nil {
			return err
		}
		if err := p.order(ctx, tx, ids); err != nil {
			return err
		}
		return p.bump(ctx, tx, id)
	})
}
