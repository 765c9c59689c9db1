package coderunner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// SubmissionStatus is where a submission is in its life.
type SubmissionStatus string

const (
	SubmissionQueued   SubmissionStatus = "QUEUED"
	SubmissionRunning  SubmissionStatus = "RUNNING"
	SubmissionFinished SubmissionStatus = "FINISHED"
)

// Verdict is how one test case, or a whole submission, was judged.
type Verdict string

const (
	Accepted            Verdict = "ACCEPTED"
	WrongAnswer         Verdict = "WRONG_ANSWER"
	OutputLimitExceeded Verdict = "OUTPUT_LIMIT_EXCEEDED"
	MemoryLimitExceeded Verdict = "MEMORY_LIMIT_EXCEEDED"
	TimeLimitExceeded   Verdict = "TIME_LIMIT_EXCEEDED"
	RuntimeError        Verdict = "RUNTIME_ERROR"
	// InternalError is our fault, never the program's.
	InternalError Verdict = "INTERNAL_ERROR"
)

// verdictOrder lists the verdicts from best to worst. A submission's
// verdict is its worst test's: what a child should fix first. A crash or an
// endless loop hides whatever else is wrong, so they come after a wrong
// answer; our own failure comes last, because it makes every other
// verdict of the submission untrustworthy.
var verdictOrder = []Verdict{Accepted, WrongAnswer, OutputLimitExceeded, MemoryLimitExceeded, TimeLimitExceeded, RuntimeError, InternalError}

// Severity places v in verdictOrder: 0 for ACCEPTED, higher is worse; -1
// for an unknown verdict (or none).
func (v Verdict) Severity() int {
	for i, o := range verdictOrder {
		if o == v {
			return i
		}
	}
	return -1
}

// Worse reports whether v is worse than other.
func (v Verdict) Worse(other Verdict) bool { return v.Severity() > other.Severity() }

// CheckerKind names how a program's output is compared with a test's
// expected output.
type CheckerKind string

const (
	// CheckLines compares line by line, ignoring whitespace at the end of
	// each line and blank lines at the end: the default.
	CheckLines CheckerKind = "lines"
	// CheckExact compares byte for byte.
	CheckExact CheckerKind = "exact"
	// CheckTokens compares the whitespace-separated words.
	CheckTokens CheckerKind = "tokens"
	// CheckFloat compares words, numbers within Checker.Tolerance.
	CheckFloat CheckerKind = "float"
)

// DefaultTolerance is the float checker's tolerance when a problem sets none.
const DefaultTolerance = 1e-6

// Checker is how a problem's outputs are compared. The zero Checker is
// CheckLines.
type Checker struct {
	Kind CheckerKind `json:"kind,omitempty" yaml:"kind"`
	// Tolerance, for CheckFloat, is the absolute or relative difference
	// allowed between two numbers; 0 means DefaultTolerance.
	Tolerance float64 `json:"tolerance,omitempty" yaml:"tolerance"`
}

// Grading is everything a submission is graded against, taken from its
// problem when it is submitted: edits to the problem while it is graded
// do not mix versions. Tests are the problem's sample tests, then its
// hidden ones; a test's index is its place here.
type Grading struct {
	Tests              []TestCase `json:"tests"`
	SampleCount        int        `json:"sampleCount"`
	Checker            Checker    `json:"checker"`
	StopOnFirstFailure bool       `json:"stopOnFirstFailure,omitempty"`
	TimeLimitMs        int        `json:"timeLimitMs"`
	MemoryMB           int        `json:"memoryMb"`
}

// Grading returns what p's submissions are graded against.
func (p Problem) Grading() Grading {
	p = p.WithDefaults()
	return Grading{
		Tests:              append(append([]TestCase{}, p.SampleTests...), p.HiddenTests...),
		SampleCount:        len(p.SampleTests),
		Checker:            p.Checker,
		StopOnFirstFailure: p.StopOnFirstFailure,
		TimeLimitMs:        p.TimeLimitMs,
		MemoryMB:           p.MemoryMB,
	}
}

