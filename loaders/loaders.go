// Package loaders batches the curriculum reads of one GraphQL operation with
// dataloaders, so that a query costs one store call per kind of thing per
// level of nesting, however many items it touches; and reads each run an
// operation asks for once, however many aliases ask for it. The curriculum
// loaders record what they read in the context's Reads, if any, so that a
// cached response knows what it depends on.
package loaders

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"coderunner"
)

// DefaultWait is how long a loader collects keys before it fetches. gqlgen
// resolves sibling fields concurrently, so their loads arrive within
// microseconds on an idle machine; a busy one may split a batch in two,
// which costs a round trip, never a wrong answer.
const DefaultWait = time.Millisecond

// Loaders holds one operation's loaders. Each caches what it loaded for the
// life of the operation, and a loader that reads whole lists primes the
// loaders of their items: the levels of an age group are then known to the
// Level loader, so `problems { level { … } }` below them costs nothing.
type Loaders struct {
	curriculum       coderunner.CurriculumReader
	AgeGroup         *dataloadgen.Loader[string, coderunner.AgeGroup]
	LevelsInAgeGroup *dataloadgen.Loader[string, []coderunner.Level]
	Level            *dataloadgen.Loader[string, coderunner.Level]
	ProblemsInLevel  *dataloadgen.Loader[string, []coderunner.Problem]
	Problem          *dataloadgen.Loader[string, coderunner.Problem]
	// Run holds runs as the operation's caller may see them: a run may
	// hold megabytes, and 30 aliases of it must not read it 30 times.
	Run *dataloadgen.Loader[string, coderunner.Run]
	// Progress holds the caller's progress by problem id (the zero
	// Progress for a problem never submitted to): a level's problems cost
	// one read.
	Progress *dataloadgen.Loader[string, coderunner.Progress]
}

// ProgressReader reads a user's progress on problems (the store is one).
type ProgressReader interface {
	Progress(ctx context.Context, owner string, problemIDs []string) (map[string]coderunner.Progress, error)
}

// RunReader reads one run as a caller may see it, answering a run the
// caller may not see exactly like a missing one (runs.Service is one).
type RunReader interface {
	Get(ctx context.Context, caller coderunner.Caller, id string) (coderunner.Run, error)
}

// New returns loaders reading the curriculum from r, runs from runs and
// progress from progress, that collect keys for wait.
func New(r coderunner.CurriculumReader, runs RunReader, progress ProgressReader, wait time.Duration) *Loaders {
	l := &Loaders{curriculum: r}
	opt := dataloadgen.WithWait(wait)
	l.AgeGroup = dataloadgen.NewLoader(items(recorded(func(ctx context.Context, _ []string) (map[string]coderunner.AgeGroup, error) {
		// There are few age groups: read them all, whichever were asked
		// for (what the response depends on is those asked for).
		groups, err := l.allAgeGroups(ctx)
		bySlug := make(map[string]coderunner.AgeGroup, len(groups))
		for _, g := range groups {
			bySlug[g.Slug] = g
		}
		return bySlug, err
	}, coderunner.AgeGroupTag, nil), "age group"), opt)
	l.LevelsInAgeGroup = dataloadgen.NewLoader(lists(recorded(r.LevelsInAgeGroups, coderunner.AgeGroupTag, levelTags),
		func(lv coderunner.Level) { l.Level.Prime(lv.ID, lv) }), opt)
	l.Level = dataloadgen.NewLoader(items(recorded(r.Levels, coderunner.LevelTag, nil), "level"), opt)
	l.ProblemsInLevel = dataloadgen.NewLoader(lists(recorded(r.ProblemsInLevels, coderunner.LevelTag, problemTags),
		func(p coderunner.Problem) { l.Problem.Prime(p.ID, p) }), opt)
	l.Problem = dataloadgen.NewLoader(items(recorded(r.Problems, coderunner.ProblemTag, nil), "problem"), opt)
	l.Run = dataloadgen.NewLoader(eachRun(runs), opt)
	l.Progress = dataloadgen.NewLoader(callersProgress(progress), opt)
	return l
}

