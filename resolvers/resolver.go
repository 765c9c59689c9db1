// Package resolvers implements the GraphQL schema (graph.ResolverRoot) on
// top of the domain interfaces. Reads go through the operation's dataloaders.
package resolvers

import (
	"context"

	"coderunner"
	"coderunner/accounts"
	"coderunner/content"
	"coderunner/graph"
	"coderunner/loaders"
	"coderunner/runs"
	"coderunner/submissions"
)

// Resolver is the root resolver. Curriculum reads and run(id) go through
// the operation's loaders (loaders.For; the run loader asks the run
// service); the rest of runs through the run service; accounts through
// the accounts service. Who the caller is comes from the
// context (coderunner.CallerFrom), put there by the server.
type Resolver struct {
	Runs        *runs.Service
	Submissions *submissions.Service
	Content     *content.Service
	Accounts    *accounts.Service
	// Usage holds the cost model's measurements (costReport).
	Usage coderunner.UsageStore
	// TrackSubscription, if not nil, is called when a subscription starts
	// and the func it returns when it ends (for metrics).
	TrackSubscription func() (ended func())
}

var _ graph.ResolverRoot = (*Resolver)(nil)

func (r *Resolver) Query() graph.QueryResolver       { return queryResolver{r} }
func (r *Resolver) AgeGroup() graph.AgeGroupResolver { return ageGroupResolver{r} }
func (r *Resolver) Level() graph.LevelResolver       { return levelResolver{r} }
func (r *Resolver) Problem() graph.ProblemResolver   { return problemResolver{r} }

type queryResolver struct{ *Resolver }

func (r queryResolver) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	return loaders.For(ctx).AgeGroups(ctx)
}

func (r queryResolver) Levels(ctx context.Context, ageGroup string) ([]coderunner.Level, error) {
	levels, err := loaders.For(ctx).LevelsInAgeGroup.Load(ctx, ageGroup)
	if err != nil || len(levels) > 0 {
		return levels, err
	}
	// No levels: tell a mistyped age group (NOT_FOUND) from an empty one.
	if _, err := loaders.For(ctx).AgeGroup.Load(ctx, ageGroup); err != nil {
		return nil, err
	}
	return levels, nil
}

func (r queryResolver) Level(ctx context.Context, id string) (*coderunner.Level, error) {
	return pointer(loaders.For(ctx).Level.Load(ctx, id))
}

func (r queryResolver) Problem(ctx context.Context, id string) (*coderunner.Problem, error) {
	return pointer(loaders.For(ctx).Problem.Load(ctx, id))
}

type ageGroupResolver struct{ *Resolver }

func (r ageGroupResolver) Levels(ctx context.Context, g *coderunner.AgeGroup) ([]coderunner.Level, error) {
	return loaders.For(ctx).LevelsInAgeGroup.Load(ctx, g.Slug)
}

type levelResolver struct{ *Resolver }

func (r levelResolver) AgeGroup(ctx context.Context, l *coderunner.Level) (coderunner.AgeGroup, error) {
	return loaders.For(ctx).AgeGroup.Load(ctx, l.AgeGroup)
}

func (r levelResolver) Problems(ctx context.Context, l *coderunner.Level) ([]coderunner.Problem, error) {
	return loaders.For(ctx).ProblemsInLevel.Load(ctx, l.ID)
}

type problemResolver struct{ *Resolver }

func (r problemResolver) Level(ctx context.Context, p *coderunner.Problem) (coderunner.Level, error) {
	return loaders.For(ctx).Level.Load(ctx, p.LevelID)
}

// pointer adapts a loader's (value, error) to gqlgen's nullable (pointer, error).
func pointer[V any](v V, err error) (*V, error) {
	if err != nil {
		return nil, err
	}
	return &v, nil
}
