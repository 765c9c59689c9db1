package coderunner

import "context"

// ErrBusy is a store's error for a write that could not take its turn
// within the store's bound, under a flood of writes: nothing was written,
// and the same write may well succeed in a moment. It is INTERNAL (the
// server's limit, not the caller's fault) with a message that says so;
// stores wrap it, so errors.Is tells it apart.
var ErrBusy = &Error{Code: Internal, Message: "the server is too busy to save this right now: try again in a moment"}

// Store keeps the curriculum, the runs, the submissions, the accounts and
// the usage figures. store/sqlite (the embedded
// default) and store/mongo implement it and pass one conformance suite
// (storetest); cache.Store decorates any Store with an in-process cache of
// curriculum reads.
//
// The read methods are batched, keyed by id, so that dataloaders answer a
// whole GraphQL response with one call per kind of thing. Ids that do not
// exist are absent from the returned maps; that is not an error.
type Store interface {
	CurriculumReader
	EditorReader
	CurriculumWriter
	RunStore
	SubmissionStore
	UserStore
	UsageStore
	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
	Close() error
}

// CurriculumReader reads the published curriculum, for students. Slices are
// ordered by Position. A draft problem (Problem.Draft) is never returned by
// ProblemsInLevels or Problems, as if it did not exist; Position counts
// drafts among a level's problems, so the positions of the published ones
// may have gaps.
type CurriculumReader interface {
	AgeGroups(ctx context.Context) ([]AgeGroup, error)
	LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]Level, error)
	Levels(ctx context.Context, ids []string) (map[string]Level, error)
	ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]Problem, error)
	Problems(ctx context.Context, ids []string) (map[string]Problem, error)
}

// EditorReader reads problems as editors see them: drafts included. Its
// reads are never cached, so an editor always starts from the stored
// version.
type EditorReader interface {
	// ProblemsForEditing returns the problems of each level, drafts
	// included, ordered by Position; levels without problems may be absent.
	ProblemsForEditing(ctx context.Context, levelIDs []string) (map[string][]Problem, error)
	// ProblemForEditing returns one problem, draft or not; NOT_FOUND if
	// there is none.
	ProblemForEditing(ctx context.Context, id string) (Problem, error)
}

