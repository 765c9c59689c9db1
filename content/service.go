package content

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"coderunner"
	"coderunner/curriculum"
)

// Store is what the content service reads and writes.
type Store interface {
	coderunner.CurriculumReader
	coderunner.EditorReader
	coderunner.CurriculumWriter
	AddAuditEntry(ctx context.Context, e coderunner.AuditEntry) error
}

// Service is how editors change the curriculum: every change is
// authorized (editors and admins only), validated, checked in the sandbox
// before it is published, written against the version the editor edited
// (a stale one is CONFLICT), recorded in the audit log, and announced so
// that every replica and the CDN drop exactly what changed.
type Service struct {
	Store   Store
	Checker *Checker
	// Changed announces a change to every replica's caches and the CDN
	// (server.Server.ContentChanged); nil announces nothing.
	Changed func(ctx context.Context, c coderunner.ContentChange) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives what goes wrong without failing a call; nil means
	// slog.Default().
	Log *slog.Logger
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// edit runs one change for an editor: write, then audit and announce what
// it changed. before is the object as it was (nil for a creation).
func (s *Service) edit(ctx context.Context, caller coderunner.Caller, action, target string, before any, write func() (after any, change coderunner.ContentChange, err error)) error {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return err
	}
	after, change, err := write()
	if err != nil {
		return err
	}
	// The change is made: announce it even if the audit write fails, so
	// that no replica serves what is gone. A failed announcement does not
	// fail the change: other replicas' caches expire it within a minute.
	if s.Changed != nil {
		if err := s.Changed(context.WithoutCancel(ctx), change); err != nil {
			s.log().Warn("a content change was stored but not announced to other replicas", "action", action, "target", target, "err", err)
		}
	}
	return s.Store.AddAuditEntry(ctx, coderunner.NewAuditEntry(caller.Owner(), action, target, before, after, s.now()))
}

// ProblemForEditing returns a problem as editors see it: draft, hidden
// tests and reference solution included.
func (s *Service) ProblemForEditing(ctx context.Context, caller coderunner.Caller, id string) (coderunner.Problem, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return coderunner.Problem{}, err
	}
	return s.Store.ProblemForEditing(ctx, id)
}

// ProblemsForEditing returns a level's problems as editors see them,
// drafts included, in order.
func (s *Service) ProblemsForEditing(ctx context.Context, caller coderunner.Caller, levelID string) ([]coderunner.Problem, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return nil, err
	}
	if _, err := s.level(ctx, levelID); err != nil {
		return nil, err
	}
	problems, err := s.Store.ProblemsForEditing(ctx, []string{levelID})
	return problems[levelID], err
}

// CreateProblem stores a new problem at the end of its level: a draft as
// it is, a problem to publish only once it passes the sandbox check.
func (s *Service) CreateProblem(ctx context.Context, caller coderunner.Caller, p coderunner.Problem) (coderunner.Problem, error) {
	var created coderunner.Problem
	err := s.edit(ctx, caller, "createProblem", "problem:"+p.ID, nil, func() (any, coderunner.ContentChange, error) {
		if err := s.check(ctx, caller, p); err != nil {
			return nil, coderunner.ContentChange{}, err
		}
		var err error
		created, err = s.Store.CreateProblem(ctx, p)
		return created, coderunner.ContentChange{Problems: []string{p.ID}, Levels: []string{p.LevelID}}, err
	})
	return created, err
}

// UpdateProblem replaces the problem at the version the editor edited
// (p.Version); publishing a draft (Draft false) checks it first.
func (s *Service) UpdateProblem(ctx context.Context, caller coderunner.Caller, p coderunner.Problem) (coderunner.Problem, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return coderunner.Problem{}, err
	}
	before, err := s.Store.ProblemForEditing(ctx, p.ID)
	if err != nil {
		return coderunner.Problem{}, err
	}
	var updated coderunner.Problem
	err = s.edit(ctx, caller, "updateProblem", "problem:"+p.ID, before, func() (any, coderunner.ContentChange, error) {
		// A stale version is refused before the sandbox is paid for.
		if err := coderunner.CheckVersion("problem", p.ID, p.Version, before.Version); err != nil {
			return nil, coderunner.ContentChange{}, err
		}
		if err := s.check(ctx, caller, p); err != nil {
			return nil, coderunner.ContentChange{}, err
		}
		var err error
		updated, err = s.Store.UpdateProblem(ctx, p)
		return updated, coderunner.ContentChange{Problems: []string{p.ID}, Levels: unique(before.LevelID, p.LevelID)}, err
	})
	return updated, withCurrent(err, func() (any, error) { return s.Store.ProblemForEditing(ctx, p.ID) })
}

// DeleteProblem removes a problem at the version the editor saw (0: any).
// Its submissions stay readable.
func (s *Service) DeleteProblem(ctx context.Context, caller coderunner.Caller, id string, version int64) error {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return err
	}
	before, err := s.Store.ProblemForEditing(ctx, id)
	if err != nil {
		return err
	}
	err = s.edit(ctx, caller, "deleteProblem", "problem:"+id, before, func() (any, coderunner.ContentChange, error) {
		err := s.Store.DeleteProblem(ctx, id, version)
		return nil, coderunner.ContentChange{Problems: []string{id}, Levels: []string{before.LevelID}}, err
	})
	return withCurrent(err, func() (any, error) { return s.Store.ProblemForEditing(ctx, id) })
}

