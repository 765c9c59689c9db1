// Package storetest is the conformance suite every coderunner.Store
// implementation must pass. An implementation's tests call Run with a
// function that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) coderunner.Store {
//			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Decisions the suite pins down beyond the comments in store.go:
//   - stores keep p.WithDefaults(): a problem put with a zero time or memory
//     limit reads back with DefaultTimeLimitMs / DefaultMemoryMB;
//   - an id asked for that does not exist, and a level or age group with
//     nothing in it, may be absent from a returned map or map to an empty
//     slice: callers treat both alike;
//   - values returned by reads are the caller's: changing them does not
//     change the store;
//   - times (of runs, submissions, progress, users, sessions, audit
//     entries) are kept to the millisecond at least and read back in UTC;
//   - AuditEntries and Submissions with a limit of 0 return none (not all);
//   - a submission without test results may read back with Tests nil or
//     empty: callers treat both alike;
//   - Progress with an empty, non-nil list of problems returns none.
//   - usage roll-ups and runner figures are kept under the UTC day of
//     their Day (a Day given in another zone, or not at midnight, is
//     taken as that day's) and read back with Day and the other times in
//     UTC; ranges of days that hold none may return nil or empty.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner"
)

// Run runs the conformance suite. open must return a fresh, empty store for
// the test it is given and register the store's cleanup itself.
func Run(t *testing.T, open func(t *testing.T) coderunner.Store) {
	RunOnly(t, open)
}

