package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner"
)

// submissionDoc is a submission in the submissions collection. Times are
// BSON dates (millisecond precision); the zero time is stored as absent.
type submissionDoc struct {
	ID         string          `bson:"_id"`
	Owner      string          `bson:"owner"`
	ProblemID  string          `bson:"problemId"`
	Code       string          `bson:"code"`
	GradingKey string          `bson:"gradingKey"`
	Status     string          `bson:"status"`
	Verdict    string          `bson:"verdict"`
	Passed     int             `bson:"passed"`
	Total      int             `bson:"total"`
	Tests      []testResultDoc `bson:"tests"`
	CreatedAt  *time.Time      `bson:"createdAt,omitempty"`
	StartedAt  *time.Time      `bson:"startedAt,omitempty"`
	FinishedAt *time.Time      `bson:"finishedAt,omitempty"`
}

// testResultDoc is a coderunner.TestResult; the fields a hidden test's
// result leaves empty are absent.
type testResultDoc struct {
	Index          int                `bson:"index"`
	Sample         bool               `bson:"sample"`
	Verdict        coderunner.Verdict `bson:"verdict"`
	WallMs         int64              `bson:"wallMs"`
	CPUMs          int64              `bson:"cpuMs"`
	MemoryKB       int64              `bson:"memoryKb"`
	Hint           string             `bson:"hint,omitempty"`
	Input          string             `bson:"input,omitempty"`
	ExpectedOutput string             `bson:"expectedOutput,omitempty"`
	ActualOutput   string             `bson:"actualOutput,omitempty"`
	Stderr         string             `bson:"stderr,omitempty"`
	Diff           string             `bson:"diff,omitempty"`
}

func submissionToDoc(s coderunner.Submission) submissionDoc {
	tests := make([]testResultDoc, len(s.Tests)) // never nil: stored as an array
	for i, tr := range s.Tests {
		tests[i] = testResultDoc(tr)
	}
	return submissionDoc{
		ID: s.ID, Owner: s.Owner, ProblemID: s.ProblemID, Code: s.Code, GradingKey: s.GradingKey,
		Status: string(s.Status), Verdict: string(s.Verdict), Passed: s.Passed, Total: s.Total, Tests: tests,
		CreatedAt: timePtr(s.CreatedAt), StartedAt: timePtr(s.StartedAt), FinishedAt: timePtr(s.FinishedAt),
	}
}

func (d submissionDoc) domain() coderunner.Submission {
	s := coderunner.Submission{
		ID: d.ID, Owner: d.Owner, ProblemID: d.ProblemID, Code: d.Code, GradingKey: d.GradingKey,
		Status: coderunner.SubmissionStatus(d.Status), Verdict: coderunner.Verdict(d.Verdict), Passed: d.Passed, Total: d.Total,
		CreatedAt: timeOf(d.CreatedAt), StartedAt: timeOf(d.StartedAt), FinishedAt: timeOf(d.FinishedAt),
	}
	if len(d.Tests) > 0 {
		s.Tests = make([]coderunner.TestResult, len(d.Tests))
		for i, tr := range d.Tests {
			s.Tests[i] = coderunner.TestResult(tr)
		}
	}
	return s
}

// CreateSubmission stores a new submission.
func (s *Store) CreateSubmission(ctx context.Context, sub coderunner.Submission) error {
	return create(ctx, s.submissions, sub.ID, submissionToDoc(sub))
}

// Submission returns the submission with the given id.
func (s *Store) Submission(ctx context.Context, id string) (coderunner.Submission, error) {
	d, err := findOne[submissionDoc](ctx, s.submissions, id, coderunner.ErrNoSubmission)
	return d.domain(), err
}

// UpdateSubmission replaces a submission whose status is one of from.
func (s *Store) UpdateSubmission(ctx context.Context, sub coderunner.Submission, from ...coderunner.SubmissionStatus) (bool, error) {
	return replaceIfStatus(ctx, s, s.submissions, sub.ID, coderunner.SubmissionUpdatableFrom(from), submissionToDoc(sub))
}

// Submissions returns a keyset page of owner's submissions, newest first:
// owner_createdAt and owner_problemId_createdAt index the order.
func (s *Store) Submissions(ctx context.Context, owner, problemID string, after coderunner.SubmissionCursor, limit int) ([]coderunner.Submission, error) {
	if limit <= 0 {
		return nil, nil // a limit of 0 would be none at all to MongoDB
	}
	filter := bson.D{{Key: "owner", Value: owner}}
	if problemID != "" {
		filter = append(filter, bson.E{Key: "problemId", Value: problemID})
	}
	if after != (coderunner.SubmissionCursor{}) {
		filter = append(filter, afterCursor(after.CreatedAt, after.ID, "$lt"))
	}
	sort := bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}
	docs, err := findAll[submissionDoc](ctx, s.submissions, filter, options.Find().SetSort(sort).SetLimit(int64(limit)))
	return domains(docs), err
}

