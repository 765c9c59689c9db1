package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner"
)

// Curriculum writes: each takes the holds it needs (holds.go), checks what
// it read under them, and writes. Documents that are created are inserted,
// not held: a unique _id settles which of two creates wins.

// newSeq is the seq of a new document: a number its id's earlier lives
// (deleted since) cannot have reached, so their stray claims never match.
func newSeq() int64 { return time.Now().UnixNano() }

// insert inserts doc; a taken id is CONFLICT.
func insert(ctx context.Context, coll *mongo.Collection, what, id string, doc any) error {
	_, err := coll.InsertOne(ctx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return coderunner.Errorf(coderunner.Conflict, "%s %q already exists: choose another id", what, id)
	}
	if err != nil {
		return fmt.Errorf("mongo store: insert %s %q: %w", what, id, err)
	}
	return nil
}

// edit runs write with a set of holds that it releases after, again if
// write answers errRetry (what it read before holding changed).
func (s *Store) edit(ctx context.Context, write func(*holds) error) error {
	for try := 0; ; try++ {
		hs := s.newHolds()
		err := write(hs)
		hs.release()
		if !errors.Is(err, errRetry) {
			return err
		}
		if try == 100 {
			return fmt.Errorf("%w: the curriculum kept changing under this write", coderunner.ErrBusy)
		}
	}
}

// errRetry is the error of a write to try again.
var errRetry = errors.New("retry")

// gone is err, of taking holds, as errRetry if something was not there: it
// moved or went since the write looked.
func gone(err error) error {
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return errRetry
	}
	return err
}

// goneUnless is gone, except for NOT_FOUND of want (the parent the caller
// named), which it returns.
func goneUnless(err, want error) error {
	if err != nil && err.Error() == want.Error() {
		return err
	}
	return gone(err)
}

// insertNew inserts doc, a new document that a put found absent; if
// another writer inserted it first, the put is tried again.
func insertNew(ctx context.Context, coll *mongo.Collection, what, id string, doc any) error {
	err := insert(ctx, coll, what, id, doc)
	if coderunner.ErrorCode(err) == coderunner.Conflict {
		return errRetry
	}
	return err
}

// children returns a parent's children (levels of an age group, problems
// of a level) in their stored order.
func children[D any](ctx context.Context, coll *mongo.Collection, parentKey, parentID string) ([]D, error) {
	return findAll[D](ctx, coll, bson.D{{Key: parentKey, Value: parentID}}, options.Find().SetSort(byPosition))
}

// positioned is a child document.
type positioned interface {
	key() string
	position() int
}

func (d levelDoc) position() int   { return d.Position }
func (d problemDoc) position() int { return d.Position }

// renumber returns the ids of children, in order, whose position is not
// their place (1..n) once removed (if not "") leaves, with those places.
func renumber[D positioned](children []D, removed string) map[string]int {
	moves := map[string]int{}
	n := 0
	for _, c := range children {
		if c.key() == removed {
			continue
		}
		if n++; c.position() != n {
			moves[c.key()] = n
		}
	}
	return moves
}

// reposition holds the children that moves names (or has held them) and
// writes their new positions.
func (hs *holds) reposition(ctx context.Context, child func(string) target, moves map[string]int) error {
	for id, pos := range moves {
		if err := hs.set(ctx, child(id), bson.D{{Key: "position", Value: pos}}); err != nil {
			return err
		}
	}
	return nil
}

// targets returns the targets of ids.
func targets(of func(string) target, ids map[string]int, more ...string) []target {
	var ts []target
	for id := range ids {
		ts = append(ts, of(id))
	}
	for _, id := range more {
		ts = append(ts, of(id))
	}
	return ts
}