// ReorderProblems sets the order of a level's problems.
func (s *Service) ReorderProblems(ctx context.Context, caller coderunner.Caller, levelID string, version int64, ids []string) (coderunner.Level, error) {
	var level coderunner.Level
	err := s.edit(ctx, caller, "reorderProblems", "level:"+levelID, nil, func() (any, coderunner.ContentChange, error) {
		err := s.Store.ReorderProblems(ctx, levelID, version, ids)
		if err == nil {
			level, err = s.level(ctx, levelID)
		}
		return ids, coderunner.ContentChange{Levels: []string{levelID}, Problems: ids}, err
	})
	return level, withCurrent(err, func() (any, error) { return s.level(ctx, levelID) })
}

// CreateLevel, UpdateLevel, DeleteLevel and ReorderLevels are the same for
// levels; an age group's levels change with them.
func (s *Service) CreateLevel(ctx context.Context, caller coderunner.Caller, l coderunner.Level) (coderunner.Level, error) {
	var created coderunner.Level
	err := s.edit(ctx, caller, "createLevel", "level:"+l.ID, nil, func() (any, coderunner.ContentChange, error) {
		var err error
		created, err = s.Store.CreateLevel(ctx, l)
		return created, coderunner.ContentChange{Levels: []string{l.ID}, AgeGroups: []string{l.AgeGroup}}, err
	})
	return created, err
}

func (s *Service) UpdateLevel(ctx context.Context, caller coderunner.Caller, l coderunner.Level) (coderunner.Level, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return coderunner.Level{}, err
	}
	before, err := s.level(ctx, l.ID)
	if err != nil {
		return coderunner.Level{}, err
	}
	var updated coderunner.Level
	err = s.edit(ctx, caller, "updateLevel", "level:"+l.ID, before, func() (any, coderunner.ContentChange, error) {
		var err error
		updated, err = s.Store.UpdateLevel(ctx, l)
		return updated, coderunner.ContentChange{Levels: []string{l.ID}, AgeGroups: unique(before.AgeGroup, l.AgeGroup)}, err
	})
	return updated, withCurrent(err, func() (any, error) { return s.level(ctx, l.ID) })
}

func (s *Service) DeleteLevel(ctx context.Context, caller coderunner.Caller, id string, version int64) error {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return err
	}
	before, err := s.level(ctx, id)
	if err != nil {
		return err
	}
	err = s.edit(ctx, caller, "deleteLevel", "level:"+id, before, func() (any, coderunner.ContentChange, error) {
		err := s.Store.DeleteLevel(ctx, id, version)
		return nil, coderunner.ContentChange{Levels: []string{id}, AgeGroups: []string{before.AgeGroup}}, err
	})
	return withCurrent(err, func() (any, error) { return s.level(ctx, id) })
}

func (s *Service) ReorderLevels(ctx context.Context, caller coderunner.Caller, ageGroup string, version int64, ids []string) (coderunner.AgeGroup, error) {
	var group coderunner.AgeGroup
	err := s.edit(ctx, caller, "reorderLevels", "agegroup:"+ageGroup, nil, func() (any, coderunner.ContentChange, error) {
		err := s.Store.ReorderLevels(ctx, ageGroup, version, ids)
		if err == nil {
			group, err = s.ageGroup(ctx, ageGroup)
		}
		return ids, coderunner.ContentChange{AgeGroups: []string{ageGroup}, Levels: ids}, err
	})
	return group, withCurrent(err, func() (any, error) { return s.ageGroup(ctx, ageGroup) })
}

// CreateAgeGroup, UpdateAgeGroup and DeleteAgeGroup change age groups.
func (s *Service) CreateAgeGroup(ctx context.Context, caller coderunner.Caller, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	var created coderunner.AgeGroup
	err := s.edit(ctx, caller, "createAgeGroup", "agegroup:"+g.Slug, nil, func() (any, coderunner.ContentChange, error) {
		var err error
		created, err = s.Store.CreateAgeGroup(ctx, g)
		return created, coderunner.ContentChange{AgeGroups: []string{g.Slug}}, err
	})
	return created, err
}

func (s *Service) UpdateAgeGroup(ctx context.Context, caller coderunner.Caller, g coderunner.AgeGroup) (coderunner.AgeGroup, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return coderunner.AgeGroup{}, err
	}
	before, err := s.ageGroup(ctx, g.Slug)
	if err != nil {
		return coderunner.AgeGroup{}, err
	}
	var updated coderunner.AgeGroup
	err = s.edit(ctx, caller, "updateAgeGroup", "agegroup:"+g.Slug, before, func() (any, coderunner.ContentChange, error) {
		var err error
		updated, err = s.Store.UpdateAgeGroup(ctx, g)
		return updated, coderunner.ContentChange{AgeGroups: []string{g.Slug}}, err
	})
	return updated, withCurrent(err, func() (any, error) { return s.ageGroup(ctx, g.Slug) })
}

