// Package coderunner holds the domain types of the coderunner platform and the
// small interfaces between its parts. Packages named after an outside system
// (store/sqlite, store/mongo, cache, server, executor) implement or use them;
// cmd/coderunner wires them together.
package coderunner

// AgeGroup is a band of ages the curriculum is written for, such as "7-9".
// Its slug is defined by content and is its identity.
type AgeGroup struct {
	Slug        string `json:"slug" yaml:"slug"`
	Title       string `json:"title" yaml:"title"`
	Description string `json:"description" yaml:"description"`
	// Position orders age groups for display, youngest first.
	Position int `json:"position" yaml:"position"`
	// Version is the store's count of writes to the age group (1 once
	// created); editing writes name the version they edited (see
	// CurriculumWriter). It is never read from a curriculum file.
	Version int64 `json:"version" yaml:"-"`
}

// Level is an ordered step within an age group.
type Level struct {
	ID          string `json:"id" yaml:"id"`
	AgeGroup    string `json:"ageGroup" yaml:"ageGroup"`
	Position    int    `json:"position" yaml:"position"`
	Title       string `json:"title" yaml:"title"`
	Description string `json:"description" yaml:"description"`
	// ProblemCount is maintained by the store whenever a problem is added to,
	// moved out of or deleted from the level, so reads never aggregate it.
	ProblemCount int `json:"problemCount" yaml:"-"`
	// Version counts writes to the level, and changes to the set, order or
	// visibility of its problems (see CurriculumWriter).
	Version int64 `json:"version" yaml:"-"`
}

// Problem is one exercise within a level.
type Problem struct {
	ID       string `json:"id" yaml:"id"`
	LevelID  string `json:"levelId" yaml:"levelId"`
	Position int    `json:"position" yaml:"position"`
	Title    string `json:"title" yaml:"title"`
	// Statement is Markdown.
	Statement   string `json:"statement" yaml:"statement"`
	StarterCode string `json:"starterCode" yaml:"starterCode"`
	// SampleTests are shown to students.
	SampleTests []TestCase `json:"sampleTests" yaml:"sampleTests"`
	// HiddenTests grade submissions and are never returned to students.
	HiddenTests []TestCase `json:"hiddenTests" yaml:"hiddenTests"`
	TimeLimitMs int        `json:"timeLimitMs" yaml:"timeLimitMs"`
	MemoryMB    int        `json:"memoryMb" yaml:"memoryMb"`
	// ReferenceSolution is kept for authors; students never see it.
	ReferenceSolution string `json:"referenceSolution" yaml:"referenceSolution"`
	// Checker is how submissions' outputs are compared with the tests'.
	Checker Checker `json:"checker" yaml:"checker"`
	// StopOnFirstFailure ends grading at the first test that fails; the
	// default grades every test.
	StopOnFirstFailure bool `json:"stopOnFirstFailure" yaml:"stopOnFirstFailure"`
	// Draft marks a problem saved but not published: CurriculumReader
	// never returns it and Level.ProblemCount does not count it; only
	// EditorReader does.
	Draft bool `json:"draft" yaml:"draft,omitempty"`
	// Version counts writes to the problem (see CurriculumWriter).
	Version int64 `json:"version" yaml:"-"`
}

// TestCase is one input given on stdin and the output expected on stdout.
type TestCase struct {
	Input  string `json:"input" yaml:"input"`
	Output string `json:"output" yaml:"output"`
	// Hint is the author's advice to a student whose program fails this
	// test; for a hidden test, it is all the student learns about it.
	Hint string `json:"hint,omitempty" yaml:"hint"`
}

// Default and maximum per-problem limits.
const (
	DefaultTimeLimitMs = 2000
	MaxTimeLimitMs     = 10000
	DefaultMemoryMB    = 64
	MaxMemoryMB        = 256
)
