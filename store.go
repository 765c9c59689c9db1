package coderunner

import "context"

// ErrBusy is a store's error for a write that could not take its turn
// within the store's bound, under a flood of writes: nothing was written,
// and the same write may well succeed in a moment. It is INTERNAL (the
// server's limit, not the caller's fault) with a message that says so;
// stores wrap it, so errors.Is tells it apart.
var ErrBusy = &Error{Code: Internal, Message: "the server is too busy to save this right now: try again in a moment"}

// Store keeps the curriculum, the runs, the submissions and the accounts. store/sqlite (the embedded
// default) and store/mongo implement it and pass one conformance suite
// (storetest); cache.Store decorates any Store with an in-process cache of
// curriculum reads.
//
// The read methods are batched, keyed by id, so that dataloaders answer a
// whole GraphQL response with one call per kind of thing. Ids that do not
// exist are absent from the returned maps; that is not an error.
type Store interface {
	CurriculumReader
	CurriculumWriter
	RunStore
	SubmissionStore
	UserStore
	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
	Close() error
}

// CurriculumReader reads the curriculum. Slices are ordered by Position.
type CurriculumReader interface {
	AgeGroups(ctx context.Context) ([]AgeGroup, error)
	LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]Level, error)
	Levels(ctx context.Context, ids []string) (map[string]Level, error)
	ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]Problem, error)
	Problems(ctx context.Context, ids []string) (map[string]Problem, error)
}

// CurriculumWriter changes the curriculum. Puts insert or replace by id, so
// seeding twice changes nothing. Invalid content is rejected with
// BAD_USER_INPUT before anything is written; a reference to a missing age
// group or level is NOT_FOUND. Level.ProblemCount is ignored on input: the
// store maintains it.
type CurriculumWriter interface {
	PutAgeGroup(ctx context.Context, g AgeGroup) error
	PutLevel(ctx context.Context, l Level) error
	PutProblem(ctx context.Context, p Problem) error
	// DeleteProblem removes a problem; NOT_FOUND if there is none.
	DeleteProblem(ctx context.Context, id string) error
	// DeleteLevel removes an empty level; BAD_USER_INPUT if it still has
	// problems, NOT_FOUND if there is none.
	DeleteLevel(ctx context.Context, id string) error
}