// mustHold takes holds on ts and answers NOT_FOUND for the first that
// does not exist.
func (hs *holds) mustHold(ctx context.Context, ts ...target) error {
	absent, err := hs.take(ctx, ts...)
	if err != nil {
		return err
	}
	if len(absent) > 0 {
		return coderunner.Errorf(coderunner.NotFound, "%s %q does not exist", singular[absent[0].coll.Name()], absent[0].id)
	}
	return nil
}

var singular = map[string]string{ageGroupsColl: "age group", levelsColl: "level", problemsColl: "problem"}

// bumpLevel writes a held level's version + 1 and its problem count, which
// it counts (its hold covers its problems).
func (hs *holds) bumpLevel(ctx context.Context, id string) error {
	t := hs.s.levelTarget(id)
	l, err := decode[levelDoc](hs.get(t))
	if err != nil {
		return err
	}
	n, err := hs.s.problems.CountDocuments(ctx, bson.D{{Key: "levelId", Value: id}, {Key: "draft", Value: bson.D{{Key: "$ne", Value: true}}}})
	if err != nil {
		return fmt.Errorf("mongo store: count problems of level %q: %w", id, err)
	}
	return hs.set(ctx, t, bson.D{{Key: "version", Value: storedVersion(l.Version) + 1}, {Key: "problemCount", Value: n}})
}

// bumpAgeGroup writes a held age group's version + 1.
func (hs *holds) bumpAgeGroup(ctx context.Context, slug string) error {
	t := hs.s.ageGroupTarget(slug)
	g, err := decode[ageGroupDoc](hs.get(t))
	if err != nil {
		return err
	}
	return hs.set(ctx, t, bson.D{{Key: "version", Value: storedVersion(g.Version) + 1}})
}

// Age groups.

// PutAgeGroup inserts or replaces an age group.
func (s *Store) PutAgeGroup(ctx context.Context, g coderunner.AgeGroup) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return s.edit(ctx, func(hs *holds) error {
		t := s.ageGroupTarget(g.Slug)
		absent, err := hs.take(ctx, t)
		if err != nil {
			return err
		}
		if len(absent) > 0 {
			doc := ageGroupToDoc(g)
			doc.Version, doc.Seq = 1, newSeq()
			return insertNew(ctx, s.ageGroups, "age group", g.Slug, doc)
		}
		old, err := decode[ageGroupDoc](hs.get(t))
		if err != nil || old.domain().SameContent(g) {
			return err
		}
		doc := ageGroupToDoc(g)
		doc.Version = storedVersion(old.Version) + 1
		return hs.replace(ctx, t, &doc, &doc.Seq)
	})
}

// CreateAgeGroup adds a new age group.
func (s *Store) CreateAgeGroup(ctx context.Context, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	if err := g.Validate(); err != nil {
		return g, err
	}
	g.Version = 1
	doc := ageGroupToDoc(g)
	doc.Seq = newSeq()
	return g, insert(ctx, s.ageGroups, "age group", g.Slug, doc)
}

// UpdateAgeGroup replaces an age group at the version it names.
func (s *Store) UpdateAgeGroup(ctx context.Context, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	if err := g.ValidateUpdate(); err != nil {
		return g, err
	}
	return g, s.edit(ctx, func(hs *holds) error {
		t := s.ageGroupTarget(g.Slug)
		if err := hs.mustHold(ctx, t); err != nil {
			return err
		}
		old, err := decode[ageGroupDoc](hs.get(t))
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("age group", g.Slug, g.Version, storedVersion(old.Version)); err != nil {
			return err
		}
		g.Version++
		doc := ageGroupToDoc(g)
		return hs.replace(ctx, t, &doc, &doc.Seq)
	})
}

