// Package cache keeps hot data in process with ristretto: curriculum reads
// (Store), persisted queries (APQ) and whole public responses
// (Responses), each bounded by a cost in bytes.
package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"coderunner"
)

// Store decorates a coderunner.Store with a read cache. Each cached entry is
// the answer for one key (one age group's levels, one level, …), so a batched
// read asks the inner store only for the keys it misses. Writes go through to
// the inner store and then drop exactly the entries the write can change.
// Writes this Store does not see — `coderunner seed`, another replica — show
// once the entries they touch expire, ttl after they were read.
// Everything else — runs, submissions, gradings, progress, accounts —
// passes through to the inner store, uncached.
type Store struct {
	coderunner.Store
	entries *ristretto.Cache[string, any]
	ttl     time.Duration

	// mu orders reads that fill the cache against invalidations: a read
	// holds it shared from its store fetch until its Set is queued, and an
	// invalidation holds it exclusively. So a fill that read the old
	// content is always queued before, and undone by, the Del that follows
	// the write; ristretto applies Sets and Dels in queue order.
	mu sync.RWMutex
	// generation counts content changes; response caches key on it.
	generation   atomic.Uint64
	hits, misses atomic.Uint64
}

var _ coderunner.Store = (*Store)(nil)

// NewStore returns a Store over inner holding at most maxBytes of entries,
// each for at most ttl.
func NewStore(inner coderunner.Store, maxBytes int64, ttl time.Duration) (*Store, error) {
	entries, err := newCache[any](maxBytes)
	if err != nil {
		return nil, err
	}
	return &Store{Store: inner, entries: entries, ttl: ttl}, nil
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

// Generation changes whenever content changes through this Store.
func (s *Store) Generation() uint64 { return s.generation.Load() }

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

// cached answers ids from the cache and the rest with one call to fetch.
// Ids that fetch does not return are not cached: the next read asks again.
func cached[V any](s *Store, prefix string, ids []string, cost func(V) int64,
	fetch func([]string) (map[string]V, error)) (map[string]V, error) {
	out := make(map[string]V, len(ids))
	var missing []string
	for _, id := range ids {
		if v, ok := s.entries.Get(prefix + id); ok {
			out[id] = v.(V)
		} else {
			missing = append(missing, id)
		}
	}
	s.hits.Add(uint64(len(ids) - len(missing)))
	if len(missing) == 0 {
		return out, nil
	}
	s.misses.Add(uint64(len(missing)))
	s.mu.RLock()
	defer s.mu.RUnlock()
	fetched, err := fetch(missing)
	if err != nil {
		return nil, err
	}
	for id, v := range fetched {
		out[id] = v
		s.entries.SetWithTTL(prefix+id, v, cost(v), s.ttl)
	}
	return out, nil
}

// listed is like cached for keys whose value is a list: a key with no
// items is an empty list, and is cached as one.
func listed[V any](s *Store, prefix string, ids []string, cost func([]V) int64,
	fetch func([]string) (map[string][]V, error)) (map[string][]V, error) {
	return cached(s, prefix, ids, cost, func(missing []string) (map[string][]V, error) {
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

// AgeGroups returns every age group.
func (s *Store) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	all, err := cached(s, ageGroupsKey, []string{""}, ageGroupsCost, func([]string) (map[string][]coderunner.AgeGroup, error) {
		groups, err := s.Store.AgeGroups(ctx)
		return map[string][]coderunner.AgeGroup{"": groups}, err
	})
	return all[""], err
}

// LevelsInAgeGroups returns the levels of each age group.
func (s *Store) LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]coderunner.Level, error) {
	return listed(s, levelsInGroup, slugs, levelsCost, func(missing []string) (map[string][]coderunner.Level, error) {
		return s.Store.LevelsInAgeGroups(ctx, missing)
	})
}

// Levels returns the levels with the given ids.
func (s *Store) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	return cached(s, levelKey, ids, levelCost, func(missing []string) (map[string]coderunner.Level, error) {
		return s.Store.Levels(ctx, missing)
	})
}

// ProblemsInLevels returns the problems of each level.
func (s *Store) ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	return listed(s, problemsInLevel, levelIDs, problemsCost, func(missing []string) (map[string][]coderunner.Problem, error) {
		return s.Store.ProblemsInLevels(ctx, missing)
	})
}

// Problems returns the problems with the given ids.
func (s *Store) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	return cached(s, problemKey, ids, problemCost, func(missing []string) (map[string]coderunner.Problem, error) {
		return s.Store.Problems(ctx, missing)
	})
}

// PutAgeGroup writes through and drops the age group list.
func (s *Store) PutAgeGroup(ctx context.Context, g coderunner.AgeGroup) error {
	if err := s.Store.PutAgeGroup(ctx, g); err != nil {
		return err
	}
	s.Invalidate(ageGroupsKey)
	return nil
}

// PutLevel writes through and drops the level and the level lists of the
// age groups it is in and was in.
func (s *Store) PutLevel(ctx context.Context, l coderunner.Level) error {
	keys, err := s.levelKeys(ctx, l.ID)
	if err != nil {
		return err
	}
	if err := s.Store.PutLevel(ctx, l); err != nil {
		return err
	}
	s.Invalidate(append(keys, levelKey+l.ID, levelsInGroup+l.AgeGroup)...)
	return nil
}

// DeleteLevel writes through and drops what PutLevel would.
func (s *Store) DeleteLevel(ctx context.Context, id string) error {
	keys, err := s.levelKeys(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteLevel(ctx, id); err != nil {
		return err
	}
	s.Invalidate(append(keys, problemsInLevel+id)...)
	return nil
}

// PutProblem writes through and drops the problem, the problem lists of the
// levels it is in and was in, and those levels (their problem counts).
func (s *Store) PutProblem(ctx context.Context, p coderunner.Problem) error {
	keys, err := s.problemKeys(ctx, p.ID)
	if err != nil {
		return err
	}
	if err := s.Store.PutProblem(ctx, p); err != nil {
		return err
	}
	more, err := s.levelKeys(ctx, p.LevelID)
	if err != nil {
		return err
	}
	s.Invalidate(append(append(keys, more...), problemKey+p.ID, problemsInLevel+p.LevelID)...)
	return nil
}

// DeleteProblem writes through and drops what PutProblem would.
func (s *Store) DeleteProblem(ctx context.Context, id string) error {
	keys, err := s.problemKeys(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteProblem(ctx, id); err != nil {
		return err
	}
	s.Invalidate(keys...)
	return nil
}

// levelKeys returns the keys a change to level id touches, as it is now
// in the store (none if it does not exist).
func (s *Store) levelKeys(ctx context.Context, id string) ([]string, error) {
	levels, err := s.Store.Levels(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	l, ok := levels[id]
	if !ok {
		return nil, nil
	}
	return []string{levelKey + id, levelsInGroup + l.AgeGroup}, nil
}

// problemKeys returns the keys a change to problem id touches, as it is now
// in the store: the problem, its level's problem list, and its level.
func (s *Store) problemKeys(ctx context.Context, id string) ([]string, error) {
	problems, err := s.Store.Problems(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	p, ok := problems[id]
	if !ok {
		return nil, nil
	}
	keys, err := s.levelKeys(ctx, p.LevelID)
	if err != nil {
		return nil, err
	}
	return append(keys, problemKey+id, problemsInLevel+p.LevelID), nil
}

// Invalidate drops the given cache keys and starts a new content
// generation. Writes through this Store call it; a replica that learns of
// another replica's write calls it with the keys that replica dropped.
func (s *Store) Invalidate(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.entries.Del(k)
	}
	s.generation.Add(1)
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