// RunOnly runs the suite's tests with the given names (all with none):
// for a store that does some things two ways, the tests of the other way.
// A name the suite does not have fails the test.
func RunOnly(t *testing.T, open func(t *testing.T) coderunner.Store, names ...string) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s coderunner.Store)
	}{
		{"Ping", testPing},
		{"EmptyStore", testEmptyStore},
		{"AgeGroupRoundTrip", testAgeGroupRoundTrip},
		{"LevelRoundTrip", testLevelRoundTrip},
		{"ProblemRoundTrip", testProblemRoundTrip},
		{"ProblemDefaultLimits", testProblemDefaultLimits},
		{"OrderByPosition", testOrderByPosition},
		{"BatchedReads", testBatchedReads},
		{"UpsertIdempotent", testUpsertIdempotent},
		{"UpsertReplaces", testUpsertReplaces},
		{"ProblemCount", testProblemCount},
		{"ProblemCountInputIgnored", testProblemCountInputIgnored},
		{"PutLevelKeepsProblemCount", testPutLevelKeepsProblemCount},
		{"MissingReferences", testMissingReferences},
		{"InvalidContent", testInvalidContent},
		{"DeleteProblem", testDeleteProblem},
		{"DeleteLevel", testDeleteLevel},
		{"MoveLevel", testMoveLevel},
		{"ReadsReturnCopies", testReadsReturnCopies},
		{"RunRoundTrip", testRunRoundTrip},
		{"RunNotFound", testRunNotFound},
		{"UpdateRun", testUpdateRun},
		{"CreateRunTwice", testCreateRunTwice},
		{"UnfinishedRuns", testUnfinishedRuns},
		{"DeleteFinishedRuns", testDeleteFinishedRuns},
		{"SubmissionRoundTrip", testSubmissionRoundTrip},
		{"UpdateSubmission", testUpdateSubmission},
		{"SubmissionsPages", testSubmissionsPages},
		{"UnfinishedSubmissions", testUnfinishedSubmissions},
		{"Gradings", testGradings},
		{"Progress", testProgress},
		{"ProblemGrading", testProblemGrading},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentMovesKeepCounts", testConcurrentMovesKeepCounts},
		{"UserRoundTrip", testUserRoundTrip},
		{"UserByName", testUserByName},
		{"UserTaken", testUserTaken},
		{"SetUserRole", testSetUserRole},
		{"SetUserQuota", testSetUserQuota},
		{"RoleQuotas", testRoleQuotas},
		{"Sessions", testSessions},
		{"DeleteExpiredSessions", testDeleteExpiredSessions},
		{"AuditLog", testAuditLog},
		{"ConcurrentCreateUser", testConcurrentCreateUser},
		{"Activity", testActivity},
		{"ActivityBatches", testActivityBatches},
		{"UsageDays", testUsageDays},
		{"RunnerUsage", testRunnerUsage},
	}
	known := map[string]bool{}
	for _, tt := range append(tests, editingTests...) {
		known[tt.name] = true
		if len(names) > 0 && !slices.Contains(names, tt.name) {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
	for _, name := range names {
		if !known[name] {
			t.Errorf("the conformance suite has no test %q", name)
		}
	}
}

// Fixtures.

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ageGroup(slug string, pos int) coderunner.AgeGroup {
	return coderunner.AgeGroup{
		Slug:        slug,
		Title:       "Ages " + slug,
		Description: "Children aged " + slug + ".",
		Position:    pos,
	}
}

func level(id, group string, pos int) coderunner.Level {
	return coderunner.Level{
		ID:          id,
		AgeGroup:    group,
		Position:    pos,
		Title:       "Level " + id,
		Description: "About " + id + ".",
	}
}

func problem(id, levelID string, pos int) coderunner.Problem {
	return coderunner.Problem{
		ID:                id,
		LevelID:           levelID,
		Position:          pos,
		Title:             "Problem " + id,
		Statement:         "Print **" + id + "**.",
		StarterCode:       "# write here\n",
		SampleTests:       []coderunner.TestCase{{Input: "", Output: id + "\n"}},
		HiddenTests:       []coderunner.TestCase{{Input: "x\n", Output: id + "\n"}},
		TimeLimitMs:       1500,
		MemoryMB:          32,
		ReferenceSolution: "print(" + fmt.Sprintf("%q", id) + ")\n",
	}
}

// richProblem exercises every field with awkward content: multi-line code,
// tabs, unicode (accents, CJK, emoji, right-to-left), Markdown, several test
// cases with empty and trailing-whitespace data.
func richProblem(id, levelID string, pos int) coderunner.Problem {
	return coderunner.Problem{
		ID:       id,
		LevelID:  levelID,
		Position: pos,
		Title:    "Größte Zahl — 最大の数 🐍",
		Statement: "# Find the biggest\n\nRead two numbers, one per line, and print the bigger.\n\n" +
			"```python\nprint(max(a, b))\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nשלום, ¿qué tal?",
		StarterCode: "a = int(input())\nb = int(input())\n\tpass  # tab-indented\n# ☕ your code here\n",
		SampleTests: []coderunner.TestCase{
			{Input: "1\n2\n", Output: "2\n"},
			{Input: "-5\n-7\n", Output: "-5\n"},
		},
		HiddenTests: []coderunner.TestCase{
			{Input: "100\n100\n", Output: "100\n"},
			{Input: "0\n-1\n", Output: "0\n"},
			{Input: "", Output: ""},
			{Input: "  3 \r\n4\n", Output: "4  \n"},
		},
		TimeLimitMs:       coderunner.MaxTimeLimitMs,
		MemoryMB:          coderunner.MaxMemoryMB,
		ReferenceSolution: "a = int(input())\nb = int(input())\nif a > b:\n    print(a)\nelse:\n    print(b)\n",
	}
}

// Helpers that fail the test on error.

func mustPutAgeGroup(t *testing.T, s coderunner.Store, g coderunner.AgeGroup) {
	t.Helper()
	if err := s.PutAgeGroup(ctxFor(t), g); err != nil {
		t.Fatalf("PutAgeGroup(%q): %v", g.Slug, err)
	}
}

func mustPutLevel(t *testing.T, s coderunner.Store, l coderunner.Level) {
	t.Helper()
	if err := s.PutLevel(ctxFor(t), l); err != nil {
		t.Fatalf("PutLevel(%q): %v", l.ID, err)
	}
}

func mustPutProblem(t *testing.T, s coderunner.Store, p coderunner.Problem) {
	t.Helper()
	if err := s.PutProblem(ctxFor(t), p); err != nil {
		t.Fatalf("PutProblem(%q): %v", p.ID, err)
	}
}

func getLevel(t *testing.T, s coderunner.Store, id string) (coderunner.Level, bool) {
	t.Helper()
	m, err := s.Levels(ctxFor(t), []string{id})
	if err != nil {
		t.Fatalf("Levels(%q): %v", id, err)
	}
	l, ok := m[id]
	return l, ok
}

func getProblem(t *testing.T, s coderunner.Store, id string) (coderunner.Problem, bool) {
	t.Helper()
	m, err := s.Problems(ctxFor(t), []string{id})
	if err != nil {
		t.Fatalf("Problems(%q): %v", id, err)
	}
	p, ok := m[id]
	return p, ok
}

func wantProblemCount(t *testing.T, s coderunner.Store, levelID string, want int) {
	t.Helper()
	l, ok := getLevel(t, s, levelID)
	if !ok {
		t.Fatalf("level %q is missing", levelID)
	}
	if l.ProblemCount != want {
		t.Errorf("level %q: ProblemCount = %d, want %d", levelID, l.ProblemCount, want)
	}
}

func wantCode(t *testing.T, what string, err error, want coderunner.Code) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %s", what, want)
		return
	}
	if got := coderunner.ErrorCode(err); got != want {
		t.Errorf("%s: code %s (%v), want %s", what, got, err, want)
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

// unversioned returns x — an age group, level or problem, or a slice of
// them — with its Version zeroed: the store's, not the content's.
func unversioned[T any](x T) T {
	switch v := any(&x).(type) {
	case *coderunner.AgeGroup:
		v.Version = 0
	case *coderunner.Level:
		v.Version = 0
	case *coderunner.Problem:
		v.Version = 0
	case *[]coderunner.AgeGroup:
		*v = mapSlice(*v, unversioned)
	case *[]coderunner.Level:
		*v = mapSlice(*v, unversioned)
	case *[]coderunner.Problem:
		*v = mapSlice(*v, unversioned)
	}
	return x
}

func mapSlice[T any](xs []T, f func(T) T) []T {
	if xs == nil {
		return nil
	}
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func levelID(l coderunner.Level) string     { return l.ID }
func problemID(p coderunner.Problem) string { return p.ID }

// snapshot is everything a store holds, read back through its interface.
type snapshot struct {
	AgeGroups []coderunner.AgeGroup
	Levels    map[string][]coderunner.Level
	Problems  map[string][]coderunner.Problem
}

func takeSnapshot(t *testing.T, s coderunner.Store) snapshot {
	t.Helper()
	ctx := ctxFor(t)
	groups, err := s.AgeGroups(ctx)
	if err != nil {
		t.Fatalf("AgeGroups: %v", err)
	}
	slugs := ids(groups, func(g coderunner.AgeGroup) string { return g.Slug })
	levels, err := s.LevelsInAgeGroups(ctx, slugs)
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	snap := snapshot{AgeGroups: groups, Levels: map[string][]coderunner.Level{}, Problems: map[string][]coderunner.Problem{}}
	var levelIDs []string
	for slug, ls := range levels {
		if len(ls) > 0 {
			snap.Levels[slug] = ls
		}
		levelIDs = append(levelIDs, ids(ls, levelID)...)
	}
	problems, err := s.ProblemsInLevels(ctx, levelIDs)
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	for id, ps := range problems {
		if len(ps) > 0 {
			snap.Problems[id] = ps
		}
	}
	return snap
}

func wantSnapshot(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s changed the store:\n got %+v\nwant %+v", what, got, want)
	}
}

// seed puts a small curriculum: age groups a (levels a1, a2) and b (level
// b1); a1 holds p1, p2; a2 holds p3.
func seed(t *testing.T, s coderunner.Store) {
	t.Helper()
	mustPutAgeGroup(t, s, ageGroup("a", 1))
	mustPutAgeGroup(t, s, ageGroup("b", 2))
	mustPutLevel(t, s, level("a1", "a", 1))
	mustPutLevel(t, s, level("a2", "a", 2))
	mustPutLevel(t, s, level("b1", "b", 1))
	mustPutProblem(t, s, problem("p1", "a1", 1))
	mustPutProblem(t, s, problem("p2", "a1", 2))
	mustPutProblem(t, s, problem("p3", "a2", 1))
}

// The tests.

func testPing(t *testing.T, s coderunner.Store) {
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testEmptyStore(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	groups, err := s.AgeGroups(ctx)
	if err != nil || len(groups) != 0 {
		t.Errorf("AgeGroups = %v, %v; want none", groups, err)
	}
	for _, in := range [][]string{nil, {}, {"nope"}, {"nope", "also-nope"}} {
		ls, err := s.LevelsInAgeGroups(ctx, in)
		if err != nil || len(ls) != 0 {
			t.Errorf("LevelsInAgeGroups(%q) = %v, %v; want empty", in, ls, err)
		}
		l, err := s.Levels(ctx, in)
		if err != nil || len(l) != 0 {
			t.Errorf("Levels(%q) = %v, %v; want empty", in, l, err)
		}
		ps, err := s.ProblemsInLevels(ctx, in)
		if err != nil || len(ps) != 0 {
			t.Errorf("ProblemsInLevels(%q) = %v, %v; want empty", in, ps, err)
		}
		p, err := s.Problems(ctx, in)
		if err != nil || len(p) != 0 {
			t.Errorf("Problems(%q) = %v, %v; want empty", in, p, err)
		}
	}
}

func testAgeGroupRoundTrip(t *testing.T, s coderunner.Store) {
	tests := []coderunner.AgeGroup{
		ageGroup("7-9", 1),
		{Slug: "10_12", Title: "Âges 10–12 ✨", Description: "Multi-line\n**Markdown**\n\n- one\n- two", Position: 2},
		{Slug: "13", Title: "Teens", Description: "", Position: 3},
	}
	for _, g := range tests {
		mustPutAgeGroup(t, s, g)
	}
	got, err := s.AgeGroups(ctxFor(t))
	if err != nil {
		t.Fatalf("AgeGroups: %v", err)
	}
	if !reflect.DeepEqual(unversioned(got), tests) {
		t.Errorf("AgeGroups =\n %+v\nwant\n %+v", got, tests)
	}
}

func testLevelRoundTrip(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("7-9", 1))
	want := coderunner.Level{
		ID:          "loops-1",
		AgeGroup:    "7-9",
		Position:    4,
		Title:       "Schleifen 🔁 — 循环",
		Description: "Repeat things.\n\n```python\nfor i in range(3):\n    print(i)\n```",
	}
	mustPutLevel(t, s, want)
	got, ok := getLevel(t, s, want.ID)
	if !ok {
		t.Fatalf("Levels: %q missing after put", want.ID)
	}
	if !reflect.DeepEqual(unversioned(got), want) {
		t.Errorf("Levels[%q] =\n %+v\nwant\n %+v", want.ID, got, want)
	}
	in, err := s.LevelsInAgeGroups(ctxFor(t), []string{"7-9"})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	if !reflect.DeepEqual(unversioned(in["7-9"]), []coderunner.Level{want}) {
		t.Errorf("LevelsInAgeGroups[7-9] = %+v, want [%+v]", in["7-9"], want)
	}
}

func testProblemRoundTrip(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("a", 1))
	mustPutLevel(t, s, level("l", "a", 1))
	tests := []struct {
		name string
		p    coderunner.Problem
	}{
		{"rich", richProblem("rich", "l", 1)},
		{"plain", problem("plain", "l", 2)},
		{"many-tests", func() coderunner.Problem {
			p := problem("many-tests", "l", 3)
			for i := range 20 {
				p.HiddenTests = append(p.HiddenTests, coderunner.TestCase{
					Input:  strings.Repeat(fmt.Sprintf("%d\n", i), i+1),
					Output: fmt.Sprintf("%d\n", i*(i+1)),
				})
			}
			return p
		}()},
		{"large-code", func() coderunner.Problem {
			p := problem("large-code", "l", 4)
			p.ReferenceSolution = strings.Repeat("print('line ✓')\n", 2000)
			p.StarterCode = strings.Repeat("# comment\n", 1000)
			return p
		}()},
	}
	for _, tt := range tests {
		mustPutProblem(t, s, tt.p)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := getProblem(t, s, tt.p.ID)
			if !ok {
				t.Fatalf("Problems: %q missing after put", tt.p.ID)
			}
			if !reflect.DeepEqual(unversioned(got), tt.p) {
				t.Errorf("Problems[%q] =\n %#v\nwant\n %#v", tt.p.ID, got, tt.p)
			}
		})
	}
	in, err := s.ProblemsInLevels(ctxFor(t), []string{"l"})
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	want := make([]coderunner.Problem, len(tests))
	for i, tt := range tests {
		want[i] = tt.p
	}
	if !reflect.DeepEqual(unversioned(in["l"]), want) {
		t.Errorf("ProblemsInLevels[l] = %q, want every field of %q", ids(in["l"], problemID), ids(want, problemID))
	}
}

