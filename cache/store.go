// Package cache keeps hot data in process with ristretto: curriculum reads
// (Store), persisted queries (APQ) and whole public responses
// (Responses), each bounded by a cost in bytes.
package cache

import (
	"context"
	"slices"
	"strings"
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

// Writes. Each reads, from the inner store, what the write can change
// (the parents an object is in, the siblings a renumbering moves), writes
// through, and then drops those entries. The Editor reads (drafts
// included) pass through uncached.

// PutAgeGroup writes through and drops the age group list.
func (s *Store) PutAgeGroup(ctx context.Context, g coderunner.AgeGroup) error {
	return s.write([]string{ageGroupsKey, levelsInGroup + g.Slug}, s.Store.PutAgeGroup(ctx, g))
}

// write drops keys once err, the write's, is nil: it invalidates the
// change that reaches them (changeOf).
func (s *Store) write(keys []string, err error) error {
	if err != nil {
		return err
	}
	s.Invalidate(changeOf(keys))
	return nil
}

// changeOf is the content change that reaches the entries of keys. A
// change reaches an entry through the tags it was read with: an object's
// own, and a list's parent and items (ContentChange.Tags). So naming the
// objects a write changes reaches the lists they are in, and a list key
// needs naming only where the set of its items changed: a level's
// problems with the level (its count and version change too), an age
// group's levels with the age group, which the write then lists beside
// ageGroupsKey (its version changes).
func changeOf(keys []string) coderunner.ContentChange {
	var c coderunner.ContentChange
	groupChanged := slices.Contains(keys, ageGroupsKey)
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, levelsInGroup) && groupChanged:
			c.AgeGroups = append(c.AgeGroups, strings.TrimPrefix(k, levelsInGroup))
		case strings.HasPrefix(k, levelKey):
			c.Levels = append(c.Levels, strings.TrimPrefix(k, levelKey))
		case strings.HasPrefix(k, problemKey):
			c.Problems = append(c.Problems, strings.TrimPrefix(k, problemKey))
		}
	}
	return c
}

// written is write for a write that returns what it stored.
func written[T any](s *Store, keys []string) func(v T, err error) (T, error) {
	return func(v T, err error) (T, error) {
		return v, s.write(keys, err)
	}
}

// CreateAgeGroup writes through and drops the age group list.
func (s *Store) CreateAgeGroup(ctx context.Context, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	return written[coderunner.AgeGroup](s, []string{ageGroupsKey, levelsInGroup + g.Slug})(s.Store.CreateAgeGroup(ctx, g))
}

// UpdateAgeGroup writes through and drops the age group list.
func (s *Store) UpdateAgeGroup(ctx context.Context, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	return written[coderunner.AgeGroup](s, []string{ageGroupsKey, levelsInGroup + g.Slug})(s.Store.UpdateAgeGroup(ctx, g))
}

// DeleteAgeGroup writes through and drops the age group list and its
// (empty) level list.
func (s *Store) DeleteAgeGroup(ctx context.Context, slug string, version int64) error {
	return s.write([]string{ageGroupsKey, levelsInGroup + slug}, s.Store.DeleteAgeGroup(ctx, slug, version))
}

// PutLevel writes through and drops the level and the level lists of the
// age groups it is in and was in, and, if it is new, moved or
// repositioned, the age group list (their versions).
func (s *Store) PutLevel(ctx context.Context, l coderunner.Level) error {
	cur, found, err := s.level(ctx, l.ID)
	if err != nil {
		return err
	}
	keys := []string{levelKey + l.ID, levelsInGroup + l.AgeGroup}
	if !found || cur.AgeGroup != l.AgeGroup || cur.Position != l.Position {
		keys = append(keys, ageGroupsKey, levelsInGroup+cur.AgeGroup)
	}
	return s.write(keys, s.Store.PutLevel(ctx, l))
}

// level reads a level from the inner store.
func (s *Store) level(ctx context.Context, id string) (coderunner.Level, bool, error) {
	levels, err := s.Store.Levels(ctx, []string{id})
	l, ok := levels[id]
	return l, ok, err
}

// CreateLevel writes through and drops the level, its age group's list
// and the levels there that renumbering moves, and the age group list.
func (s *Store) CreateLevel(ctx context.Context, l coderunner.Level) (coderunner.Level, error) {
	keys, err := s.groupKeys(ctx, l.AgeGroup, "")
	if err != nil {
		return l, err
	}
	return written[coderunner.Level](s, append(keys, levelKey+l.ID))(s.Store.CreateLevel(ctx, l))
}