// DeleteAgeGroup removes an age group that has no levels.
func (s *Store) DeleteAgeGroup(ctx context.Context, slug string, version int64) error {
	return s.edit(ctx, func(hs *holds) error {
		t := s.ageGroupTarget(slug)
		if err := hs.mustHold(ctx, t); err != nil {
			return err
		}
		old, err := decode[ageGroupDoc](hs.get(t))
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion("age group", slug, version, storedVersion(old.Version)); err != nil {
			return err
		}
		n, err := s.levels.CountDocuments(ctx, bson.D{{Key: "ageGroup", Value: slug}})
		if err != nil {
			return fmt.Errorf("mongo store: count levels of age group %q: %w", slug, err)
		}
		if n > 0 {
			return coderunner.Errorf(coderunner.BadUserInput, "age group %q still has %d levels; delete or move them first", slug, n)
		}
		return hs.delete(ctx, t)
	})
}

// Levels.

// PutLevel inserts or replaces a level, with its position as given. Its
// problemCount is the store's, never taken from l.
func (s *Store) PutLevel(ctx context.Context, l coderunner.Level) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return s.edit(ctx, func(hs *holds) error {
		old, found, err := s.peekLevel(ctx, l.ID)
		if err != nil {
			return err
		}
		groups := []target{s.ageGroupTarget(l.AgeGroup)}
		if found {
			groups = append(groups, s.ageGroupTarget(old.AgeGroup))
		}
		if err := hs.mustHold(ctx, groups...); err != nil {
			return goneUnless(err, noAgeGroup(l.AgeGroup))
		}
		t := s.levelTarget(l.ID)
		absent, err := hs.take(ctx, t)
		if err != nil {
			return err
		}
		if found != (len(absent) == 0) {
			return errRetry
		}
		doc := levelToDoc(l)
		if !found {
			doc.Version, doc.Seq, doc.ProblemCount = 1, newSeq(), 0
			if err := insertNew(ctx, s.levels, "level", l.ID, doc); err != nil {
				return err
			}
			return hs.bumpAgeGroup(ctx, l.AgeGroup)
		}
		if old, err = decode[levelDoc](hs.get(t)); err != nil {
			return err
		}
		if old.AgeGroup != groups[len(groups)-1].id {
			return errRetry
		}
		if old.domain().SameContent(l) {
			return nil
		}
		doc.Version, doc.ProblemCount = storedVersion(old.Version)+1, old.ProblemCount
		if err := hs.replace(ctx, t, &doc, &doc.Seq); err != nil {
			return err
		}
		if old.AgeGroup == l.AgeGroup && old.Position == l.Position {
			return nil
		}
		return hs.bumpAgeGroups(ctx, l.AgeGroup, old.AgeGroup)
	})
}

// bumpAgeGroups bumps each held age group once.
func (hs *holds) bumpAgeGroups(ctx context.Context, slugs ...string) error {
	for i, slug := range slugs {
		if i > 0 && slug == slugs[0] {
			continue
		}
		if err := hs.bumpAgeGroup(ctx, slug); err != nil {
			return err
		}
	}
	return nil
}