func testProblemDefaultLimits(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("a", 1))
	mustPutLevel(t, s, level("l", "a", 1))
	tests := []struct {
		id               string
		timeMs, memoryMB int
		wantMs, wantMB   int
	}{
		{"both-zero", 0, 0, coderunner.DefaultTimeLimitMs, coderunner.DefaultMemoryMB},
		{"time-zero", 0, 100, coderunner.DefaultTimeLimitMs, 100},
		{"memory-zero", 300, 0, 300, coderunner.DefaultMemoryMB},
		{"both-set", 1, coderunner.MinMemoryMB, 1, coderunner.MinMemoryMB},
	}
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			p := problem(tt.id, "l", i)
			p.TimeLimitMs, p.MemoryMB = tt.timeMs, tt.memoryMB
			mustPutProblem(t, s, p)
			got, ok := getProblem(t, s, tt.id)
			if !ok {
				t.Fatalf("Problems: %q missing after put", tt.id)
			}
			if got.TimeLimitMs != tt.wantMs || got.MemoryMB != tt.wantMB {
				t.Errorf("limits = %d ms, %d MB; want %d ms, %d MB", got.TimeLimitMs, got.MemoryMB, tt.wantMs, tt.wantMB)
			}
			if want := p.WithDefaults(); !reflect.DeepEqual(unversioned(got), want) {
				t.Errorf("Problems[%q] = %+v, want p.WithDefaults() = %+v", tt.id, got, want)
			}
		})
	}
}

