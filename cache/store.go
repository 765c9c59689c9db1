// Package cache keeps hot data in process with ristretto: curriculum reads
// (Store), persisted queries (APQ) and whole public responses
// (Responses), each bounded by a cost in bytes.
package cache

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"coderunner"
)

// Store decorates a coderunner.Store with a read cache. Each cached entry is
// the answer for one key (one age group's levels, one level, …), so a batched
// read asks the inner store only for the keys it misses. Each entry records
// the content tags it was read from (a list: its parent and each item) and
// is stale once a change names one of them (see Versions): writes go
// through to the inner store and then invalidate what they changed, and
// Invalidate applies a change another process made (a replica that heard
// of it from the broker). Changes nobody announces — `coderunner seed` run
// against a serving deployment — show once the entries they touch expire,
// ttl after they were read.
// Everything else — runs, submissions, gradings, progress, accounts —
// passes through to the inner store, uncached.
type Store struct {
	coderunner.Store
	entries  *ristretto.Cache[string, entry]
	ttl      time.Duration
	versions *Versions

	hits, misses atomic.Uint64
}

// entry is a cached value, valid while none of tags has changed since the
// Versions count was at.
type entry struct {
	value any
	at    uint64
	tags  []string
}

var _ coderunner.Store = (*Store)(nil)

// NewStore returns a Store over inner holding at most maxBytes of entries,
// each for at most ttl.
func NewStore(inner coderunner.Store, maxBytes int64, ttl time.Duration) (*Store, error) {
	entries, err := newCache[entry](maxBytes)
	if err != nil {
		return nil, err
	}
	return &Store{Store: inner, entries: entries, ttl: ttl, versions: NewVersions()}, nil
}

func newCache[V any](maxBytes int64) (*ristretto.Cache[string, V], error) {
	return ristretto.NewCache(&ristretto.Config[string, V]{
		// ristretto advises 10 counters per item it may hold; entries here
		// are about 1 KiB.
		NumCounters: max(1000, maxBytes/1024*10),
		MaxCost:     maxBytes,
		BufferItems: 64,
	})
}

// Versions are the content versions the Store's entries are checked
// against: a response cache made with them (NewResponses) drops what a
// change reaches as the Store does.
func (s *Store) Versions() *Versions { return s.versions }

// Stats returns the number of keys served from the cache and from the store.
func (s *Store) Stats() (hits, misses uint64) { return s.hits.Load(), s.misses.Load() }

// Wait blocks until queued cache writes are applied (for tests).
func (s *Store) Wait() { s.entries.Wait() }

// Close releases the cache and closes the inner store.
func (s *Store) Close() error {
	s.entries.Close()
	return s.Store.Close()
}

const (
	ageGroupsKey    = "ageGroups"
	levelsInGroup   = "levelsIn:"
	levelKey        = "level:"
	problemsInLevel = "problemsIn:"
	problemKey      = "problem:"
)

// cached answers ids from the cache and the rest with one call to fetch;
// tags names what the value of an id was read from. Ids that fetch does
// not return are not cached: the next read asks again.
func cached[V any](s *Store, prefix string, ids []string, cost func(V) int64, tags func(id string, v V) []string,
	fetch func([]string) (map[string]V, error)) (map[string]V, error) {
	out := make(map[string]V, len(ids))
	var missing []string
	for _, id := range ids {
		if e, ok := s.entries.Get(prefix + id); ok && s.versions.Fresh(e.at, e.tags) {
			out[id] = e.value.(V)
		} else {
			missing = append(missing, id)
		}
	}
	s.hits.Add(uint64(len(ids) - len(missing)))
	if len(missing) == 0 {
		return out, nil
	}
	s.misses.Add(uint64(len(missing)))
	// Before the read: a change from now on makes what it reads stale.
	at := s.versions.Now()
	fetched, err := fetch(missing)
	if err != nil {
		return nil, err
	}
	for _, id := range missing {
		v, ok := fetched[id]
		if !ok {
			s.entries.Del(prefix + id) // a stale entry of something deleted
			continue
		}
		out[id] = v
		s.entries.SetWithTTL(prefix+id, entry{value: v, at: at, tags: tags(id, v)}, cost(v), s.ttl)
	}
	return out, nil
}