// UpdateLevel writes through and drops the level and its age group's list
// and, if it moves, what CreateLevel and DeleteLevel would.
func (s *Store) UpdateLevel(ctx context.Context, l coderunner.Level) (coderunner.Level, error) {
	cur, found, err := s.level(ctx, l.ID)
	if err != nil {
		return l, err
	}
	keys := []string{levelKey + l.ID, levelsInGroup + l.AgeGroup}
	if found && cur.AgeGroup != l.AgeGroup {
		from, err := s.groupKeys(ctx, cur.AgeGroup, l.ID)
		if err != nil {
			return l, err
		}
		to, err := s.groupKeys(ctx, l.AgeGroup, "")
		if err != nil {
			return l, err
		}
		keys = append(append(keys, from...), to...)
	}
	return written[coderunner.Level](s, keys)(s.Store.UpdateLevel(ctx, l))
}

// DeleteLevel writes through and drops the level, its (empty) problem
// list, and its age group's list and the levels there that renumbering
// moves.
func (s *Store) DeleteLevel(ctx context.Context, id string, version int64) error {
	cur, found, err := s.level(ctx, id)
	if err != nil {
		return err
	}
	keys := []string{levelKey + id, problemsInLevel + id}
	if found {
		more, err := s.groupKeys(ctx, cur.AgeGroup, id)
		if err != nil {
			return err
		}
		keys = append(keys, more...)
	}
	return s.write(keys, s.Store.DeleteLevel(ctx, id, version))
}

// ReorderLevels writes through and drops the age group list, the age
// group's level list and the levels that move.
func (s *Store) ReorderLevels(ctx context.Context, ageGroup string, groupVersion int64, ids []string) error {
	levels, err := s.Store.LevelsInAgeGroups(ctx, []string{ageGroup})
	if err != nil {
		return err
	}
	keys := append(reordered(levelKey, levels[ageGroup], ids, levelPosition), ageGroupsKey, levelsInGroup+ageGroup)
	return s.write(keys, s.Store.ReorderLevels(ctx, ageGroup, groupVersion, ids))
}

// groupKeys returns the keys a change to the levels of an age group
// touches, without level removed (if not ""): the age group list (its
// version), its level list and the levels that renumbering moves.
func (s *Store) groupKeys(ctx context.Context, slug, removed string) ([]string, error) {
	levels, err := s.Store.LevelsInAgeGroups(ctx, []string{slug})
	if err != nil {
		return nil, err
	}
	return append(renumbered(levelKey, levels[slug], removed, levelPosition), ageGroupsKey, levelsInGroup+slug), nil
}

// renumbered returns the keys of the children (ordered) whose position
// changes when removed (if not "") leaves and the rest are numbered 1..n.
func renumbered[T any](prefix string, children []T, removed string, pos func(T) (string, int)) []string {
	var keys []string
	n := 0
	for _, c := range children {
		id, p := pos(c)
		if id == removed {
			continue
		}
		if n++; p != n {
			keys = append(keys, prefix+id)
		}
	}
	return keys
}

// reordered returns the keys of the children whose position changes when
// they are ordered as ids.
func reordered[T any](prefix string, children []T, ids []string, pos func(T) (string, int)) []string {
	at := map[string]int{}
	for _, c := range children {
		id, p := pos(c)
		at[id] = p
	}
	var keys []string
	for i, id := range ids {
		if p, ok := at[id]; ok && p != i+1 {
			keys = append(keys, prefix+id)
		}
	}
	return keys
}

func levelPosition(l coderunner.Level) (string, int)     { return l.ID, l.Position }
func problemPosition(p coderunner.Problem) (string, int) { return p.ID, p.Position }

// PutProblem writes through and drops the problem and its level's problem
// list and, if it is new, moved, repositioned or (un)published, the
// levels it is in and was in (their counts and versions) and their lists.
func (s *Store) PutProblem(ctx context.Context, p coderunner.Problem) error {
	cur, err := s.Store.ProblemForEditing(ctx, p.ID)
	found := err == nil
	if err != nil && coderunner.ErrorCode(err) != coderunner.NotFound {
		return err
	}
	keys := []string{problemKey + p.ID, problemsInLevel + p.LevelID}
	if !found || cur.LevelID != p.LevelID || cur.Position != p.Position || cur.Draft != p.Draft {
		for _, id := range []string{p.LevelID, cur.LevelID} {
			more, err := s.inLevelKeys(ctx, id)
			if err != nil {
				return err
			}
			keys = append(keys, more...)
		}
	}
	return s.write(keys, s.Store.PutProblem(ctx, p))
}

