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

func (r mutationResolver) DeleteProblem(ctx context.Context, id string, version int64) (bool, error) {
	return done(r.Content.DeleteProblem(ctx, coderunner.CallerFrom(ctx), id, version))
}

func (r mutationResolver) ReorderProblems(ctx context.Context, levelID string, version int64, ids []string) (coderunner.Level, error) {
	return r.Content.ReorderProblems(ctx, coderunner.CallerFrom(ctx), levelID, version, ids)
}

func (r mutationResolver) CreateLevel(ctx context.Context, in coderunner.Level) (coderunner.Level, error) {
	return r.Content.CreateLevel(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) UpdateLevel(ctx context.Context, in coderunner.Level) (coderunner.Level, error) {
	return r.Content.UpdateLevel(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) DeleteLevel(ctx context.Context, id string, version int64) (bool, error) {
	return done(r.Content.DeleteLevel(ctx, coderunner.CallerFrom(ctx), id, version))
}

func (r mutationResolver) ReorderLevels(ctx context.Context, ageGroup string, version int64, ids []string) (coderunner.AgeGroup, error) {
	return r.Content.ReorderLevels(ctx, coderunner.CallerFrom(ctx), ageGroup, version, ids)
}

func (r mutationResolver) CreateAgeGroup(ctx context.Context, in coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	return r.Content.CreateAgeGroup(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) UpdateAgeGroup(ctx context.Context, in coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	return r.Content.UpdateAgeGroup(ctx, coderunner.CallerFrom(ctx), in)
}

func (r mutationResolver) DeleteAgeGroup(ctx context.Context, slug string, version int64) (bool, error) {
	return done(r.Content.DeleteAgeGroup(ctx, coderunner.CallerFrom(ctx), slug, version))
}

func (r mutationResolver) ImportCurriculum(ctx context.Context, yaml string) (graph.ImportResult, error) {
	c, err := r.Content.Import(ctx, coderunner.CallerFrom(ctx), []byte(yaml))
	if err != nil {
		return graph.ImportResult{}, err
	}
	return graph.ImportResult{AgeGroups: len(c.AgeGroups), Levels: len(c.Levels), Problems: len(c.Problems)}, nil
}

// done is a mutation's Boolean! answer: true, or its error.
func done(err error) (bool, error) { return err == nil, err }
