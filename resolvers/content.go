package resolvers

import (
	"context"

	"coderunner"
	"coderunner/graph"
)

// Content editing: each resolver passes the caller to the content
// service, which authorizes, checks, writes, audits and announces.

func (r queryResolver) ProblemForEditing(ctx context.Context, id string) (*coderunner.Problem, error) {
	return pointer(r.Content.ProblemForEditing(ctx, coderunner.CallerFrom(ctx), id))
}

func (r queryResolver) ProblemsForEditing(ctx context.Context, levelID string) ([]coderunner.Problem, error) {
	return r.Content.ProblemsForEditing(ctx, coderunner.CallerFrom(ctx), levelID)
}

func (r queryResolver) ExportCurriculum(ctx context.Context) (string, error) {
	file, err := r.Content.Export(ctx, coderunner.CallerFrom(ctx))
	return string(file), err
}

func (r mutationResolver) CreateProblem(ctx context.Context, in coderunner.Problem) (coderunner.Problem, error) {
	return r.Content.CreateProblem(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) UpdateProblem(ctx context.Context, in coderunner.Problem) (coderunner.Problem, error) {
	return r.Content.UpdateProblem(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) DeleteProblem(ctx context.Context, id string, version int) (bool, error) {
	return done(r.Content.DeleteProblem(ctx, coderunner.CallerFrom(ctx), id, int64(version)))
}

func (r mutationResolver) ReorderProblems(ctx context.Context, levelID string, version int, ids []string) (coderunner.Level, error) {
	return r.Content.ReorderProblems(ctx, coderunner.CallerFrom(ctx), levelID, int64(version), ids)
}

func (r mutationResolver) CreateLevel(ctx context.Context, in coderunner.Level) (coderunner.Level, error) {
	return r.Content.CreateLevel(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) UpdateLevel(ctx context.Context, in coderunner.Level) (coderunner.Level, error) {
	return r.Content.UpdateLevel(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) DeleteLevel(ctx context.Context, id string, version int) (bool, error) {
	return done(r.Content.DeleteLevel(ctx, coderunner.CallerFrom(ctx), id, int64(version)))
}

func (r mutationResolver) ReorderLevels(ctx context.Context, ageGroup string, version int, ids []string) (coderunner.AgeGroup, error) {
	return r.Content.ReorderLevels(ctx, coderunner.CallerFrom(ctx), ageGroup, int64(version), ids)
}

func (r mutationResolver) CreateAgeGroup(ctx context.Context, in coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	return r.Content.CreateAgeGroup(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) UpdateAgeGroup(ctx context.Context, in coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	return r.Content.UpdateAgeGroup(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) DeleteAgeGroup(ctx context.Context, slug string, version int) (bool, error) {
	return done(r.Content.DeleteAgeGroup(ctx, coderunner.CallerFrom(ctx), slug, int64(version)))
}

func (r mutationResolver) ImportCurriculum(ctx context.Context, yaml string) (graph.ImportResult, error) {
	c, err := r.Content.Import(ctx, coderunner.CallerFrom(ctx), []byte(yaml))
	if err != nil {
		return graph.ImportResult{}, err
	}
	return graph.ImportResult{AgeGroups: len(c.AgeGroups), Levels: len(c.Levels), Problems: len(c.Problems)}, nil
}

func (r *Resolver) Checker() graph.CheckerResolver { return checkerResolver{} }

type checkerResolver struct{}

// Kind names the default checker: the zero Kind is "lines".
func (checkerResolver) Kind(_ context.Context, c *coderunner.Checker) (string, error) {
	if c.Kind == "" {
		return string(coderunner.CheckLines), nil
	}
	return string(c.Kind), nil
}

func (r *Resolver) CheckerInput() graph.CheckerInputResolver { return checkerInputResolver{} }

type checkerInputResolver struct{}

// Kind takes the checker's name as given: the store's validation refuses
// an unknown one with the list of known ones.
func (checkerInputResolver) Kind(_ context.Context, c *coderunner.Checker, kind string) error {
	c.Kind = coderunner.CheckerKind(kind)
	return nil
}

// done is a mutation's Boolean! answer: true, or its error.
func done(err error) (bool, error) { return err == nil, err }