func testOrderByPosition(t *testing.T, s coderunner.Store) {
	// Put in an order that is neither by position nor by id.
	mustPutAgeGroup(t, s, ageGroup("m", 2))
	mustPutAgeGroup(t, s, ageGroup("z", 1))
	mustPutAgeGroup(t, s, ageGroup("a", 3))
	mustPutLevel(t, s, level("l-b", "z", 30))
	mustPutLevel(t, s, level("l-c", "z", -1))
	mustPutLevel(t, s, level("l-a", "z", 20))
	mustPutLevel(t, s, level("m-1", "m", 1))
	mustPutProblem(t, s, problem("q-x", "l-a", 3))
	mustPutProblem(t, s, problem("q-y", "l-a", 1))
	mustPutProblem(t, s, problem("q-z", "l-a", 2))
	mustPutProblem(t, s, problem("r-1", "l-b", 10))
	mustPutProblem(t, s, problem("r-0", "l-b", 9))
	// Moving within a level reorders it.
	mustPutProblem(t, s, problem("q-x", "l-a", 0))

	ctx := ctxFor(t)
	groups, err := s.AgeGroups(ctx)
	if err != nil {
		t.Fatalf("AgeGroups: %v", err)
	}
	if got, want := ids(groups, func(g coderunner.AgeGroup) string { return g.Slug }), []string{"z", "m", "a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AgeGroups order = %q, want %q", got, want)
	}
	levels, err := s.LevelsInAgeGroups(ctx, []string{"z", "m", "a"})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	problems, err := s.ProblemsInLevels(ctx, []string{"l-a", "l-b", "l-c", "m-1"})
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"levels in z", ids(levels["z"], levelID), []string{"l-c", "l-a", "l-b"}},
		{"levels in m", ids(levels["m"], levelID), []string{"m-1"}},
		{"levels in a", ids(levels["a"], levelID), []string{}},
		{"problems in l-a", ids(problems["l-a"], problemID), []string{"q-x", "q-y", "q-z"}},
		{"problems in l-b", ids(problems["l-b"], problemID), []string{"r-0", "r-1"}},
		{"problems in l-c", ids(problems["l-c"], problemID), []string{}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func testBatchedReads(t *testing.T, s coderunner.Store) {
	seed(t, s)
	ctx := ctxFor(t)
	t.Run("LevelsInAgeGroups", func(t *testing.T) {
		tests := []struct {
			in   []string
			want map[string][]string
		}{
			{[]string{"a", "b"}, map[string][]string{"a": {"a1", "a2"}, "b": {"b1"}}},
			{[]string{"b", "missing", "a"}, map[string][]string{"a": {"a1", "a2"}, "b": {"b1"}}},
			{[]string{"a", "a"}, map[string][]string{"a": {"a1", "a2"}}},
			{[]string{"missing"}, map[string][]string{}},
		}
		for _, tt := range tests {
			m, err := s.LevelsInAgeGroups(ctx, tt.in)
			if err != nil {
				t.Fatalf("LevelsInAgeGroups(%q): %v", tt.in, err)
			}
			got := map[string][]string{}
			for k, v := range m {
				if len(v) > 0 {
					got[k] = ids(v, levelID)
				}
				for _, l := range v {
					if l.AgeGroup != k {
						t.Errorf("LevelsInAgeGroups(%q)[%q] holds level %q of age group %q", tt.in, k, l.ID, l.AgeGroup)
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LevelsInAgeGroups(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	})
	t.Run("Levels", func(t *testing.T) {
		tests := []struct {
			in   []string
			want []string
		}{
			{[]string{"a1", "b1", "a2"}, []string{"a1", "a2", "b1"}},
			{[]string{"missing", "a2", "gone", "a1"}, []string{"a1", "a2"}},
			{[]string{"b1", "b1"}, []string{"b1"}},
			{[]string{"p1"}, nil}, // a problem id is not a level id
		}
		for _, tt := range tests {
			m, err := s.Levels(ctx, tt.in)
			if err != nil {
				t.Fatalf("Levels(%q): %v", tt.in, err)
			}
			if len(m) != len(tt.want) {
				t.Errorf("Levels(%q) has %d entries, want %q", tt.in, len(m), tt.want)
			}
			for _, id := range tt.want {
				if l, ok := m[id]; !ok || l.ID != id {
					t.Errorf("Levels(%q)[%q] = %+v, %v; want level %q", tt.in, id, l, ok, id)
				}
			}
		}
	})
	t.Run("ProblemsInLevels", func(t *testing.T) {
		tests := []struct {
			in   []string
			want map[string][]string
		}{
			{[]string{"a1", "a2", "b1"}, map[string][]string{"a1": {"p1", "p2"}, "a2": {"p3"}}},
			{[]string{"missing", "a2"}, map[string][]string{"a2": {"p3"}}},
			{[]string{"b1"}, map[string][]string{}},
		}
		for _, tt := range tests {
			m, err := s.ProblemsInLevels(ctx, tt.in)
			if err != nil {
				t.Fatalf("ProblemsInLevels(%q): %v", tt.in, err)
			}
			got := map[string][]string{}
			for k, v := range m {
				if len(v) > 0 {
					got[k] = ids(v, problemID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ProblemsInLevels(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
		m, err := s.ProblemsInLevels(ctx, []string{"a1"})
		if err != nil {
			t.Fatalf("ProblemsInLevels: %v", err)
		}
		if want := problem("p1", "a1", 1); len(m["a1"]) == 0 || !reflect.DeepEqual(unversioned(m["a1"][0]), want) {
			t.Errorf("ProblemsInLevels does not return whole problems: got %+v, want %+v", m["a1"], want)
		}
	})
	t.Run("Problems", func(t *testing.T) {
		tests := []struct {
			in   []string
			want []string
		}{
			{[]string{"p3", "p1", "p2"}, []string{"p1", "p2", "p3"}},
			{[]string{"missing", "p2", "gone"}, []string{"p2"}},
			{[]string{"a1"}, nil}, // a level id is not a problem id
		}
		for _, tt := range tests {
			m, err := s.Problems(ctx, tt.in)
			if err != nil {
				t.Fatalf("Problems(%q): %v", tt.in, err)
			}
			if len(m) != len(tt.want) {
				t.Errorf("Problems(%q) has %d entries, want %q", tt.in, len(m), tt.want)
			}
			for _, id := range tt.want {
				if p, ok := m[id]; !ok || p.ID != id {
					t.Errorf("Problems(%q)[%q] = %+v, %v; want problem %q", tt.in, id, p, ok, id)
				}
			}
		}
	})
}

func testUpsertIdempotent(t *testing.T, s coderunner.Store) {
	seed(t, s)
	mustPutProblem(t, s, richProblem("rich", "b1", 1))
	first := takeSnapshot(t, s)
	seed(t, s)
	mustPutProblem(t, s, richProblem("rich", "b1", 1))
	wantSnapshot(t, "putting the same content twice", takeSnapshot(t, s), first)
	wantProblemCount(t, s, "a1", 2)
	wantProblemCount(t, s, "a2", 1)
	wantProblemCount(t, s, "b1", 1)
}

func testUpsertReplaces(t *testing.T, s coderunner.Store) {
	seed(t, s)
	g := ageGroup("a", 7)
	g.Title, g.Description = "New title", ""
	mustPutAgeGroup(t, s, g)
	l := level("a1", "a", 9)
	l.Title, l.Description = "Renamed", "New description"
	mustPutLevel(t, s, l)
	p := richProblem("p1", "a1", 5)
	mustPutProblem(t, s, p)
	// Fewer test cases than before: the old ones must not linger.
	p2 := problem("p2", "a1", 6)
	p2.SampleTests = p2.SampleTests[:1]
	p2.HiddenTests = []coderunner.TestCase{{Input: "only", Output: "one"}}
	mustPutProblem(t, s, p2)

	groups, err := s.AgeGroups(ctxFor(t))
	if err != nil {
		t.Fatalf("AgeGroups: %v", err)
	}
	if len(groups) != 2 || !reflect.DeepEqual(unversioned(groups[1]), g) {
		t.Errorf("AgeGroups = %+v, want 2 with the last %+v", groups, g)
	}
	gotL, _ := getLevel(t, s, "a1")
	l.ProblemCount = 2
	if !reflect.DeepEqual(unversioned(gotL), l) {
		t.Errorf("level a1 = %+v, want %+v", gotL, l)
	}
	for _, want := range []coderunner.Problem{p, p2} {
		if got, _ := getProblem(t, s, want.ID); !reflect.DeepEqual(unversioned(got), want) {
			t.Errorf("problem %q =\n %+v\nwant\n %+v", want.ID, got, want)
		}
	}
}

func testProblemCount(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("a", 1))
	mustPutLevel(t, s, level("x", "a", 1))
	mustPutLevel(t, s, level("y", "a", 2))
	ctx := ctxFor(t)
	steps := []struct {
		name  string
		do    func() error
		wantX int
		wantY int
	}{
		{"new level is empty", func() error { return nil }, 0, 0},
		{"put p1 in x", func() error { return s.PutProblem(ctx, problem("p1", "x", 1)) }, 1, 0},
		{"put p2 in x", func() error { return s.PutProblem(ctx, problem("p2", "x", 2)) }, 2, 0},
		{"put p2 again", func() error { return s.PutProblem(ctx, problem("p2", "x", 3)) }, 2, 0},
		{"put p3 in y", func() error { return s.PutProblem(ctx, problem("p3", "y", 1)) }, 2, 1},
		{"move p1 to y", func() error { return s.PutProblem(ctx, problem("p1", "y", 2)) }, 1, 2},
		{"move p2 to y", func() error { return s.PutProblem(ctx, problem("p2", "y", 3)) }, 0, 3},
		{"move p2 back to x", func() error { return s.PutProblem(ctx, problem("p2", "x", 1)) }, 1, 2},
		{"delete p3", func() error { return s.DeleteProblem(ctx, "p3", 0) }, 1, 1},
		{"delete p2", func() error { return s.DeleteProblem(ctx, "p2", 0) }, 0, 1},
		{"re-put p2", func() error { return s.PutProblem(ctx, problem("p2", "x", 1)) }, 1, 1},
		{"failed delete", func() error {
			if err := s.DeleteProblem(ctx, "p3", 0); coderunner.ErrorCode(err) != coderunner.NotFound {
				return fmt.Errorf("DeleteProblem(p3) again = %v, want NOT_FOUND", err)
			}
			return nil
		}, 1, 1},
		{"failed move to a missing level", func() error {
			if err := s.PutProblem(ctx, problem("p2", "nowhere", 1)); coderunner.ErrorCode(err) != coderunner.NotFound {
				return fmt.Errorf("PutProblem to missing level = %v, want NOT_FOUND", err)
			}
			return nil
		}, 1, 1},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		m, err := s.Levels(ctx, []string{"x", "y"})
		if err != nil {
			t.Fatalf("%s: Levels: %v", st.name, err)
		}
		if m["x"].ProblemCount != st.wantX || m["y"].ProblemCount != st.wantY {
			t.Errorf("after %s: ProblemCount x=%d y=%d, want x=%d y=%d",
				st.name, m["x"].ProblemCount, m["y"].ProblemCount, st.wantX, st.wantY)
		}
		// The count agrees with the problems listed, and with the levels
		// listed per age group.
		ps, err := s.ProblemsInLevels(ctx, []string{"x", "y"})
		if err != nil {
			t.Fatalf("%s: ProblemsInLevels: %v", st.name, err)
		}
		ls, err := s.LevelsInAgeGroups(ctx, []string{"a"})
		if err != nil {
			t.Fatalf("%s: LevelsInAgeGroups: %v", st.name, err)
		}
		for _, l := range ls["a"] {
			if l.ProblemCount != len(ps[l.ID]) {
				t.Errorf("after %s: level %q lists ProblemCount %d but holds %d problems", st.name, l.ID, l.ProblemCount, len(ps[l.ID]))
			}
		}
	}
}

func testProblemCountInputIgnored(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("a", 1))
	l := level("l", "a", 1)
	l.ProblemCount = 42
	mustPutLevel(t, s, l)
	wantProblemCount(t, s, "l", 0)
	mustPutProblem(t, s, problem("p", "l", 1))
	l.ProblemCount = -3
	mustPutLevel(t, s, l)
	wantProblemCount(t, s, "l", 1)
}

func testPutLevelKeepsProblemCount(t *testing.T, s coderunner.Store) {
	seed(t, s)
	l := level("a1", "a", 5)
	l.Title = "Retitled"
	mustPutLevel(t, s, l) // ProblemCount 0 on input
	wantProblemCount(t, s, "a1", 2)
	got, _ := getLevel(t, s, "a1")
	if got.Title != "Retitled" || got.Position != 5 {
		t.Errorf("level a1 = %+v, want the new title and position", got)
	}
	ps, err := s.ProblemsInLevels(ctxFor(t), []string{"a1"})
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	if len(ps["a1"]) != 2 {
		t.Errorf("re-putting level a1 changed its problems: %q", ids(ps["a1"], problemID))
	}
}

func testMissingReferences(t *testing.T, s coderunner.Store) {
	seed(t, s)
	before := takeSnapshot(t, s)
	ctx := ctxFor(t)
	tests := []struct {
		name string
		err  error
	}{
		{"PutLevel with a missing age group", s.PutLevel(ctx, level("new", "missing", 1))},
		{"PutLevel moving to a missing age group", s.PutLevel(ctx, level("a1", "missing", 1))},
		{"PutProblem with a missing level", s.PutProblem(ctx, problem("new", "missing", 1))},
		{"PutProblem moving to a missing level", s.PutProblem(ctx, problem("p1", "missing", 1))},
		{"PutProblem with an age group as level", s.PutProblem(ctx, problem("new", "a", 1))},
		{"DeleteProblem of a missing id", s.DeleteProblem(ctx, "missing", 0)},
		{"DeleteProblem of a level id", s.DeleteProblem(ctx, "b1", 0)},
		{"DeleteLevel of a missing id", s.DeleteLevel(ctx, "missing", 0)},
		{"DeleteLevel of a problem id", s.DeleteLevel(ctx, "p1", 0)},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.err, coderunner.NotFound)
	}
	wantSnapshot(t, "failed writes", takeSnapshot(t, s), before)
	if _, ok := getLevel(t, s, "new"); ok {
		t.Errorf("level %q was written despite its missing age group", "new")
	}
	if _, ok := getProblem(t, s, "new"); ok {
		t.Errorf("problem %q was written despite its missing level", "new")
	}
}

func testInvalidContent(t *testing.T, s coderunner.Store) {
	seed(t, s)
	before := takeSnapshot(t, s)
	withProblem := func(id string, f func(p *coderunner.Problem)) coderunner.Problem {
		p := problem(id, "a1", 1)
		f(&p)
		return p
	}
	bigCode := strings.Repeat("x", 64<<10+1)
	tests := []struct {
		name string
		put  func(ctx context.Context) error
	}{
		{"age group: empty slug", func(ctx context.Context) error { return s.PutAgeGroup(ctx, ageGroup("", 1)) }},
		{"age group: upper-case slug", func(ctx context.Context) error { return s.PutAgeGroup(ctx, ageGroup("Ages", 1)) }},
		{"age group: slug with a slash", func(ctx context.Context) error { return s.PutAgeGroup(ctx, ageGroup("a/b", 1)) }},
		{"age group: blank title", func(ctx context.Context) error {
			g := ageGroup("a", 1)
			g.Title = "  "
			return s.PutAgeGroup(ctx, g) // an existing age group: must stay as it was
		}},
		{"age group: invalid UTF-8", func(ctx context.Context) error {
			g := ageGroup("c", 1)
			g.Description = "bad \xff"
			return s.PutAgeGroup(ctx, g)
		}},
		{"level: bad id", func(ctx context.Context) error { return s.PutLevel(ctx, level("Level 1", "a", 1)) }},
		{"level: no age group", func(ctx context.Context) error { return s.PutLevel(ctx, level("a1", "", 1)) }},
		{"level: empty title", func(ctx context.Context) error {
			l := level("a1", "b", 1) // would also move it
			l.Title = ""
			return s.PutLevel(ctx, l)
		}},
		{"level: title too long", func(ctx context.Context) error {
			l := level("new", "a", 1)
			l.Title = strings.Repeat("é", 201)
			return s.PutLevel(ctx, l)
		}},
		{"problem: bad id", func(ctx context.Context) error { return s.PutProblem(ctx, problem("-p", "a1", 1)) }},
		{"problem: id too long", func(ctx context.Context) error { return s.PutProblem(ctx, problem(strings.Repeat("p", 65), "a1", 1)) }},
		{"problem: no level", func(ctx context.Context) error { return s.PutProblem(ctx, problem("p1", "", 1)) }},
		{"problem: no title", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.Title = "" }))
		}},
		{"problem: no hidden tests", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.HiddenTests = nil }))
		}},
		{"problem: no sample tests", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("new", func(p *coderunner.Problem) { p.SampleTests = nil }))
		}},
		{"problem: time limit too high", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.TimeLimitMs = coderunner.MaxTimeLimitMs + 1 }))
		}},
		{"problem: negative memory", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.MemoryMB = -1 }))
		}},
		{"problem: memory below what the sandbox can run", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.MemoryMB = coderunner.MinMemoryMB - 1 }))
		}},
		{"problem: reference solution too big", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.ReferenceSolution = bigCode }))
		}},
		{"problem: moved to another level and invalid", func(ctx context.Context) error {
			return s.PutProblem(ctx, withProblem("p1", func(p *coderunner.Problem) { p.LevelID = "b1"; p.Statement = "\xfe" }))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, tt.put(ctxFor(t)), coderunner.BadUserInput)
			wantSnapshot(t, tt.name, takeSnapshot(t, s), before)
		})
	}
	if _, ok := getLevel(t, s, "new"); ok {
		t.Errorf("invalid level %q was written", "new")
	}
	if _, ok := getProblem(t, s, "new"); ok {
		t.Errorf("invalid problem %q was written", "new")
	}
}