// callersProgress reads the progress of the operation's caller, who must
// be a signed-in user (resolvers answer null for a guest without asking).
func callersProgress(r ProgressReader) func(context.Context, []string) ([]coderunner.Progress, []error) {
	return func(ctx context.Context, ids []string) ([]coderunner.Progress, []error) {
		values, errs := make([]coderunner.Progress, len(ids)), make([]error, len(ids))
		user := coderunner.CallerFrom(ctx).User
		if user == nil {
			return values, errs
		}
		found, err := r.Progress(ctx, user.ID, ids)
		for i, id := range ids {
			values[i], errs[i] = found[id], err
			values[i].Owner, values[i].ProblemID = user.ID, id
		}
		return values, errs
	}
}

// eachRun reads the runs of a batch one by one: runs are read by id, few
// to an operation, and what the loader saves is reading one twice. The
// cache is keyed by id alone, which is right because every load of one
// operation's loaders carries the operation's caller in its context.
func eachRun(runs RunReader) func(context.Context, []string) ([]coderunner.Run, []error) {
	return func(ctx context.Context, ids []string) ([]coderunner.Run, []error) {
		caller := coderunner.CallerFrom(ctx)
		values, errs := make([]coderunner.Run, len(ids)), make([]error, len(ids))
		for i, id := range ids {
			values[i], errs[i] = runs.Get(ctx, caller, id)
		}
		return values, errs
	}
}

// AgeGroups reads every age group and primes the AgeGroup loader with
// them. It records a read of the list of all age groups.
func (l *Loaders) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	record(ctx, coderunner.AgeGroupListTag)
	return l.allAgeGroups(ctx)
}

// allAgeGroups is AgeGroups without recording the read.
func (l *Loaders) allAgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	groups, err := l.curriculum.AgeGroups(ctx)
	for _, g := range groups {
		l.AgeGroup.Prime(g.Slug, g)
	}
	return groups, err
}

type batchRead[V any] func(ctx context.Context, ids []string) (map[string]V, error)

// items adapts a batched read by id; a missing id is NOT_FOUND.
func items[V any](read batchRead[V], what string) func(context.Context, []string) ([]V, []error) {
	return func(ctx context.Context, ids []string) ([]V, []error) {
		found, err := read(ctx, ids)
		values, errs := make([]V, len(ids)), make([]error, len(ids))
		for i, id := range ids {
			v, ok := found[id]
			switch {
			case err != nil:
				errs[i] = err
			case !ok:
				errs[i] = coderunner.Errorf(coderunner.NotFound, "no %s with id %q", what, id)
			default:
				values[i] = v
			}
		}
		return values, errs
	}
}

// lists adapts a batched read of lists; a missing key is an empty list.
// Each item read is passed to prime.
func lists[V any](read batchRead[[]V], prime func(V)) func(context.Context, []string) ([][]V, []error) {
	return func(ctx context.Context, keys []string) ([][]V, []error) {
		found, err := read(ctx, keys)
		values := make([][]V, len(keys))
		if err != nil {
			errs := make([]error, len(keys))
			for i := range errs {
				errs[i] = err
			}
			return values, errs
		}
		for i, k := range keys {
			values[i] = found[k]
			for _, v := range values[i] {
				prime(v)
			}
		}
		return values, nil
	}
}

type contextKey struct{}

// NewContext returns a copy of ctx carrying l. The server gives each
// GraphQL operation its own loaders, so that what they cache lives as long
// as the operation: a WebSocket carries many over its life.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, contextKey{}, l)
}

// For returns the loaders of the operation that ctx belongs to.
func For(ctx context.Context) *Loaders {
	return ctx.Value(contextKey{}).(*Loaders)
}