func (s *Service) DeleteAgeGroup(ctx context.Context, caller coderunner.Caller, slug string, version int64) error {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return err
	}
	before, err := s.ageGroup(ctx, slug)
	if err != nil {
		return err
	}
	err = s.edit(ctx, caller, "deleteAgeGroup", "agegroup:"+slug, before, func() (any, coderunner.ContentChange, error) {
		err := s.Store.DeleteAgeGroup(ctx, slug, version)
		return nil, coderunner.ContentChange{AgeGroups: []string{slug}}, err
	})
	return withCurrent(err, func() (any, error) { return s.ageGroup(ctx, slug) })
}

// Export returns the whole curriculum, drafts included, in the file format
// `coderunner seed` reads.
func (s *Service) Export(ctx context.Context, caller coderunner.Caller) ([]byte, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return nil, err
	}
	c, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	return curriculum.Export(c)
}

// Import applies a curriculum file as one checked change: every problem
// that is not a draft passes the sandbox check, or nothing is stored.
func (s *Service) Import(ctx context.Context, caller coderunner.Caller, file []byte) (curriculum.Curriculum, error) {
	if err := caller.Require(coderunner.RoleEditor); err != nil {
		return curriculum.Curriculum{}, err
	}
	c, err := curriculum.Parse(file)
	if err != nil {
		return c, err
	}
	var published []coderunner.Problem
	for _, p := range c.Problems {
		if !p.Draft {
			published = append(published, p)
		}
	}
	err = s.edit(ctx, caller, "importCurriculum", "curriculum", nil, func() (any, coderunner.ContentChange, error) {
		if err := s.Checker.CheckAll(ctx, caller, published); err != nil {
			return nil, coderunner.ContentChange{}, err
		}
		return changeOf(c), changeOf(c), curriculum.Seed(ctx, s.Store, c)
	})
	return c, err
}

// check runs the sandbox check of a problem to be published; a draft is
// stored unchecked, and checked when it is published.
func (s *Service) check(ctx context.Context, caller coderunner.Caller, p coderunner.Problem) error {
	if p.Draft {
		return p.Validate()
	}
	return s.Checker.Check(ctx, caller, p)
}

// read reads the whole curriculum as editors see it.
func (s *Service) read(ctx context.Context) (curriculum.Curriculum, error) {
	var c curriculum.Curriculum
	groups, err := s.Store.AgeGroups(ctx)
	if err != nil {
		return c, err
	}
	c.AgeGroups = groups
	slugs := make([]string, len(groups))
	for i, g := range groups {
		slugs[i] = g.Slug
	}
	levels, err := s.Store.LevelsInAgeGroups(ctx, slugs)
	if err != nil {
		return c, err
	}
	var levelIDs []string
	for _, slug := range slugs {
		c.Levels = append(c.Levels, levels[slug]...)
		for _, l := range levels[slug] {
			levelIDs = append(levelIDs, l.ID)
		}
	}
	problems, err := s.Store.ProblemsForEditing(ctx, levelIDs)
	if err != nil {
		return c, err
	}
	for _, id := range levelIDs {
		c.Problems = append(c.Problems, problems[id]...)
	}
	return c, nil
}

func (s *Service) level(ctx context.Context, id string) (coderunner.Level, error) {
	levels, err := s.Store.Levels(ctx, []string{id})
	if err != nil {
		return coderunner.Level{}, err
	}
	l, ok := levels[id]
	if !ok {
		return l, coderunner.Errorf(coderunner.NotFound, "no level with id %q", id)
	}
	return l, nil
}

func (s *Service) ageGroup(ctx context.Context, slug string) (coderunner.AgeGroup, error) {
	groups, err := s.Store.AgeGroups(ctx)
	if err != nil {
		return coderunner.AgeGroup{}, err
	}
	for _, g := range groups {
		if g.Slug == slug {
			return g, nil
		}
	}
	return coderunner.AgeGroup{}, coderunner.Errorf(coderunner.NotFound, "no age group %q", slug)
}

// changeOf names everything a curriculum holds: what an import changes,
// and what the audit log keeps of it (not the whole file).
func changeOf(c curriculum.Curriculum) coderunner.ContentChange {
	var change coderunner.ContentChange
	for _, g := range c.AgeGroups {
		change.AgeGroups = append(change.AgeGroups, g.Slug)
	}
	for _, l := range c.Levels {
		change.Levels = append(change.Levels, l.ID)
	}
	for _, p := range c.Problems {
		change.Problems = append(change.Problems, p.ID)
	}
	return change
}

// withCurrent gives a CONFLICT the object as it is now, read by current,
// so that the editor can merge and try again (extensions.current).
func withCurrent(err error, current func() (any, error)) error {
	var conflict *coderunner.Error
	if !errors.As(err, &conflict) || conflict.Code != coderunner.Conflict {
		return err
	}
	now, readErr := current()
	if readErr != nil {
		return err
	}
	withNow := *conflict
	withNow.Current = now
	return &withNow
}

func unique(ids ...string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}