func testDeleteProblem(t *testing.T, s coderunner.Store) {
	seed(t, s)
	ctx := ctxFor(t)
	if err := s.DeleteProblem(ctx, "p1", 0); err != nil {
		t.Fatalf("DeleteProblem(p1): %v", err)
	}
	if _, ok := getProblem(t, s, "p1"); ok {
		t.Errorf("problem p1 still readable after delete")
	}
	ps, err := s.ProblemsInLevels(ctx, []string{"a1"})
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	if got := ids(ps["a1"], problemID); !reflect.DeepEqual(got, []string{"p2"}) {
		t.Errorf("problems in a1 after deleting p1 = %q, want [p2]", got)
	}
	wantProblemCount(t, s, "a1", 1)
	wantCode(t, "DeleteProblem(p1) twice", s.DeleteProblem(ctx, "p1", 0), coderunner.NotFound)
	wantCode(t, "DeleteProblem(\"\")", s.DeleteProblem(ctx, "", 0), coderunner.NotFound)
	// The id can be used again.
	mustPutProblem(t, s, problem("p1", "a2", 0))
	wantProblemCount(t, s, "a1", 1)
	wantProblemCount(t, s, "a2", 2)
}

func testDeleteLevel(t *testing.T, s coderunner.Store) {
	seed(t, s)
	ctx := ctxFor(t)

	before := takeSnapshot(t, s)
	wantCode(t, "DeleteLevel of a non-empty level", s.DeleteLevel(ctx, "a1", 0), coderunner.BadUserInput)
	wantSnapshot(t, "DeleteLevel of a non-empty level", takeSnapshot(t, s), before)
	wantProblemCount(t, s, "a1", 2)

	if err := s.DeleteLevel(ctx, "b1", 0); err != nil {
		t.Fatalf("DeleteLevel(b1) (empty): %v", err)
	}
	if _, ok := getLevel(t, s, "b1"); ok {
		t.Errorf("level b1 still readable after delete")
	}
	ls, err := s.LevelsInAgeGroups(ctx, []string{"b"})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	if len(ls["b"]) != 0 {
		t.Errorf("age group b still lists %q after deleting b1", ids(ls["b"], levelID))
	}
	wantCode(t, "DeleteLevel(b1) twice", s.DeleteLevel(ctx, "b1", 0), coderunner.NotFound)
	wantCode(t, "PutProblem into a deleted level", s.PutProblem(ctx, problem("p9", "b1", 1)), coderunner.NotFound)

	// Emptying a level makes it deletable.
	for _, id := range []string{"p1", "p2"} {
		if err := s.DeleteProblem(ctx, id, 0); err != nil {
			t.Fatalf("DeleteProblem(%s): %v", id, err)
		}
	}
	if err := s.DeleteLevel(ctx, "a1", 0); err != nil {
		t.Fatalf("DeleteLevel(a1) once emptied: %v", err)
	}
	ls, err = s.LevelsInAgeGroups(ctx, []string{"a"})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	if got := ids(ls["a"], levelID); !reflect.DeepEqual(got, []string{"a2"}) {
		t.Errorf("levels in a = %q, want [a2]", got)
	}
	// And the id can be used again, empty.
	mustPutLevel(t, s, level("a1", "a", 1))
	wantProblemCount(t, s, "a1", 0)
}

