package resolvers

import (
	"context"
	"slices"
	"strings"
	"time"

	"coderunner"
	"coderunner/graph"
	"coderunner/loaders"
)

func (r *Resolver) Submission() graph.SubmissionResolver           { return submissionResolver{r} }
func (r *Resolver) TestResult() graph.TestResultResolver           { return testResultResolver{} }
func (r *Resolver) ProblemProgress() graph.ProblemProgressResolver { return progressResolver{r} }

func (r mutationResolver) Submit(ctx context.Context, problemID, code string) (coderunner.Submission, error) {
	return r.Resolver.Submissions.Submit(ctx, coderunner.CallerFrom(ctx), problemID, code)
}

func (r queryResolver) Submission(ctx context.Context, id string) (*coderunner.Submission, error) {
	return pointer(r.Resolver.Submissions.Get(ctx, coderunner.CallerFrom(ctx), id))
}

func (r queryResolver) Submissions(ctx context.Context, problemID *string, first *int, after *string, userID *string) (graph.SubmissionConnection, error) {
	n := 0
	if first != nil {
		n = *first
		if n == 0 {
			n = -1 // an explicit 0 is out of range, not the default
		}
	}
	page, err := r.Resolver.Submissions.List(ctx, coderunner.CallerFrom(ctx), deref(userID), deref(problemID), n, deref(after))
	if err != nil {
		return graph.SubmissionConnection{}, err
	}
	return graph.SubmissionConnection{Nodes: page.Submissions, EndCursor: nullString(page.EndCursor), HasNextPage: page.HasMore}, nil
}

func (r subscriptionResolver) SubmissionEvents(ctx context.Context, submissionID string, afterSeq int) (<-chan coderunner.RunEvent, error) {
	events, err := r.Resolver.Submissions.Events(ctx, coderunner.CallerFrom(ctx), submissionID, int64(afterSeq))
	if err != nil {
		return nil, err
	}
	if r.TrackSubscription != nil {
		context.AfterFunc(ctx, r.TrackSubscription())
	}
	return events, nil
}

type submissionResolver struct{ *Resolver }

// Problem is null for a problem deleted since: the submission stays the
// child's record.
func (r submissionResolver) Problem(ctx context.Context, s *coderunner.Submission) (*coderunner.Problem, error) {
	return optionalProblem(ctx, s.ProblemID)
}

func (r submissionResolver) Owner(ctx context.Context, s *coderunner.Submission) (*coderunner.User, error) {
	return r.owner(ctx, s.Owner)
}

func (submissionResolver) Verdict(_ context.Context, s *coderunner.Submission) (*coderunner.Verdict, error) {
	return nullVerdict(s.Verdict), nil
}

func (submissionResolver) StartedAt(_ context.Context, s *coderunner.Submission) (*time.Time, error) {
	return nullTime(s.StartedAt), nil
}

func (submissionResolver) FinishedAt(_ context.Context, s *coderunner.Submission) (*time.Time, error) {
	return nullTime(s.FinishedAt), nil
}

// testResultResolver answers null for what a test does not show: a
// hidden test's data is never stored in the first place (grade.Result).
type testResultResolver struct{}

func (testResultResolver) Hint(_ context.Context, t *coderunner.TestResult) (*string, error) {
	return nullString(t.Hint), nil
}

func (testResultResolver) Input(_ context.Context, t *coderunner.TestResult) (*string, error) {
	return sampleOnly(t, t.Input), nil
}

func (testResultResolver) ExpectedOutput(_ context.Context, t *coderunner.TestResult) (*string, error) {
	return sampleOnly(t, t.ExpectedOutput), nil
}

func (testResultResolver) ActualOutput(_ context.Context, t *coderunner.TestResult) (*string, error) {
	return sampleOnly(t, t.ActualOutput), nil
}

func (testResultResolver) Stderr(_ context.Context, t *coderunner.TestResult) (*string, error) {
	return sampleOnly(t, t.Stderr), nil
}

func (testResultResolver) Diff(_ context.Context, t *coderunner.TestResult) (*string, error) {
	return nullString(t.Diff), nil
}

// sampleOnly is a sample test's text ("" included), null for a hidden test.
func sampleOnly(t *coderunner.TestResult, text string) *string {
	if !t.Sample {
		return nil
	}
	return &text
}

type progressResolver struct{ *Resolver }

func (progressResolver) Problem(ctx context.Context, p *coderunner.Progress) (*coderunner.Problem, error) {
	return optionalProblem(ctx, p.ProblemID)
}

func (progressResolver) BestVerdict(_ context.Context, p *coderunner.Progress) (*coderunner.Verdict, error) {
	return nullVerdict(p.BestVerdict), nil
}

func (progressResolver) SolvedAt(_ context.Context, p *coderunner.Progress) (*time.Time, error) {
	return nullTime(p.SolvedAt), nil
}

// MyProgress is the caller's progress on the problem; null for a guest.
func (r problemResolver) MyProgress(ctx context.Context, p *coderunner.Problem) (*coderunner.Progress, error) {
	if coderunner.CallerFrom(ctx).User == nil {
		return nil, nil
	}
	progress, err := loaders.For(ctx).Progress.Load(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if progress.Total == 0 {
		progress.Total = len(p.SampleTests) + len(p.HiddenTests)
	}
	return &progress, nil
}

// MyProgress is the caller's progress on the level; null for a guest.
func (r levelResolver) MyProgress(ctx context.Context, l *coderunner.Level) (*graph.LevelProgress, error) {
	if coderunner.CallerFrom(ctx).User == nil {
		return nil, nil
	}
	problems, err := loaders.For(ctx).ProblemsInLevel.Load(ctx, l.ID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(problems))
	for i, p := range problems {
		ids[i] = p.ID
	}
	progress, err := loaders.For(ctx).Progress.LoadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	lp := graph.LevelProgress{Total: len(problems)}
	for _, p := range progress {
		if p.Solved() {
			lp.Solved++
		}
	}
	lp.Completed = lp.Total > 0 && lp.Solved == lp.Total
	return &lp, nil
}

// Progress lists the user's progress on every problem they submitted to.
func (r userResolver) Progress(ctx context.Context, u *coderunner.User) ([]coderunner.Progress, error) {
	all, err := r.Submissions.Store.Progress(ctx, u.ID, nil)
	if err != nil {
		return nil, err
	}
	out := make([]coderunner.Progress, 0, len(all))
	for _, p := range all {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b coderunner.Progress) int { return strings.Compare(a.ProblemID, b.ProblemID) })
	return out, nil
}

// optionalProblem is the problem with id, or null if there is none.
func optionalProblem(ctx context.Context, id string) (*coderunner.Problem, error) {
	p, err := loaders.For(ctx).Problem.Load(ctx, id)
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return nil, nil
	}
	return pointer(p, err)
}

func nullVerdict(v coderunner.Verdict) *coderunner.Verdict {
	if v == "" {
		return nil
	}
	return &v
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