// CreateProblem writes through and drops the problem, its level (count
// and version) and the level's list, and the problems there that
// renumbering moves.
func (s *Store) CreateProblem(ctx context.Context, p coderunner.Problem) (coderunner.Problem, error) {
	keys, err := s.levelProblemKeys(ctx, p.LevelID, "")
	if err != nil {
		return p, err
	}
	return written[coderunner.Problem](s, append(keys, problemKey+p.ID))(s.Store.CreateProblem(ctx, p))
}

// UpdateProblem writes through and drops the problem and its level's
// problem list; if it is (un)published, its level; if it moves, what
// CreateProblem and DeleteProblem would.
func (s *Store) UpdateProblem(ctx context.Context, p coderunner.Problem) (coderunner.Problem, error) {
	cur, err := s.Store.ProblemForEditing(ctx, p.ID)
	if err != nil {
		// NOT_FOUND, or the store is failing: the update will tell.
		return s.Store.UpdateProblem(ctx, p)
	}
	keys := []string{problemKey + p.ID, problemsInLevel + cur.LevelID}
	var more []string
	switch {
	case cur.LevelID != p.LevelID:
		from, err := s.levelProblemKeys(ctx, cur.LevelID, p.ID)
		if err != nil {
			return p, err
		}
		to, err := s.levelProblemKeys(ctx, p.LevelID, "")
		more = append(from, to...)
		if err != nil {
			return p, err
		}
	case cur.Draft != p.Draft:
		if more, err = s.inLevelKeys(ctx, p.LevelID); err != nil {
			return p, err
		}
	}
	return written[coderunner.Problem](s, append(keys, more...))(s.Store.UpdateProblem(ctx, p))
}

// DeleteProblem writes through and drops the problem, its level (count
// and version) and the level's list, and the problems there that
// renumbering moves.
func (s *Store) DeleteProblem(ctx context.Context, id string, version int64) error {
	cur, err := s.Store.ProblemForEditing(ctx, id)
	if err != nil {
		return s.Store.DeleteProblem(ctx, id, version)
	}
	keys, err := s.levelProblemKeys(ctx, cur.LevelID, id)
	if err != nil {
		return err
	}
	return s.write(append(keys, problemKey+id), s.Store.DeleteProblem(ctx, id, version))
}

// ReorderProblems writes through and drops the level (its version), its
// problem list and the problems that move.
func (s *Store) ReorderProblems(ctx context.Context, levelID string, levelVersion int64, ids []string) error {
	keys, err := s.inLevelKeys(ctx, levelID)
	if err != nil {
		return err
	}
	problems, err := s.Store.ProblemsForEditing(ctx, []string{levelID})
	if err != nil {
		return err
	}
	keys = append(keys, reordered(problemKey, problems[levelID], ids, problemPosition)...)
	return s.write(keys, s.Store.ReorderProblems(ctx, levelID, levelVersion, ids))
}

// inLevelKeys returns the keys a change to the set of problems in level id
// touches: its problem list, and the level (its count and version) with
// its age group's level list. Empty id: none.
func (s *Store) inLevelKeys(ctx context.Context, id string) ([]string, error) {
	if id == "" {
		return nil, nil
	}
	l, found, err := s.level(ctx, id)
	if err != nil || !found {
		return []string{problemsInLevel + id}, err
	}
	return []string{problemsInLevel + id, levelKey + id, levelsInGroup + l.AgeGroup}, nil
}

// levelProblemKeys is inLevelKeys and the level's problems (drafts
// included) that renumbering moves once removed (if not "") leaves.
func (s *Store) levelProblemKeys(ctx context.Context, id, removed string) ([]string, error) {
	keys, err := s.inLevelKeys(ctx, id)
	if err != nil {
		return nil, err
	}
	problems, err := s.Store.ProblemsForEditing(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return append(keys, renumbered(problemKey, problems[id], removed, problemPosition)...), nil
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