// bumpLevels bumps each held level once.
func (hs *holds) bumpLevels(ctx context.Context, ids ...string) error {
	for i, id := range ids {
		if i > 0 && id == ids[0] {
			continue
		}
		if err := hs.bumpLevel(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// peekLevel reads a level without a hold.
func (s *Store) peekLevel(ctx context.Context, id string) (levelDoc, bool, error) {
	d, err := findOne[levelDoc](ctx, s.levels, id, noLevel)
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return d, false, nil
	}
	return d, err == nil, err
}

func noLevel(id string) error {
	return coderunner.Errorf(coderunner.NotFound, "level %q does not exist", id)
}

// levelMoves holds age group slug's levels whose position changes once
// removed leaves and the rest are numbered 1..n, and returns their moves
// and the position after the last. The age group must be held.
func (s *Store) levelMoves(ctx context.Context, slug, removed string) (map[string]int, int, error) {
	levels, err := children[levelDoc](ctx, s.levels, "ageGroup", slug)
	if err != nil {
		return nil, 0, err
	}
	n := len(levels) + 1
	if removed != "" {
		n--
	}
	return renumber(levels, removed), n, nil
}

// CreateLevel appends a new level to its age group.
func (s *Store) CreateLevel(ctx context.Context, l coderunner.Level) (coderunner.Level, error) {
	if err := l.Validate(); err != nil {
		return l, err
	}
	err := s.edit(ctx, func(hs *holds) error {
		if err := hs.mustHold(ctx, s.ageGroupTarget(l.AgeGroup)); err != nil {
			return err
		}
		moves, end, err := s.levelMoves(ctx, l.AgeGroup, "")
		if err != nil {
			return err
		}
		if err := hs.mustHold(ctx, targets(s.levelTarget, moves)...); err != nil {
			return err
		}
		doc := levelToDoc(l)
		doc.Position, doc.Version, doc.Seq, doc.ProblemCount = end, 1, newSeq(), 0
		if err := insert(ctx, s.levels, "level", l.ID, doc); err != nil {
			return err
		}
		l = doc.domain()
		if err := hs.reposition(ctx, s.levelTarget, moves); err != nil {
			return err
		}
		return hs.bumpAgeGroup(ctx, l.AgeGroup)
	})
	return l, err
}

// UpdateLevel replaces a level at the version it names, moving it to the
// end of another age group if it names one.
func (s *Store) UpdateLevel(ctx context.Context, l coderunner.Level) (coderunner.Level, error) {
	if err := l.ValidateUpdate(); err != nil {
		return l, err
	}
	err := s.edit(ctx, func(hs *holds) error {
		peek, found, err := s.peekLevel(ctx, l.ID)
		if err != nil {
			return err
		}
		if !found {
			return noLevel(l.ID)
		}
		from, moved := peek.AgeGroup, peek.AgeGroup != l.AgeGroup
		if err := hs.mustHold(ctx, s.ageGroupTarget(from), s.ageGroupTarget(l.AgeGroup)); err != nil {
			return goneUnless(err, noAgeGroup(l.AgeGroup))
		}
		var out, in map[string]int
		end := 0
		if moved {
			if out, _, err = s.levelMoves(ctx, from, l.ID); err != nil {
				return err
			}
			if in, end, err = s.levelMoves(ctx, l.AgeGroup, ""); err != nil {
				return err
			}
		}
		t := s.levelTarget(l.ID)
		if err := hs.mustHold(ctx, append(targets(s.levelTarget, out), append(targets(s.levelTarget, in), t)...)...); err != nil {
			return gone(err)
		}
		old, err := decode[levelDoc](hs.get(t))
		if err != nil {
			return err
		}
		if old.AgeGroup != from {
			return errRetry
		}
		if err := coderunner.CheckVersion("level", l.ID, l.Version, storedVersion(old.Version)); err != nil {
			return err
		}
		doc := levelToDoc(l)
		doc.Version, doc.Position, doc.ProblemCount = storedVersion(old.Version)+1, old.Position, old.ProblemCount
		if moved {
			doc.Position = end
		}
		if err := hs.replace(ctx, t, &doc, &doc.Seq); err != nil {
			return err
		}
		l = doc.domain()
		if !moved {
			return nil
		}
		if err := hs.reposition(ctx, s.levelTarget, out); err != nil {
			return err
		}
		if err := hs.reposition(ctx, s.levelTarget, in); err != nil {
			return err
		}
		return hs.bumpAgeGroups(ctx, from, l.AgeGroup)
	})
	return l, err
}

func noAgeGroup(slug string) error {
	return coderunner.Errorf(coderunner.NotFound, "age group %q does not exist", slug)
}

// DeleteLevel removes a level that has no problems.
func (s *Store) DeleteLevel(ctx context.Context, id string, version int64) error {
	return s.edit(ctx, func(hs *holds) error {
		peek, found, err := s.peekLevel(ctx, id)
		if err != nil {
			return err
		}
		if !found {
			return noLevel(id)
		}
		if err := hs.mustHold(ctx, s.ageGroupTarget(peek.AgeGroup)); err != nil {
			return gone(err)
		}
		moves, _, err := s.levelMoves(ctx, peek.AgeGroup, id)
		if err != nil {
			return err
		}
		t := s.levelTarget(id)
		if err := hs.mustHold(ctx, append(targets(s.levelTarget, moves), t)...); err != nil {
			return gone(err)
		}
		old, err := decode[levelDoc](hs.get(t))
		if err != nil {
			return err
		}
		if old.AgeGroup != peek.AgeGroup {
			return errRetry
		}
		if err := coderunner.CheckVersion("level", id, version, storedVersion(old.Version)); err != nil {
			return err
		}
		n, err := s.problems.CountDocuments(ctx, bson.D{{Key: "levelId", Value: id}})
		if err != nil {
			return fmt.Errorf("mongo store: count problems of level %q: %w", id, err)
		}
		if n > 0 {
			return coderunner.Errorf(coderunner.BadUserInput, "level %q still has %d problems; delete or move them first", id, n)
		}
		if err := hs.delete(ctx, t); err != nil {
			return err
		}
		if err := hs.reposition(ctx, s.levelTarget, moves); err != nil {
			return err
		}
		return hs.bumpAgeGroup(ctx, old.AgeGroup)
	})
}

// ReorderLevels sets the order of an age group's levels.
func (s *Store) ReorderLevels(ctx context.Context, ageGroup string, groupVersion int64, ids []string) error {
	return reorderChildren(ctx, s, s.ageGroupTarget(ageGroup), groupVersion, ids,
		func(h *hold) (int64, error) {
			g, err := decode[ageGroupDoc](h)
			return g.Version, err
		},
		func() ([]levelDoc, error) { return children[levelDoc](ctx, s.levels, "ageGroup", ageGroup) },
		s.levelTarget,
		func(hs *holds) error { return hs.bumpAgeGroup(ctx, ageGroup) })
}

// reorderChildren orders the children of parent as ids, if the parent is
// at version: version reads it from the parent's hold, list lists the
// children, child is their target, bump writes the parent.
func reorderChildren[D positioned](ctx context.Context, s *Store, parent target, version int64, ids []string,
	versionOf func(*hold) (int64, error), list func() ([]D, error), child func(string) target, bump func(*holds) error) error {
	what := singular[parent.coll.Name()]
	if err := coderunner.CheckEditVersion(what, parent.id, version); err != nil {
		return err
	}
	return s.edit(ctx, func(hs *holds) error {
		if err := hs.mustHold(ctx, parent); err != nil {
			return err
		}
		stored, err := versionOf(hs.get(parent))
		if err != nil {
			return err
		}
		if err := coderunner.CheckVersion(what, parent.id, version, storedVersion(stored)); err != nil {
			return err
		}
		children, err := list()
		if err != nil {
			return err
		}
		moves, err := reorder(fmt.Sprintf("%s %q", what, parent.id), children, ids)
		if err != nil {
			return err
		}
		if err := hs.mustHold(ctx, targets(child, moves)...); err != nil {
			return err
		}
		if err := hs.reposition(ctx, child, moves); err != nil {
			return err
		}
		return bump(hs)
	})
}

// reorder checks ids against children and returns the positions that
// change when they are ordered so.
func reorder[D positioned](parent string, children []D, ids []string) (map[string]int, error) {
	have := make([]string, len(children))
	at := map[string]int{}
	for i, c := range children {
		have[i] = c.key()
		at[c.key()] = c.position()
	}
	if err := coderunner.CheckOrder(parent, have, ids); err != nil {
		return nil, err
	}
	moves := map[string]int{}
	for i, id := range ids {
		if at[id] != i+1 {
			moves[id] = i + 1
		}
	}
	return moves, nil
}

// Problems.

// peekProblem reads a problem without a hold.
func (s *Store) peekProblem(ctx context.Context, id string) (problemDoc, bool, error) {
	d, err := findOne[problemDoc](ctx, s.problems, id, noProblem)
	if coderunner.ErrorCode(err) == coderunner.NotFound {
		return d, false, nil
	}
	return d, err == nil, err
}

// problemMoves is levelMoves for a level's problems.
func (s *Store) problemMoves(ctx context.Context, levelID, removed string) (map[string]int, int, error) {
	problems, err := children[problemDoc](ctx, s.problems, "levelId", levelID)
	if err != nil {
		return nil, 0, err
	}
	n := len(problems) + 1
	if removed != "" {
		n--
	}
	return renumber(problems, removed), n, nil
}

// PutProblem inserts or replaces a problem (with default limits filled in),
// with its position as given.
func (s *Store) PutProblem(ctx context.Context, p coderunner.Problem) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.WithDefaults()
	return s.edit(ctx, func(hs *holds) error {
		peek, found, err := s.peekProblem(ctx, p.ID)
		if err != nil {
			return err
		}
		levels := []target{s.levelTarget(p.LevelID)}
		if found {
			levels = append(levels, s.levelTarget(peek.LevelID))
		}
		if err := hs.mustHold(ctx, levels...); err != nil {
			return goneUnless(err, noLevel(p.LevelID))
		}
		t := s.problemTarget(p.ID)
		absent, err := hs.take(ctx, t)
		if err != nil {
			return err
		}
		if found != (len(absent) == 0) {
			return errRetry
		}
		doc := problemToDoc(p)
		if !found {
			doc.Version, doc.Seq = 1, newSeq()
			if err := insertNew(ctx, s.problems, "problem", p.ID, doc); err != nil {
				return err
			}
			return hs.bumpLevel(ctx, p.LevelID)
		}
		old, err := decode[problemDoc](hs.get(t))
		if err != nil {
			return err
		}
		if old.LevelID != peek.LevelID {
			return errRetry
		}
		if old.domain().SameContent(p) {
			return nil
		}
		doc.Version = storedVersion(old.Version) + 1
		if err := hs.replace(ctx, t, &doc, &doc.Seq); err != nil {
			return err
		}
		if old.LevelID == p.LevelID && old.Position == p.Position && old.Draft == p.Draft {
			return nil
		}
		return hs.bumpLevels(ctx, p.LevelID, old.LevelID)
	})
}

// CreateProblem appends a new problem to its level.
func (s *Store) CreateProblem(ctx context.Context, p coderunner.Problem) (coderunner.Problem, error) {
	if err := p.Validate(); err != nil {
		return p, err
	}
	p = p.WithDefaults()
	err := s.edit(ctx, func(hs *holds) error {
		if err := hs.mustHold(ctx, s.levelTarget(p.LevelID)); err != nil {
			return err
		}
		moves, end, err := s.problemMoves(ctx, p.LevelID, "")
		if err != nil {
			return err
		}
		if err := hs.mustHold(ctx, targets(s.problemTarget, moves)...); err != nil {
			return err
		}
		doc := problemToDoc(p)
		doc.Position, doc.Version, doc.Seq = end, 1, newSeq()
		if err := insert(ctx, s.problems, "problem", p.ID, doc); err != nil {
			return err
		}
		p = doc.domain()
		if err := hs.reposition(ctx, s.problemTarget, moves); err != nil {
			return err
		}
		return hs.bumpLevel(ctx, p.LevelID)
	})
	return p, err
}

// UpdateProblem replaces a problem at the version it names, moving it to
// the end of another level if it names one.
func (s *Store) UpdateProblem(ctx context.Context, p coderunner.Problem) (coderunner.Problem, error) {
	if err := p.ValidateUpdate(); err != nil {
		return p, err
	}
	p = p.WithDefaults()
	err := s.edit(ctx, func(hs *holds) error {
		peek, found, err := s.peekProblem(ctx, p.ID)
		if err != nil {
			return err
		}
		if !found {
			return noProblem(p.ID)
		}
		from, moved := peek.LevelID, peek.LevelID != p.LevelID
		// The level is held even for a content edit: it covers the draft
		// flag (the level's count).
		if err := hs.mustHold(ctx, s.levelTarget(from), s.levelTarget(p.LevelID)); err != nil {
			return goneUnless(err, noLevel(p.LevelID))
		}
		var out, in map[string]int
		end := 0
		if moved {
			if out, _, err = s.problemMoves(ctx, from, p.ID); err != nil {
				return err
			}
			if in, end, err = s.problemMoves(ctx, p.LevelID, ""); err != nil {
				return err
			}
		}
		t := s.problemTarget(p.ID)
		if err := hs.mustHold(ctx, append(targets(s.problemTarget, out), append(targets(s.problemTarget, in), t)...)...); err != nil {
			return gone(err)
		}
		old, err := decode[problemDoc](hs.get(t))
		if err != nil {
			return err
		}
		if old.LevelID != from {
			return errRetry
		}
		if err := coderunner.CheckVersion("problem", p.ID, p.Version, storedVersion(old.Version)); err != nil {
			return err
		}
		doc := problemToDoc(p)
		doc.Version, doc.Position = storedVersion(old.Version)+1, old.Position
		if moved {
			doc.Position = end
		}
		if err := hs.replace(ctx, t, &doc, &doc.Seq); err != nil {
			return err
		}
		p = doc.domain()
		switch {
		case moved:
			if err := hs.reposition(ctx, s.problemTarget, out); err != nil {
				return err
			}
			if err := hs.reposition(ctx, s.problemTarget, in); err != nil {
				return err
			}
			return hs.bumpLevels(ctx, from, p.LevelID)
		case old.Draft != p.Draft:
			return hs.bumpLevel(ctx, from)
		}
		return nil
	})
	return p, err
}

// DeleteProblem removes a problem and closes the gap in its level.
func (s *Store) DeleteProblem(ctx context.Context, id string, version int64) error {
	return s.edit(ctx, func(hs *holds) error {
		peek, found, err := s.peekProblem(ctx, id)
		if err != nil {
			return err
		}
		if !found {
			return noProblem(id)
		}
		if err := hs.mustHold(ctx, s.levelTarget(peek.LevelID)); err != nil {
			return gone(err)
		}
		moves, _, err := s.problemMoves(ctx, peek.LevelID, id)
		if err != nil {
			return err
		}
		t := s.problemTarget(id)
		if err := hs.mustHold(ctx, append(targets(s.problemTarget, moves), t)...); err != nil {
			return gone(err)
		}
		old, err := decode[problemDoc](hs.get(t))
		if err != nil {
			return err
		}
		if old.LevelID != peek.LevelID {
			return errRetry
		}
		if err := coderunner.CheckVersion("problem", id, version, storedVersion(old.Version)); err != nil {
			return err
		}
		if err := hs.delete(ctx, t); err != nil {
			return err
		}
		if err := hs.reposition(ctx, s.problemTarget, moves); err != nil {
			return err
		}
		return hs.bumpLevel(ctx, old.LevelID)
	})
}

// ReorderProblems sets the order of a level's problems.
func (s *Store) ReorderProblems(ctx context.Context, levelID string, levelVersion int64, ids []string) error {
	return reorderChildren(ctx, s, s.levelTarget(levelID), levelVersion, ids,
		func(h *hold) (int64, error) {
			l, err := decode[levelDoc](h)
			return l.Version, err
		},
		func() ([]problemDoc, error) { return children[problemDoc](ctx, s.problems, "levelId", levelID) },
		s.problemTarget,
		func(hs *holds) error { return hs.bumpLevel(ctx, levelID) })
}