// Key names g by its content: equal gradings have equal keys, so the
// submissions of one version of a problem share one stored Grading.
func (g Grading) Key() string {
	b, err := json.Marshal(g)
	if err != nil {
		panic(err) // a Grading always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestResult is how a submission did on one test case. Input,
// ExpectedOutput, ActualOutput, Stderr and Diff are filled for sample
// tests only: a hidden test's data never leaves the worker.
type TestResult struct {
	Index    int     `json:"index"`
	Sample   bool    `json:"sample"`
	Verdict  Verdict `json:"verdict"`
	WallMs   int64   `json:"wallMs"`
	CPUMs    int64   `json:"cpuMs"`
	MemoryKB int64   `json:"memoryKb"`
	// Hint is the author's advice for this test, shown when it fails.
	Hint           string `json:"hint,omitempty"`
	Input          string `json:"input,omitempty"`
	ExpectedOutput string `json:"expectedOutput,omitempty"`
	ActualOutput   string `json:"actualOutput,omitempty"`
	Stderr         string `json:"stderr,omitempty"`
	// Diff shows, line by line, where the output differs from the
	// expected one.
	Diff string `json:"diff,omitempty"`
}

// Submission is a program sent to be graded against a problem's tests.
type Submission struct {
	ID string `json:"id"`
	// Owner is the id of the user who submitted it: guests cannot submit.
	Owner     string `json:"owner"`
	ProblemID string `json:"problemId"`
	Code      string `json:"code"`
	// GradingKey names the stored Grading the submission is graded against.
	GradingKey string           `json:"gradingKey"`
	Status     SubmissionStatus `json:"status"`
	// Verdict, Passed and Total are set once it has finished.
	Verdict Verdict `json:"verdict,omitempty"`
	Passed  int     `json:"passed"`
	Total   int     `json:"total"`
	// Tests holds the results of the tests graded so far, by index.
	Tests      []TestResult `json:"tests"`
	CreatedAt  time.Time    `json:"createdAt"`
	StartedAt  time.Time    `json:"startedAt"`
	FinishedAt time.Time    `json:"finishedAt"`
}

// CheckOwnerPrefix starts the Owner of a check submission: one that an
// editor's sandbox check of a problem (package content) grades, a
// reference solution or a starter code against a candidate grading. No
// user's id starts with it, so no student-facing path — Get, List, Events,
// progress — ever reaches one; the worker keeps every test's data in it,
// hidden tests' included, for the editor.
const CheckOwnerPrefix = "check:"

// CheckOwner is the Owner of the check submissions editor userID starts.
func CheckOwner(userID string) string { return CheckOwnerPrefix + userID }

// IsCheck reports whether s is a check submission (see CheckOwnerPrefix).
func (s Submission) IsCheck() bool { return strings.HasPrefix(s.Owner, CheckOwnerPrefix) }

// Payer is whose budget s is charged to: its owner, or for a check
// submission the editor who started it.
func (s Submission) Payer() string { return strings.TrimPrefix(s.Owner, CheckOwnerPrefix) }

// Score is the share of tests passed, in percent, rounded down.
func (s Submission) Score() int {
	if s.Total == 0 {
		return 0
	}
	return 100 * s.Passed / s.Total
}

// Cursor is s's place in the order of SubmissionStore.Submissions (newest
// first) and of SubmissionStore.UnfinishedSubmissions (oldest first).
func (s Submission) Cursor() SubmissionCursor {
	return SubmissionCursor{CreatedAt: s.CreatedAt, ID: s.ID}
}

// SubmissionCursor is a place in an order of submissions by CreatedAt, then
// ID: just after the one created at CreatedAt with ID — older than it in
// the newest-first order of Submissions, newer in the oldest-first order of
// UnfinishedSubmissions. The zero SubmissionCursor is the start.
type SubmissionCursor struct {
	CreatedAt time.Time
	ID        string
}

// ErrNoSubmission is NOT_FOUND for a submission: the answer both for one
// that does not exist and for one the caller may not see.
func ErrNoSubmission(id string) error {
	return Errorf(NotFound, "no submission with id %q", id)
}

// Progress is how far one user has come with one problem. It is kept by
// the server from the user's finished submissions.
type Progress struct {
	Owner     string `json:"owner"`
	ProblemID string `json:"problemId"`
	// Attempts counts finished submissions.
	Attempts    int     `json:"attempts"`
	BestVerdict Verdict `json:"bestVerdict"`
	BestPassed  int     `json:"bestPassed"`
	Total       int     `json:"total"`
	// SolvedAt is when the first ACCEPTED submission finished; zero if
	// none has. A solved problem stays solved.
	SolvedAt time.Time `json:"solvedAt"`
}

// Solved reports whether a submission was ever ACCEPTED.
func (p Progress) Solved() bool { return !p.SolvedAt.IsZero() }

// Add counts a finished submission into p, in any order. Unfinished
// submissions, and those that ended INTERNAL_ERROR (our failure, not the
// child's attempt), change nothing.
func (p Progress) Add(s Submission) Progress {
	if s.Status != SubmissionFinished || s.Verdict == InternalError {
		return p
	}
	p.Attempts++
	if p.BestVerdict == "" || s.Verdict.Severity() < p.BestVerdict.Severity() {
		p.BestVerdict = s.Verdict
	}
	// The best share of tests passed, with the total it was out of.
	if p.Total == 0 || s.Passed*p.Total > p.BestPassed*s.Total {
		p.BestPassed, p.Total = s.Passed, s.Total
	}
	if s.Verdict == Accepted && (p.SolvedAt.IsZero() || s.FinishedAt.Before(p.SolvedAt)) {
		p.SolvedAt = s.FinishedAt
	}
	return p
}

// SubmissionUpdatableFrom returns the statuses UpdateSubmission may
// replace for its from argument: the unfinished ones in from, or both
// unfinished statuses when from is empty.
func SubmissionUpdatableFrom(from []SubmissionStatus) []SubmissionStatus {
	if len(from) == 0 {
		return []SubmissionStatus{SubmissionQueued, SubmissionRunning}
	}
	var updatable []SubmissionStatus
	for _, status := range from {
		if status != SubmissionFinished {
			updatable = append(updatable, status)
		}
	}
	return updatable
}

// SubmissionStore keeps submissions, the gradings they are graded against
// and each user's progress. store/sqlite and store/mongo implement it.
type SubmissionStore interface {
	// CreateSubmission stores a new submission.
	CreateSubmission(ctx context.Context, s Submission) error
	// Submission returns the submission with the given id, or NOT_FOUND.
	Submission(ctx context.Context, id string) (Submission, error)
	// UpdateSubmission replaces a submission whose stored status is one of
	// from — QUEUED or RUNNING if from is empty — and reports whether it
	// did: a finished submission is final.
	UpdateSubmission(ctx context.Context, s Submission, from ...SubmissionStatus) (bool, error)
	// Submissions returns up to limit of owner's submissions, newest first
	// (by CreatedAt, then ID, both descending), starting after the cursor;
	// problemID, if not empty, keeps only that problem's.
	Submissions(ctx context.Context, owner, problemID string, after SubmissionCursor, limit int) ([]Submission, error)
	// UnfinishedSubmissions returns up to limit submissions that are
	// still QUEUED or RUNNING and were created before the given time,
	// oldest first (by CreatedAt, then ID, both ascending: unlike
	// Submissions), starting after the cursor: a caller reads them all a
	// page at a time, with the cursor of each page's last submission.
	UnfinishedSubmissions(ctx context.Context, createdBefore time.Time, after SubmissionCursor, limit int) ([]Submission, error)
	// PutGrading stores g under key, unless a grading is stored under it
	// already (equal keys mean equal gradings).
	PutGrading(ctx context.Context, key string, g Grading) error
	// Grading returns the grading stored under key, or NOT_FOUND.
	Grading(ctx context.Context, key string) (Grading, error)
	// SaveProgress inserts or replaces p, by owner and problem.
	SaveProgress(ctx context.Context, p Progress) error
	// Progress returns owner's progress on the given problems, by problem
	// id (problems without any are absent), or on every problem when
	// problemIDs is nil.
	Progress(ctx context.Context, owner string, problemIDs []string) (map[string]Progress, error)
}