// listed is like cached for keys whose value is a list: a key with no
// items is an empty list, and is cached as one.
func listed[V any](s *Store, prefix string, ids []string, cost func([]V) int64, tags func(id string, v []V) []string,
	fetch func([]string) (map[string][]V, error)) (map[string][]V, error) {
	return cached(s, prefix, ids, cost, tags, func(missing []string) (map[string][]V, error) {
		fetched, err := fetch(missing)
		if err != nil {
			return nil, err
		}
		for _, id := range missing {
			if _, ok := fetched[id]; !ok {
				fetched[id] = []V{}
			}
		}
		return fetched, nil
	})
}

// The tags of each kind of entry: an item depends on itself; a list on
// its parent and on each item it lists.

func ageGroupsTags(string, []coderunner.AgeGroup) []string {
	return []string{coderunner.AgeGroupListTag}
}

func levelTags(id string, _ coderunner.Level) []string { return []string{coderunner.LevelTag(id)} }

func levelsTags(slug string, levels []coderunner.Level) []string {
	tags := []string{coderunner.AgeGroupTag(slug)}
	for _, l := range levels {
		tags = append(tags, coderunner.LevelTag(l.ID))
	}
	return tags
}

func problemTags(id string, _ coderunner.Problem) []string {
	return []string{coderunner.ProblemTag(id)}
}

func problemsTags(levelID string, problems []coderunner.Problem) []string {
	tags := []string{coderunner.LevelTag(levelID)}
	for _, p := range problems {
		tags = append(tags, coderunner.ProblemTag(p.ID))
	}
	return tags
}

// AgeGroups returns every age group.
func (s *Store) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	all, err := cached(s, ageGroupsKey, []string{""}, ageGroupsCost, ageGroupsTags, func([]string) (map[string][]coderunner.AgeGroup, error) {
		groups, err := s.Store.AgeGroups(ctx)
		return map[string][]coderunner.AgeGroup{"": groups}, err
	})
	return all[""], err
}

// LevelsInAgeGroups returns the levels of each age group.
func (s *Store) LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]coderunner.Level, error) {
	return listed(s, levelsInGroup, slugs, levelsCost, levelsTags, func(missing []string) (map[string][]coderunner.Level, error) {
		return s.Store.LevelsInAgeGroups(ctx, missing)
	})
}

// Levels returns the levels with the given ids.
func (s *Store) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	return cached(s, levelKey, ids, levelCost, levelTags, func(missing []string) (map[string]coderunner.Level, error) {
		return s.Store.Levels(ctx, missing)
	})
}

// ProblemsInLevels returns the problems of each level.
func (s *Store) ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	return listed(s, problemsInLevel, levelIDs, problemsCost, problemsTags, func(missing []string) (map[string][]coderunner.Problem, error) {
		return s.Store.ProblemsInLevels(ctx, missing)
	})
}

// Problems returns the problems with the given ids.
func (s *Store) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	return cached(s, problemKey, ids, problemCost, problemTags, func(missing []string) (map[string]coderunner.Problem, error) {
		return s.Store.Problems(ctx, missing)
	})
}

// PutAgeGroup writes through and invalidates the age group.
func (s *Store) PutAgeGroup(ctx context.Context, g coderunner.AgeGroup) error {
	if err := s.Store.PutAgeGroup(ctx, g); err != nil {
		return err
	}
	s.Invalidate(coderunner.ContentChange{AgeGroups: []string{g.Slug}})
	return nil
}

// PutLevel writes through and invalidates the level, and the age groups
// it is in and was in if it is new, moved or changed position.
func (s *Store) PutLevel(ctx context.Context, l coderunner.Level) error {
	old, found, err := s.storedLevel(ctx, l.ID)
	if err != nil {
		return err
	}
	if err := s.Store.PutLevel(ctx, l); err != nil {
		return err
	}
	c := coderunner.ContentChange{Levels: []string{l.ID}}
	if !found || old.AgeGroup != l.AgeGroup || old.Position != l.Position {
		c.AgeGroups = parents(l.AgeGroup, old.AgeGroup)
	}
	s.Invalidate(c)
	return nil
}