// CurriculumWriter changes the curriculum.
//
// Every write validates its input first (AgeGroup.Validate, Level.Validate,
// Problem.Validate) and answers BAD_USER_INPUT before writing anything. A
// reference to a missing age group or level is NOT_FOUND. Level.ProblemCount
// and the Version fields on input are ignored except where a method says
// otherwise: the store maintains them.
//
// Versions. AgeGroup, Level and Problem carry a Version: 1 when created,
// and every write that changes the object stores the previous version + 1.
// A parent's version (an age group's for its levels, a level's for its
// problems) is also bumped by every change to the set, order or visibility
// of its children: a child created in, moved into or out of, or deleted
// from it, its children reordered, a child's position changed by a put, a
// problem turned draft or published. Content edits of a child do not bump
// the parent.
//
// Positions. Levels in an age group and problems in a level (drafts
// included) keep dense positions 1..n under the editing methods: a created
// or moved child is appended (position n+1) whatever its Position says,
// and a delete or move out closes the gap, keeping the others' order. Only
// Reorder* changes the order. Age groups have no parent: their Position is
// taken as given, by puts, creates and updates alike. This holds under any
// concurrency of editing writes: positions stay unique and dense, and no
// write is lost (each either happens whole or fails).
//
// Conflicts. An Update* replaces the stored object only if its version is
// the one the input names (x.Version); otherwise it answers CONFLICT
// (ErrStale, naming the stored version) and writes nothing. So of two
// editors who edited the same version, exactly one wins. Delete* and
// Reorder* take the version the same way; Create* answers CONFLICT if the
// id is taken. Creates, deletes and moves that merely raced another
// structural write to the same parent are retried by the store, not
// answered CONFLICT: only the version the caller names can be stale.
// Under a flood of writes to one parent a write may fail with ErrBusy,
// having written nothing.
type CurriculumWriter interface {
	// PutAgeGroup, PutLevel and PutProblem insert or replace by id, with
	// Position as given (no renumbering), whatever the stored version: they
	// are seeding's upsert. A put that changes nothing writes nothing and
	// bumps no version, so seeding twice changes nothing; otherwise it
	// bumps the version like any write (and the parent's, for a new,
	// moved or repositioned child, or a problem's Draft flag changed).
	PutAgeGroup(ctx context.Context, g AgeGroup) error
	PutLevel(ctx context.Context, l Level) error
	PutProblem(ctx context.Context, p Problem) error

	// CreateAgeGroup, CreateLevel and CreateProblem add a new object at
	// version 1 and return it as stored: CONFLICT if the id exists,
	// NOT_FOUND if the parent does not. A level or problem is appended to
	// its parent (position n+1, whatever Position says), bumping the
	// parent's version.
	CreateAgeGroup(ctx context.Context, g AgeGroup) (AgeGroup, error)
	CreateLevel(ctx context.Context, l Level) (Level, error)
	CreateProblem(ctx context.Context, p Problem) (Problem, error)

	// UpdateAgeGroup, UpdateLevel and UpdateProblem replace the stored
	// object if its version is x.Version, store version x.Version + 1 and
	// return the object as stored. CONFLICT (ErrStale) if the version is
	// another, NOT_FOUND if there is no such object, BAD_USER_INPUT if
	// x.Version < 1. A level's or problem's Position is kept (Reorder*
	// changes it); a level whose AgeGroup, or a problem whose LevelID,
	// changes moves to the end of its new parent (NOT_FOUND if it does not
	// exist) and the old parent closes the gap; both parents' versions are
	// bumped. A problem whose Draft flag changes bumps its level's version
	// (its ProblemCount changes).
	UpdateAgeGroup(ctx context.Context, g AgeGroup) (AgeGroup, error)
	UpdateLevel(ctx context.Context, l Level) (Level, error)
	UpdateProblem(ctx context.Context, p Problem) (Problem, error)

	// DeleteAgeGroup, DeleteLevel and DeleteProblem remove an object:
	// NOT_FOUND if there is none; with version > 0 only if that is its
	// stored version (else CONFLICT, ErrStale), with version 0
	// unconditionally. An age group that still has levels, or a level that
	// still has problems (drafts included), is BAD_USER_INPUT. Deleting a
	// level or problem closes the gap in its parent's positions and bumps
	// the parent's version. Submissions of a deleted problem are kept.
	DeleteAgeGroup(ctx context.Context, slug string, version int64) error
	DeleteLevel(ctx context.Context, id string, version int64) error
	DeleteProblem(ctx context.Context, id string, version int64) error

	// ReorderLevels sets the order of an age group's levels and
	// ReorderProblems the order of a level's problems (drafts included):
	// ids must be exactly the parent's children, each once, in the new
	// order (else BAD_USER_INPUT), and the parent must be at the given
	// version, 1 or more (else CONFLICT, ErrStale; BAD_USER_INPUT for a
	// version < 1; NOT_FOUND if the parent does not exist).
	// Positions become 1..n in the given order; the parent's version is
	// bumped (the children's are not: a position is not content).
	ReorderLevels(ctx context.Context, ageGroup string, groupVersion int64, ids []string) error
	ReorderProblems(ctx context.Context, levelID string, levelVersion int64, ids []string) error
}

// CheckOrder reports, as BAD_USER_INPUT, ids of a reorder of parent
// (such as `level "l1"`) that are not exactly its children, each once.
func CheckOrder(parent string, children, ids []string) error {
	have := make(map[string]bool, len(children))
	for _, id := range children {
		have[id] = true
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		switch {
		case seen[id]:
			return Errorf(BadUserInput, "reorder of %s names %q twice", parent, id)
		case !have[id]:
			return Errorf(BadUserInput, "reorder of %s names %q, which is not in it", parent, id)
		}
		seen[id] = true
	}
	if len(ids) != len(children) {
		for _, id := range children {
			if !seen[id] {
				return Errorf(BadUserInput, "reorder of %s leaves out %q: name every one of its %d children", parent, id, len(children))
			}
		}
	}
	return nil
}

// CheckVersion is the version check of an editing write that named version
// (0: unconditional, for deletes) of what id, stored at stored.
func CheckVersion(what, id string, version, stored int64) error {
	if version != 0 && version != stored {
		return ErrStale(what, id, stored)
	}
	return nil
}

// CheckEditVersion reports an update's missing version as BAD_USER_INPUT.
func CheckEditVersion(what, id string, version int64) error {
	if version < 1 {
		return Errorf(BadUserInput, "%s %q: give the version you edited (1 or more) so that the store can tell whether someone else changed it since", what, id)
	}
	return nil
}