// UnfinishedSubmissions returns submissions still QUEUED or RUNNING
// created before t, oldest first, after the cursor (status_createdAt
// indexes it).
func (s *Store) UnfinishedSubmissions(ctx context.Context, t time.Time, after coderunner.SubmissionCursor, limit int) ([]coderunner.Submission, error) {
	return unfinished[submissionDoc](ctx, s.submissions,
		[]coderunner.SubmissionStatus{coderunner.SubmissionQueued, coderunner.SubmissionRunning}, t, after.CreatedAt, after.ID, limit)
}

// gradingDoc is a coderunner.Grading in the gradings collection, under
// its key.
type gradingDoc struct {
	Key                string        `bson:"_id"`
	Tests              []testCaseDoc `bson:"tests"`
	SampleCount        int           `bson:"sampleCount"`
	Checker            checkerDoc    `bson:"checker"`
	StopOnFirstFailure bool          `bson:"stopOnFirstFailure"`
	TimeLimitMs        int           `bson:"timeLimitMs"`
	MemoryMB           int           `bson:"memoryMb"`
}

func (d gradingDoc) domain() coderunner.Grading {
	return coderunner.Grading{
		Tests: testCasesFromDocs(d.Tests), SampleCount: d.SampleCount, Checker: coderunner.Checker(d.Checker),
		StopOnFirstFailure: d.StopOnFirstFailure, TimeLimitMs: d.TimeLimitMs, MemoryMB: d.MemoryMB,
	}
}

// PutGrading stores g under key unless a grading is stored there already:
// of two puts racing, the loser's duplicate key is no error, since equal
// keys mean equal gradings.
func (s *Store) PutGrading(ctx context.Context, key string, g coderunner.Grading) error {
	_, err := s.gradings.InsertOne(ctx, gradingDoc{
		Key: key, Tests: testCasesToDocs(g.Tests), SampleCount: g.SampleCount, Checker: checkerDoc(g.Checker),
		StopOnFirstFailure: g.StopOnFirstFailure, TimeLimitMs: g.TimeLimitMs, MemoryMB: g.MemoryMB,
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongo store: put grading %s: %w", key, err)
	}
	return nil
}

// Grading returns the grading stored under key.
func (s *Store) Grading(ctx context.Context, key string) (coderunner.Grading, error) {
	d, err := findOne[gradingDoc](ctx, s.gradings, key, func(key string) error {
		return coderunner.Errorf(coderunner.NotFound, "no grading with key %q", key)
	})
	return d.domain(), err
}

// progressDoc is a coderunner.Progress in the progress collection. Its _id
// joins owner and problem id with a "/", which no problem id holds, so
// that reads by problem are reads by _id.
type progressDoc struct {
	ID          string     `bson:"_id"`
	Owner       string     `bson:"owner"`
	ProblemID   string     `bson:"problemId"`
	Attempts    int        `bson:"attempts"`
	BestVerdict string     `bson:"bestVerdict"`
	BestPassed  int        `bson:"bestPassed"`
	Total       int        `bson:"total"`
	SolvedAt    *time.Time `bson:"solvedAt,omitempty"`
}

func progressID(owner, problemID string) string { return owner + "/" + problemID }

func (d progressDoc) domain() coderunner.Progress {
	return coderunner.Progress{
		Owner: d.Owner, ProblemID: d.ProblemID, Attempts: d.Attempts, BestVerdict: coderunner.Verdict(d.BestVerdict),
		BestPassed: d.BestPassed, Total: d.Total, SolvedAt: timeOf(d.SolvedAt),
	}
}

// SaveProgress inserts or replaces p.
func (s *Store) SaveProgress(ctx context.Context, p coderunner.Progress) error {
	id := progressID(p.Owner, p.ProblemID)
	doc := progressDoc{
		ID: id, Owner: p.Owner, ProblemID: p.ProblemID, Attempts: p.Attempts, BestVerdict: string(p.BestVerdict),
		BestPassed: p.BestPassed, Total: p.Total, SolvedAt: timePtr(p.SolvedAt),
	}
	err := upsert(func() error {
		_, err := s.progress.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc, options.Replace().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("mongo store: save progress of %s on %s: %w", p.Owner, p.ProblemID, err)
	}
	return nil
}

// Progress returns owner's progress on the given problems, read by _id,
// or on all of them (by owner_problemId) when problemIDs is nil.
func (s *Store) Progress(ctx context.Context, owner string, problemIDs []string) (map[string]coderunner.Progress, error) {
	out := make(map[string]coderunner.Progress, len(problemIDs))
	if problemIDs != nil && len(problemIDs) == 0 {
		return out, nil
	}
	filter := bson.D{{Key: "owner", Value: owner}}
	if problemIDs != nil {
		ids := make([]string, len(problemIDs))
		for i, p := range problemIDs {
			ids[i] = progressID(owner, p)
		}
		filter = in("_id", ids)
	}
	docs, err := findAll[progressDoc](ctx, s.progress, filter, nil)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if d.Owner == owner { // so even if an owner's id held a "/"
			out[d.ProblemID] = d.domain()
		}
	}
	return out, nil
}
