package loaders

import (
	"context"
	"slices"
	"sync"

	"coderunner"
)

// Reads collects the content tags (coderunner.ProblemTag, …) of what the
// curriculum loaders read for one request: the content its response is
// computed from, and so what a change must reach to make a copy of the
// response stale. An item read depends on itself, a list on its parent and
// on every item listed ("the levels of age group X" on X and each level),
// the list of all age groups on coderunner.AgeGroupListTag. Safe for
// concurrent use; the zero value is ready.
type Reads struct {
	mu   sync.Mutex
	tags map[string]struct{}
}

// Add records tags.
func (r *Reads) Add(tags ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tags == nil {
		r.tags = make(map[string]struct{}, len(tags))
	}
	for _, t := range tags {
		r.tags[t] = struct{}{}
	}
}

// Tags returns the tags recorded, sorted.
func (r *Reads) Tags() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	tags := make([]string, 0, len(r.tags))
	for t := range r.tags {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	return tags
}

type readsKey struct{}

// WithReads returns a copy of ctx whose curriculum loads record what they
// read in r.
func WithReads(ctx context.Context, r *Reads) context.Context {
	return context.WithValue(ctx, readsKey{}, r)
}

// record adds tags to ctx's Reads, if it has one.
func record(ctx context.Context, tags ...string) {
	if r, ok := ctx.Value(readsKey{}).(*Reads); ok {
		r.Add(tags...)
	}
}

// recorded wraps a batched read so that it records, for each key asked
// for, tag(key), and for each value found, the tags of its items.
func recorded[V any](read batchRead[V], tag func(string) string, items func(V) []string) batchRead[V] {
	return func(ctx context.Context, ids []string) (map[string]V, error) {
		found, err := read(ctx, ids)
		if _, ok := ctx.Value(readsKey{}).(*Reads); !ok {
			return found, err
		}
		var tags []string
		for _, id := range ids {
			tags = append(tags, tag(id))
			if v, ok := found[id]; ok && items != nil {
				tags = append(tags, items(v)...)
			}
		}
		record(ctx, tags...)
		return found, err
	}
}

func levelTags(levels []coderunner.Level) []string {
	tags := make([]string, len(levels))
	for i, l := range levels {
		tags[i] = coderunner.LevelTag(l.ID)
	}
	return tags
}

func problemTags(problems []coderunner.Problem) []string {
	tags := make([]string, len(problems))
	for i, p := range problems {
		tags[i] = coderunner.ProblemTag(p.ID)
	}
	return tags
}