func testMoveLevel(t *testing.T, s coderunner.Store) {
	seed(t, s)
	mustPutLevel(t, s, level("a1", "b", 0))
	ctx := ctxFor(t)
	ls, err := s.LevelsInAgeGroups(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	if got := ids(ls["a"], levelID); !reflect.DeepEqual(got, []string{"a2"}) {
		t.Errorf("levels in a after the move = %q, want [a2]", got)
	}
	if got := ids(ls["b"], levelID); !reflect.DeepEqual(got, []string{"a1", "b1"}) {
		t.Errorf("levels in b after the move = %q, want [a1 b1]", got)
	}
	l, _ := getLevel(t, s, "a1")
	if l.AgeGroup != "b" || l.ProblemCount != 2 {
		t.Errorf("moved level = %+v, want age group b with its 2 problems", l)
	}
	ps, err := s.ProblemsInLevels(ctx, []string{"a1"})
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	if got := ids(ps["a1"], problemID); !reflect.DeepEqual(got, []string{"p1", "p2"}) {
		t.Errorf("problems of the moved level = %q, want [p1 p2]", got)
	}
}

func testReadsReturnCopies(t *testing.T, s coderunner.Store) {
	seed(t, s)
	before := takeSnapshot(t, s)
	ctx := ctxFor(t)
	scribble := func(p *coderunner.Problem) {
		p.Title = "scribbled"
		for i := range p.SampleTests {
			p.SampleTests[i].Output = "scribbled"
		}
		for i := range p.HiddenTests {
			p.HiddenTests[i].Input = "scribbled"
		}
	}
	groups, err := s.AgeGroups(ctx)
	if err != nil {
		t.Fatalf("AgeGroups: %v", err)
	}
	for i := range groups {
		groups[i].Title = "scribbled"
	}
	lm, err := s.Levels(ctx, []string{"a1"})
	if err != nil {
		t.Fatalf("Levels: %v", err)
	}
	for k, l := range lm {
		l.Title = "scribbled"
		lm[k] = l
	}
	lg, err := s.LevelsInAgeGroups(ctx, []string{"a"})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups: %v", err)
	}
	for _, ls := range lg {
		for i := range ls {
			ls[i].ProblemCount = 99
		}
	}
	pm, err := s.Problems(ctx, []string{"p1"})
	if err != nil {
		t.Fatalf("Problems: %v", err)
	}
	for _, p := range pm {
		scribble(&p)
	}
	pl, err := s.ProblemsInLevels(ctx, []string{"a1"})
	if err != nil {
		t.Fatalf("ProblemsInLevels: %v", err)
	}
	for _, ps := range pl {
		for i := range ps {
			scribble(&ps[i])
		}
	}
	wantSnapshot(t, "changing values returned by reads", takeSnapshot(t, s), before)
	if p, _ := getProblem(t, s, "p1"); !reflect.DeepEqual(unversioned(p), problem("p1", "a1", 1)) {
		t.Errorf("problem p1 = %+v after changing a returned copy", p)
	}
}