// DeleteLevel writes through and invalidates the level and its age group.
func (s *Store) DeleteLevel(ctx context.Context, id string) error {
	old, _, err := s.storedLevel(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteLevel(ctx, id); err != nil {
		return err
	}
	s.Invalidate(coderunner.ContentChange{Levels: []string{id}, AgeGroups: parents(old.AgeGroup)})
	return nil
}

// PutProblem writes through and invalidates the problem, and the levels it
// is in and was in (their problem lists and counts) if it is new, moved or
// changed position.
func (s *Store) PutProblem(ctx context.Context, p coderunner.Problem) error {
	old, found, err := s.storedProblem(ctx, p.ID)
	if err != nil {
		return err
	}
	if err := s.Store.PutProblem(ctx, p); err != nil {
		return err
	}
	c := coderunner.ContentChange{Problems: []string{p.ID}}
	if !found || old.LevelID != p.LevelID || old.Position != p.Position {
		c.Levels = parents(p.LevelID, old.LevelID)
	}
	s.Invalidate(c)
	return nil
}

// DeleteProblem writes through and invalidates the problem and its level.
func (s *Store) DeleteProblem(ctx context.Context, id string) error {
	old, _, err := s.storedProblem(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteProblem(ctx, id); err != nil {
		return err
	}
	s.Invalidate(coderunner.ContentChange{Problems: []string{id}, Levels: parents(old.LevelID)})
	return nil
}

// storedLevel reads level id from the inner store, as it is before a write.
func (s *Store) storedLevel(ctx context.Context, id string) (coderunner.Level, bool, error) {
	levels, err := s.Store.Levels(ctx, []string{id})
	l, ok := levels[id]
	return l, ok, err
}

// storedProblem reads problem id from the inner store, as it is before a
// write.
func (s *Store) storedProblem(ctx context.Context, id string) (coderunner.Problem, bool, error) {
	problems, err := s.Store.Problems(ctx, []string{id})
	p, ok := problems[id]
	return p, ok, err
}

// parents returns the non-empty ids among ids, each once.
func parents(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Invalidate drops every entry read from content c names (the entries
// its own writes drop, for a write that changed what c names): an entry
// read from them, before or while Invalidate runs, is not served after it
// returns. Writes through this Store call it; a replica that hears of
// another's write (coderunner.ContentChanges) calls it with the change.
// A response cache sharing the Store's Versions drops its responses read
// from c at the same time.
func (s *Store) Invalidate(c coderunner.ContentChange) {
	s.versions.Change(c.Tags())
}

// Costs approximate the bytes an entry holds.
func ageGroupsCost(gs []coderunner.AgeGroup) int64 {
	n := int64(64)
	for _, g := range gs {
		n += int64(64 + len(g.Slug) + len(g.Title) + len(g.Description))
	}
	return n
}

func levelCost(l coderunner.Level) int64 {
	return int64(96 + len(l.ID) + len(l.AgeGroup) + len(l.Title) + len(l.Description))
}

func levelsCost(ls []coderunner.Level) int64 {
	n := int64(64)
	for _, l := range ls {
		n += levelCost(l)
	}
	return n
}

func problemCost(p coderunner.Problem) int64 {
	n := int64(160 + len(p.ID) + len(p.LevelID) + len(p.Title) + len(p.Statement) + len(p.StarterCode) + len(p.ReferenceSolution))
	for _, tests := range [][]coderunner.TestCase{p.SampleTests, p.HiddenTests} {
		for _, tc := range tests {
			n += int64(32 + len(tc.Input) + len(tc.Output) + len(tc.Hint))
		}
	}
	return n
}

func problemsCost(ps []coderunner.Problem) int64 {
	n := int64(64)
	for _, p := range ps {
		n += problemCost(p)
	}
	return n
}
