package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"coderunner"
)

const submissionColumns = `id, owner, problem_id, code, grading_key, status, verdict, passed, total, tests,
	created_at, started_at, finished_at`

// CreateSubmission stores a new submission.
func (s *Store) CreateSubmission(ctx context.Context, sub coderunner.Submission) error {
	return s.insert(ctx, "submissions", submissionColumns, submissionValues(sub))
}

// Submission returns the submission with the given id.
func (s *Store) Submission(ctx context.Context, id string) (coderunner.Submission, error) {
	return readByID(ctx, s, scanSubmission, coderunner.ErrNoSubmission, `SELECT `+submissionColumns+` FROM submissions WHERE id = ?`, id)
}

// UpdateSubmission replaces a submission whose status is one of from.
func (s *Store) UpdateSubmission(ctx context.Context, sub coderunner.Submission, from ...coderunner.SubmissionStatus) (bool, error) {
	return replaceIfStatus(ctx, s, "submissions", submissionColumns, submissionValues(sub), sub.ID, coderunner.SubmissionUpdatableFrom(from))
}

// Submissions returns a keyset page of owner's submissions, newest first:
// submissions_by_owner and submissions_by_owner_problem index the order,
// so that a page costs the same wherever it starts.
func (s *Store) Submissions(ctx context.Context, owner, problemID string, after coderunner.SubmissionCursor, limit int) ([]coderunner.Submission, error) {
	if limit <= 0 {
		return nil, nil // SQLite reads a negative LIMIT as no limit at all
	}
	query, args := `SELECT `+submissionColumns+` FROM submissions WHERE owner = ?`, []any{owner}
	if problemID != "" {
		query, args = query+` AND problem_id = ?`, append(args, problemID)
	}
	if after != (coderunner.SubmissionCursor{}) {
		// A row value, so that the index seeks to the cursor.
		query, args = query+` AND (created_at, id) < (?, ?)`, append(args, toNanos(after.CreatedAt), after.ID)
	}
	subs, err := queryAll(ctx, s, scanSubmission, query+` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query submissions of %s: %w", owner, err)
	}
	return subs, nil
}

// UnfinishedSubmissions returns submissions still QUEUED or RUNNING
// created before t, oldest first, after the cursor
// (submissions_unfinished indexes the order).
func (s *Store) UnfinishedSubmissions(ctx context.Context, t time.Time, after coderunner.SubmissionCursor, limit int) ([]coderunner.Submission, error) {
	return unfinished(ctx, s, scanSubmission, "submissions", submissionColumns,
		[]coderunner.SubmissionStatus{coderunner.SubmissionQueued, coderunner.SubmissionRunning}, t, after.CreatedAt, after.ID, limit)
}

func scanSubmission(row rowScanner) (coderunner.Submission, error) {
	var sub coderunner.Submission
	var tests string
	var created, started, finished int64
	err := row.Scan(&sub.ID, &sub.Owner, &sub.ProblemID, &sub.Code, &sub.GradingKey, &sub.Status, &sub.Verdict,
		&sub.Passed, &sub.Total, &tests, &created, &started, &finished)
	if err != nil {
		return sub, err
	}
	if err := json.Unmarshal([]byte(tests), &sub.Tests); err != nil {
		return sub, fmt.Errorf("decode tests of submission %s: %w", sub.ID, err)
	}
	if len(sub.Tests) == 0 {
		sub.Tests = nil
	}
	sub.CreatedAt, sub.StartedAt, sub.FinishedAt = fromNanos(created), fromNanos(started), fromNanos(finished)
	return sub, nil
}

func submissionValues(sub coderunner.Submission) []any {
	tests := sub.Tests
	if tests == nil {
		tests = []coderunner.TestResult{} // stored as an array, never null
	}
	return []any{sub.ID, sub.Owner, sub.ProblemID, sub.Code, sub.GradingKey, sub.Status, sub.Verdict,
		sub.Passed, sub.Total, mustJSON(tests), toNanos(sub.CreatedAt), toNanos(sub.StartedAt), toNanos(sub.FinishedAt)}
}

// mustJSON encodes test results and gradings, which always encode.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// PutGrading stores g under key unless a grading is stored there already.
func (s *Store) PutGrading(ctx context.Context, key string, g coderunner.Grading) error {
	_, err := s.exec(ctx, `INSERT INTO gradings (key, grading) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, mustJSON(g))
	if err != nil {
		return fmt.Errorf("put grading %s: %w", key, err)
	}
	return nil
}

// Grading returns the grading stored under key.
func (s *Store) Grading(ctx context.Context, key string) (coderunner.Grading, error) {
	return readByID(ctx, s, scanJSON[coderunner.Grading], func(key string) error {
		return coderunner.Errorf(coderunner.NotFound, "no grading with key %q", key)
	}, `SELECT grading FROM gradings WHERE key = ?`, key)
}

// scanJSON scans a row of one JSON column into a T.
func scanJSON[T any](row rowScanner) (T, error) {
	var v T
	var b string
	if err := row.Scan(&b); err != nil {
		return v, err
	}
	return v, json.Unmarshal([]byte(b), &v)
}

const progressColumns = `owner, problem_id, attempts, best_verdict, best_passed, total, solved_at`

// SaveProgress inserts or replaces p.
func (s *Store) SaveProgress(ctx context.Context, p coderunner.Progress) error {
	_, err := s.exec(ctx, `INSERT INTO progress (`+progressColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (owner, problem_id) DO UPDATE SET attempts = excluded.attempts, best_verdict = excluded.best_verdict,
			best_passed = excluded.best_passed, total = excluded.total, solved_at = excluded.solved_at`,
		p.Owner, p.ProblemID, p.Attempts, p.BestVerdict, p.BestPassed, p.Total, toNanos(p.SolvedAt))
	if err != nil {
		return fmt.Errorf("save progress of %s on %s: %w", p.Owner, p.ProblemID, err)
	}
	return nil
}

// Progress returns owner's progress on the given problems, or on all of
// them when problemIDs is nil.
func (s *Store) Progress(ctx context.Context, owner string, problemIDs []string) (map[string]coderunner.Progress, error) {
	out := make(map[string]coderunner.Progress, len(problemIDs))
	if problemIDs != nil && len(problemIDs) == 0 {
		return out, nil
	}
	query, args := `SELECT `+progressColumns+` FROM progress WHERE owner = ?`, []any{owner}
	if problemIDs != nil {
		in, ids := inClause(problemIDs)
		query, args = query+` AND problem_id IN `+in, append(args, ids...)
	}
	progress, err := queryAll(ctx, s, scanProgress, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query progress of %s: %w", owner, err)
	}
	for _, p := range progress {
		out[p.ProblemID] = p
	}
	return out, nil
}

func scanProgress(row rowScanner) (coderunner.Progress, error) {
	var p coderunner.Progress
	var solved int64
	err := row.Scan(&p.Owner, &p.ProblemID, &p.Attempts, &p.BestVerdict, &p.BestPassed, &p.Total, &solved)
	p.SolvedAt = fromNanos(solved)
	return p, err
}