// testConcurrentPuts puts the same content from several goroutines at once,
// as api replicas seeding one empty store do: every put succeeds and the
// store ends as if it had been put once.
func testConcurrentPuts(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	const writers = 4
	errs := make(chan error, writers)
	for range writers {
		go func() {
			errs <- func() error {
				if err := s.PutAgeGroup(ctx, ageGroup("g", 1)); err != nil {
					return err
				}
				if err := s.PutLevel(ctx, level("l", "g", 1)); err != nil {
					return err
				}
				return s.PutProblem(ctx, problem("p", "l", 1))
			}()
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Errorf("concurrent put: %v", err)
		}
	}
	if l, ok := getLevel(t, s, "l"); !ok || l.ProblemCount != 1 {
		t.Errorf("level after concurrent puts: %+v (found %v), want problemCount 1", l, ok)
	}
}

// testConcurrentMovesKeepCounts: in rounds, writers at once move
// problems between levels, delete them and put them back, and put the
// levels again; after every round, every level's problemCount is the
// number of its problems. A write may fail with coderunner.ErrBusy under
// the flood (nothing written).
func testConcurrentMovesKeepCounts(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	const levels, writers, rounds = 3, 12, 6
	mustPutAgeGroup(t, s, ageGroup("g", 1))
	ids := make([]string, levels)
	for l := range ids {
		ids[l] = fmt.Sprintf("l%d", l)
		mustPutLevel(t, s, level(ids[l], "g", l))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range writers {
			// Each writer its own problem: whether it exists is known.
			p, l, op := fmt.Sprintf("p%d", w), ids[rnd.IntN(levels)], rnd.IntN(5)
			wg.Go(func() {
				var err error
				switch op {
				case 0:
					err = s.DeleteProblem(ctx, p, 0)
					if coderunner.ErrorCode(err) == coderunner.NotFound {
						err = nil
					}
				case 1:
					err = s.PutLevel(ctx, level(l, "g", 0))
				default:
					err = s.PutProblem(ctx, problem(p, l, 0))
				}
				if err != nil && !errors.Is(err, coderunner.ErrBusy) {
					t.Errorf("concurrent write: %v", err)
				}
			})
		}
		wg.Wait()
		inLevels, err := s.ProblemsInLevels(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Levels(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if got[id].ProblemCount != len(inLevels[id]) {
				t.Fatalf("after round %d, level %s has problemCount %d and %d problems", round+1, id, got[id].ProblemCount, len(inLevels[id]))
			}
		}
	}
}
