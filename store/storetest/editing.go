package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"coderunner"
)

// Tests of the editing writes: versions, conflicts, drafts, dense positions
// under moves, deletes, reorders and concurrency.

// editingTests are run by Run.
var editingTests = []struct {
	name string
	fn   func(t *testing.T, s coderunner.Store)
}{
	{"EditVersions", testEditVersions},
	{"PutUnchangedKeepsVersions", testPutUnchangedKeepsVersions},
	{"UpdateConflicts", testUpdateConflicts},
	{"CreateConflicts", testCreateConflicts},
	{"Drafts", testDrafts},
	{"MoveProblem", testMoveProblem},
	{"EditMoveLevel", testEditMoveLevel},
	{"DeletesCloseGaps", testDeletesCloseGaps},
	{"Reorder", testReorder},
	{"InvalidEdits", testInvalidEdits},
	{"ConcurrentUpdatesOneWins", testConcurrentUpdatesOneWins},
	{"ConcurrentCreatesDense", testConcurrentCreatesDense},
	{"ConcurrentReorderAndCreate", testConcurrentReorderAndCreate},
	{"ConcurrentStructuralEdits", testConcurrentStructuralEdits},
}

// editSeed creates age groups a, b; levels a1, a2 in a and b1 in b;
// problems p1, p2, p3 in a1 and q1 in b1, all through the editing writes.
func editSeed(t *testing.T, s coderunner.Store) {
	t.Helper()
	ctx := ctxFor(t)
	for i, g := range []string{"a", "b"} {
		if _, err := s.CreateAgeGroup(ctx, ageGroup(g, i+1)); err != nil {
			t.Fatalf("CreateAgeGroup(%s): %v", g, err)
		}
	}
	for _, l := range []coderunner.Level{level("a1", "a", 0), level("a2", "a", 0), level("b1", "b", 0)} {
		if _, err := s.CreateLevel(ctx, l); err != nil {
			t.Fatalf("CreateLevel(%s): %v", l.ID, err)
		}
	}
	for _, p := range []coderunner.Problem{problem("p1", "a1", 0), problem("p2", "a1", 0), problem("p3", "a1", 0), problem("q1", "b1", 0)} {
		if _, err := s.CreateProblem(ctx, p); err != nil {
			t.Fatalf("CreateProblem(%s): %v", p.ID, err)
		}
	}
}

func editorProblem(t *testing.T, s coderunner.Store, id string) coderunner.Problem {
	t.Helper()
	p, err := s.ProblemForEditing(ctxFor(t), id)
	if err != nil {
		t.Fatalf("ProblemForEditing(%s): %v", id, err)
	}
	return p
}

func mustLevel(t *testing.T, s coderunner.Store, id string) coderunner.Level {
	t.Helper()
	l, ok := getLevel(t, s, id)
	if !ok {
		t.Fatalf("level %s is missing", id)
	}
	return l
}

func mustAgeGroup(t *testing.T, s coderunner.Store, slug string) coderunner.AgeGroup {
	t.Helper()
	groups, err := s.AgeGroups(ctxFor(t))
	if err != nil {
		t.Fatalf("AgeGroups: %v", err)
	}
	for _, g := range groups {
		if g.Slug == slug {
			return g
		}
	}
	t.Fatalf("age group %s is missing", slug)
	return coderunner.AgeGroup{}
}

// wantProblems checks that level id holds exactly ids (drafts included), in
// this order, at positions 1..n, and that its count is its published ones.
func wantProblems(t *testing.T, s coderunner.Store, id string, want ...string) {
	t.Helper()
	m, err := s.ProblemsForEditing(ctxFor(t), []string{id})
	if err != nil {
		t.Fatalf("ProblemsForEditing(%s): %v", id, err)
	}
	published := 0
	for i, p := range m[id] {
		if p.Position != i+1 {
			t.Errorf("level %s: problem %s at position %d, want %d (positions %v)", id, p.ID, p.Position, i+1, positions(m[id]))
		}
		if !p.Draft {
			published++
		}
	}
	if got := ids(m[id], problemID); !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
		t.Errorf("level %s holds %q, want %q", id, got, want)
	}
	if l := mustLevel(t, s, id); l.ProblemCount != published {
		t.Errorf("level %s: ProblemCount %d, want %d", id, l.ProblemCount, published)
	}
}

// wantLevels is wantProblems for the levels of an age group.
func wantLevels(t *testing.T, s coderunner.Store, slug string, want ...string) {
	t.Helper()
	m, err := s.LevelsInAgeGroups(ctxFor(t), []string{slug})
	if err != nil {
		t.Fatalf("LevelsInAgeGroups(%s): %v", slug, err)
	}
	for i, l := range m[slug] {
		if l.Position != i+1 {
			t.Errorf("age group %s: level %s at position %d, want %d", slug, l.ID, l.Position, i+1)
		}
	}
	if got := ids(m[slug], levelID); !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
		t.Errorf("age group %s holds %q, want %q", slug, got, want)
	}
}

func positions(ps []coderunner.Problem) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.Position
	}
	return out
}

func testEditVersions(t *testing.T, s coderunner.Store) {
	ctx := ctxFor(t)
	g, err := s.CreateAgeGroup(ctx, ageGroup("a", 1))
	if err != nil || g.Version != 1 {
		t.Fatalf("CreateAgeGroup = %+v, %v; want version 1", g, err)
	}
	l, err := s.CreateLevel(ctx, level("a1", "a", 7))
	if err != nil || l.Version != 1 || l.Position != 1 {
		t.Fatalf("CreateLevel = %+v, %v; want version 1 at position 1", l, err)
	}
	if g := mustAgeGroup(t, s, "a"); g.Version != 2 {
		t.Errorf("age group after a level was created in it: version %d, want 2", g.Version)
	}
	p, err := s.CreateProblem(ctx, problem("p1", "a1", 9))
	if err != nil || p.Version != 1 || p.Position != 1 {
		t.Fatalf("CreateProblem = %+v, %v; want version 1 at position 1", p, err)
	}
	if got := editorProblem(t, s, "p1"); !reflect.DeepEqual(got, p) {
		t.Errorf("CreateProblem returned %+v, stored %+v", p, got)
	}
	if l := mustLevel(t, s, "a1"); l.Version != 2 || l.ProblemCount != 1 {
		t.Errorf("level after a problem was created in it: %+v, want version 2 with 1 problem", l)
	}

	p.Title = "Renamed"
	p.Position = 5 // ignored: an update keeps the position
	up, err := s.UpdateProblem(ctx, p)
	if err != nil || up.Version != 2 || up.Title != "Renamed" || up.Position != 1 {
		t.Fatalf("UpdateProblem = %+v, %v; want version 2, the new title, position 1", up, err)
	}
	if got := editorProblem(t, s, "p1"); !reflect.DeepEqual(got, up) {
		t.Errorf("UpdateProblem returned %+v, stored %+v", up, got)
	}
	if l := mustLevel(t, s, "a1"); l.Version != 2 {
		t.Errorf("level version %d after a content edit of its problem, want 2 (unchanged)", l.Version)
	}
	l.Title = "Level renamed"
	l.Position, l.ProblemCount = 4, 99 // ignored
	l.Version = 2
	ul, err := s.UpdateLevel(ctx, l)
	if err != nil || ul.Version != 3 || ul.Position != 1 || ul.ProblemCount != 1 {
		t.Fatalf("UpdateLevel = %+v, %v; want version 3 at position 1 with 1 problem", ul, err)
	}
	g = mustAgeGroup(t, s, "a")
	g.Title = "New"
	ug, err := s.UpdateAgeGroup(ctx, g)
	if err != nil || ug.Version != 3 {
		t.Fatalf("UpdateAgeGroup = %+v, %v; want version 3", ug, err)
	}
	if got := mustAgeGroup(t, s, "a"); !reflect.DeepEqual(got, ug) {
		t.Errorf("UpdateAgeGroup returned %+v, stored %+v", ug, got)
	}

	// Puts bump versions too.
	p2 := up
	p2.Statement = "Put."
	mustPutProblem(t, s, p2)
	if got := editorProblem(t, s, "p1"); got.Version != 3 {
		t.Errorf("problem version after a put that changed it: %d, want 3", got.Version)
	}
	if l := mustLevel(t, s, "a1"); l.Version != 3 {
		t.Errorf("level version %d after a put of its problem's content, want 3 (unchanged)", l.Version)
	}
	p2.Position = 2
	mustPutProblem(t, s, p2)
	if l := mustLevel(t, s, "a1"); l.Version != 4 {
		t.Errorf("level version %d after a put that moved its problem, want 4", l.Version)
	}
}

func testPutUnchangedKeepsVersions(t *testing.T, s coderunner.Store) {
	seed(t, s)
	before := takeSnapshot(t, s)
	seed(t, s)
	wantSnapshot(t, "seeding twice (versions included)", takeSnapshot(t, s), before)
	for _, ls := range before.Levels {
		for _, l := range ls {
			if l.Version < 1 {
				t.Errorf("level %s: version %d, want 1 or more", l.ID, l.Version)
			}
		}
	}
}

func testUpdateConflicts(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	p := editorProblem(t, s, "p2")
	p.Title = "First"
	if _, err := s.UpdateProblem(ctx, p); err != nil {
		t.Fatalf("UpdateProblem: %v", err)
	}
	before := takeSnapshot(t, s)
	stale := p
	stale.Title = "Second"
	err := errOf(s.UpdateProblem(ctx, stale))
	wantCode(t, "UpdateProblem at a stale version", err, coderunner.Conflict)
	if err != nil && !containsVersion(err, p.Version+1) {
		t.Errorf("CONFLICT message %q does not name the stored version %d", err, p.Version+1)
	}
	stale.Version = 0
	wantCode(t, "UpdateProblem without a version", errOf(s.UpdateProblem(ctx, stale)), coderunner.BadUserInput)
	missing := problem("nope", "a1", 1)
	missing.Version = 1
	wantCode(t, "UpdateProblem of a missing problem", errOf(s.UpdateProblem(ctx, missing)), coderunner.NotFound)

	l := mustLevel(t, s, "a1") // at version 4: 3 problems created in it
	l.Version--
	wantCode(t, "UpdateLevel at a stale version", errOf(s.UpdateLevel(ctx, l)), coderunner.Conflict)
	g := mustAgeGroup(t, s, "b")
	g.Version++
	wantCode(t, "UpdateAgeGroup at a future version", errOf(s.UpdateAgeGroup(ctx, g)), coderunner.Conflict)

	wantCode(t, "DeleteProblem at a stale version", s.DeleteProblem(ctx, "p2", 1), coderunner.Conflict)
	wantCode(t, "DeleteLevel at a stale version", s.DeleteLevel(ctx, "a2", 99), coderunner.Conflict)
	wantCode(t, "DeleteAgeGroup at a stale version", s.DeleteAgeGroup(ctx, "b", 99), coderunner.Conflict)
	wantCode(t, "DeleteProblem of a missing problem", s.DeleteProblem(ctx, "nope", 1), coderunner.NotFound)
	wantSnapshot(t, "writes at stale versions", takeSnapshot(t, s), before)

	if err := s.DeleteProblem(ctx, "p2", p.Version+1); err != nil {
		t.Errorf("DeleteProblem at the stored version: %v", err)
	}
	if err := s.DeleteProblem(ctx, "p3", 0); err != nil {
		t.Errorf("DeleteProblem unconditionally: %v", err)
	}
	wantProblems(t, s, "a1", "p1")
}

func errOf[T any](_ T, err error) error { return err }

func containsVersion(err error, v int64) bool {
	return err != nil && slices.Contains(splitWords(err.Error()), fmt.Sprint(v))
}

func splitWords(s string) []string {
	var words []string
	word := []rune{}
	for _, r := range s + " " {
		if r >= '0' && r <= '9' {
			word = append(word, r)
			continue
		}
		if len(word) > 0 {
			words = append(words, string(word))
			word = word[:0]
		}
	}
	return words
}

func testCreateConflicts(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	before := takeSnapshot(t, s)
	wantCode(t, "CreateAgeGroup of a taken slug", errOf(s.CreateAgeGroup(ctx, ageGroup("a", 5))), coderunner.Conflict)
	wantCode(t, "CreateLevel of a taken id", errOf(s.CreateLevel(ctx, level("a1", "b", 1))), coderunner.Conflict)
	wantCode(t, "CreateProblem of a taken id", errOf(s.CreateProblem(ctx, problem("q1", "a1", 1))), coderunner.Conflict)
	wantCode(t, "CreateLevel in a missing age group", errOf(s.CreateLevel(ctx, level("new", "zz", 1))), coderunner.NotFound)
	wantCode(t, "CreateProblem in a missing level", errOf(s.CreateProblem(ctx, problem("new", "zz", 1))), coderunner.NotFound)
	wantSnapshot(t, "failed creates", takeSnapshot(t, s), before)
	wantProblems(t, s, "a1", "p1", "p2", "p3")
	wantLevels(t, s, "a", "a1", "a2")
	// A level that puts left with sparse positions is renumbered by the
	// next create.
	mustPutLevel(t, s, level("b2", "b", 10))
	if _, err := s.CreateLevel(ctx, level("b3", "b", 1)); err != nil {
		t.Fatalf("CreateLevel: %v", err)
	}
	wantLevels(t, s, "b", "b1", "b2", "b3")
}

func testDrafts(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	d := problem("d1", "a1", 0)
	d.Draft = true
	created, err := s.CreateProblem(ctx, d)
	if err != nil || !created.Draft || created.Position != 4 {
		t.Fatalf("CreateProblem(draft) = %+v, %v; want a draft at position 4", created, err)
	}
	if _, ok := getProblem(t, s, "d1"); ok {
		t.Errorf("Problems returns a draft")
	}
	pub, err := s.ProblemsInLevels(ctx, []string{"a1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pub["a1"], problemID); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
		t.Errorf("ProblemsInLevels = %q, want the published p1 p2 p3", got)
	}
	wantProblems(t, s, "a1", "p1", "p2", "p3", "d1") // count 3
	if got := editorProblem(t, s, "d1"); !reflect.DeepEqual(got, created) {
		t.Errorf("ProblemForEditing(d1) = %+v, want %+v", got, created)
	}
	levelBefore := mustLevel(t, s, "a1").Version

	// Publishing counts it and bumps the level.
	created.Draft = false
	if _, err := s.UpdateProblem(ctx, created); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if _, ok := getProblem(t, s, "d1"); !ok {
		t.Errorf("a published problem is not returned by Problems")
	}
	wantProblems(t, s, "a1", "p1", "p2", "p3", "d1")
	if l := mustLevel(t, s, "a1"); l.ProblemCount != 4 || l.Version != levelBefore+1 {
		t.Errorf("level after publishing: %+v, want 4 problems at version %d", l, levelBefore+1)
	}
	// And turning it back into a draft hides it again.
	p := editorProblem(t, s, "p2")
	p.Draft = true
	if _, err := s.UpdateProblem(ctx, p); err != nil {
		t.Fatalf("unpublish: %v", err)
	}
	if _, ok := getProblem(t, s, "p2"); ok {
		t.Errorf("Problems returns p2 once it is a draft again")
	}
	wantProblems(t, s, "a1", "p1", "p2", "p3", "d1")
	wantCode(t, "DeleteLevel of a level holding only... drafts too", s.DeleteLevel(ctx, "a1", 0), coderunner.BadUserInput)
	wantCode(t, "ProblemForEditing of a missing problem", errOf(s.ProblemForEditing(ctx, "nope")), coderunner.NotFound)

	// A put can seed a draft.
	pd := problem("d2", "b1", 2)
	pd.Draft = true
	mustPutProblem(t, s, pd)
	if _, ok := getProblem(t, s, "d2"); ok {
		t.Errorf("Problems returns a put draft")
	}
	if l := mustLevel(t, s, "b1"); l.ProblemCount != 1 {
		t.Errorf("level b1 counts %d problems, want 1 (its draft left out)", l.ProblemCount)
	}
}

func testMoveProblem(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	a1, b1 := mustLevel(t, s, "a1"), mustLevel(t, s, "b1")
	p := editorProblem(t, s, "p1")
	p.LevelID = "b1"
	moved, err := s.UpdateProblem(ctx, p)
	if err != nil {
		t.Fatalf("move p1 to b1: %v", err)
	}
	if moved.LevelID != "b1" || moved.Position != 2 || moved.Version != p.Version+1 {
		t.Errorf("moved problem = %+v, want in b1 at position 2, version %d", moved, p.Version+1)
	}
	wantProblems(t, s, "a1", "p2", "p3")
	wantProblems(t, s, "b1", "q1", "p1")
	if got := mustLevel(t, s, "a1"); got.Version != a1.Version+1 {
		t.Errorf("level left: version %d, want %d", got.Version, a1.Version+1)
	}
	if got := mustLevel(t, s, "b1"); got.Version != b1.Version+1 {
		t.Errorf("level joined: version %d, want %d", got.Version, b1.Version+1)
	}
	before := takeSnapshot(t, s)
	p = editorProblem(t, s, "p2")
	p.LevelID = "missing"
	wantCode(t, "move to a missing level", errOf(s.UpdateProblem(ctx, p)), coderunner.NotFound)
	wantSnapshot(t, "a move to a missing level", takeSnapshot(t, s), before)
}

func testEditMoveLevel(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	a, b := mustAgeGroup(t, s, "a"), mustAgeGroup(t, s, "b")
	l := mustLevel(t, s, "a1")
	l.AgeGroup = "b"
	moved, err := s.UpdateLevel(ctx, l)
	if err != nil {
		t.Fatalf("move a1 to b: %v", err)
	}
	if moved.AgeGroup != "b" || moved.Position != 2 || moved.ProblemCount != 3 {
		t.Errorf("moved level = %+v, want in b at position 2 with its 3 problems", moved)
	}
	wantLevels(t, s, "a", "a2")
	wantLevels(t, s, "b", "b1", "a1")
	wantProblems(t, s, "a1", "p1", "p2", "p3")
	if got := mustAgeGroup(t, s, "a"); got.Version != a.Version+1 {
		t.Errorf("age group left: version %d, want %d", got.Version, a.Version+1)
	}
	if got := mustAgeGroup(t, s, "b"); got.Version != b.Version+1 {
		t.Errorf("age group joined: version %d, want %d", got.Version, b.Version+1)
	}
}

func testDeletesCloseGaps(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	v := mustLevel(t, s, "a1").Version
	if err := s.DeleteProblem(ctx, "p2", editorProblem(t, s, "p2").Version); err != nil {
		t.Fatalf("DeleteProblem(p2): %v", err)
	}
	wantProblems(t, s, "a1", "p1", "p3")
	if got := mustLevel(t, s, "a1").Version; got != v+1 {
		t.Errorf("level version after a delete: %d, want %d", got, v+1)
	}
	gv := mustAgeGroup(t, s, "a").Version
	wantCode(t, "DeleteLevel of a level with problems", s.DeleteLevel(ctx, "a1", 0), coderunner.BadUserInput)
	wantCode(t, "DeleteAgeGroup of an age group with levels", s.DeleteAgeGroup(ctx, "a", 0), coderunner.BadUserInput)
	if _, err := s.CreateLevel(ctx, level("a3", "a", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLevel(ctx, "a2", mustLevel(t, s, "a2").Version); err != nil {
		t.Fatalf("DeleteLevel(a2): %v", err)
	}
	wantLevels(t, s, "a", "a1", "a3")
	if got := mustAgeGroup(t, s, "a").Version; got != gv+2 {
		t.Errorf("age group version after a create and a delete: %d, want %d", got, gv+2)
	}
	// An emptied age group can go, and its slug be used again at version 1.
	if err := s.DeleteProblem(ctx, "q1", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLevel(ctx, "b1", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAgeGroup(ctx, "b", mustAgeGroup(t, s, "b").Version); err != nil {
		t.Fatalf("DeleteAgeGroup(b): %v", err)
	}
	wantCode(t, "DeleteAgeGroup twice", s.DeleteAgeGroup(ctx, "b", 0), coderunner.NotFound)
	g, err := s.CreateAgeGroup(ctx, ageGroup("b", 2))
	if err != nil || g.Version != 1 {
		t.Fatalf("CreateAgeGroup(b) again = %+v, %v; want version 1", g, err)
	}
	g.Title = "Again"
	if _, err := s.UpdateAgeGroup(ctx, g); err != nil {
		t.Errorf("UpdateAgeGroup of the re-created age group: %v", err)
	}
	// Likewise a problem id.
	if _, err := s.CreateProblem(ctx, problem("p2", "a3", 0)); err != nil {
		t.Fatal(err)
	}
	p := editorProblem(t, s, "p2")
	if p.Version != 1 {
		t.Errorf("re-created problem at version %d, want 1", p.Version)
	}
	if _, err := s.UpdateProblem(ctx, p); err != nil {
		t.Errorf("UpdateProblem of the re-created problem: %v", err)
	}
}

func testReorder(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	d := problem("d", "a1", 0)
	d.Draft = true
	if _, err := s.CreateProblem(ctx, d); err != nil {
		t.Fatal(err)
	}
	l := mustLevel(t, s, "a1")
	before := takeSnapshot(t, s)
	bad := [][]string{
		{"p1", "p2", "p3"},            // leaves out the draft
		{"p1", "p2", "p3", "d", "q1"}, // a problem of another level
		{"p1", "p2", "p3", "d", "d"},  // twice
		{"p1", "p2", "p3", "d", "zz"}, // missing
		{"p1", "p2", "p3", "p3", "d"}, // twice, right length plus one
		{"p1", "p1", "p3", "d"},       // twice, right length
		nil,                           // none
	}
	for _, ids := range bad {
		wantCode(t, fmt.Sprintf("ReorderProblems(%q)", ids), s.ReorderProblems(ctx, "a1", l.Version, ids), coderunner.BadUserInput)
	}
	wantCode(t, "ReorderProblems at a stale version", s.ReorderProblems(ctx, "a1", l.Version-1, []string{"d", "p3", "p2", "p1"}), coderunner.Conflict)
	wantCode(t, "ReorderProblems without a version", s.ReorderProblems(ctx, "a1", 0, []string{"d", "p3", "p2", "p1"}), coderunner.BadUserInput)
	wantCode(t, "ReorderProblems of a missing level", s.ReorderProblems(ctx, "zz", 1, nil), coderunner.NotFound)
	wantSnapshot(t, "failed reorders", takeSnapshot(t, s), before)

	p1 := editorProblem(t, s, "p1")
	if err := s.ReorderProblems(ctx, "a1", l.Version, []string{"d", "p3", "p1", "p2"}); err != nil {
		t.Fatalf("ReorderProblems: %v", err)
	}
	wantProblems(t, s, "a1", "d", "p3", "p1", "p2")
	if got := mustLevel(t, s, "a1").Version; got != l.Version+1 {
		t.Errorf("level version after a reorder: %d, want %d", got, l.Version+1)
	}
	if got := editorProblem(t, s, "p1"); got.Version != p1.Version {
		t.Errorf("a reorder changed a problem's version: %d, want %d", got.Version, p1.Version)
	}
	wantCode(t, "the same reorder again at the old version", s.ReorderProblems(ctx, "a1", l.Version, []string{"d", "p3", "p1", "p2"}), coderunner.Conflict)

	g := mustAgeGroup(t, s, "a")
	wantCode(t, "ReorderLevels with a level missing", s.ReorderLevels(ctx, "a", g.Version, []string{"a2"}), coderunner.BadUserInput)
	wantCode(t, "ReorderLevels at a stale version", s.ReorderLevels(ctx, "a", g.Version+1, []string{"a2", "a1"}), coderunner.Conflict)
	if err := s.ReorderLevels(ctx, "a", g.Version, []string{"a2", "a1"}); err != nil {
		t.Fatalf("ReorderLevels: %v", err)
	}
	wantLevels(t, s, "a", "a2", "a1")
	if got := mustAgeGroup(t, s, "a").Version; got != g.Version+1 {
		t.Errorf("age group version after a reorder: %d, want %d", got, g.Version+1)
	}
	// An empty parent reorders to nothing.
	b2, err := s.CreateLevel(ctx, level("b2", "b", 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReorderProblems(ctx, "b2", b2.Version, []string{}); err != nil {
		t.Errorf("ReorderProblems of an empty level: %v", err)
	}
}

func testInvalidEdits(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	before := takeSnapshot(t, s)
	p := editorProblem(t, s, "p1")
	p.HiddenTests = nil
	l := mustLevel(t, s, "a1")
	l.Title = ""
	g := mustAgeGroup(t, s, "a")
	g.Description = "\xff"
	bad := problem("Bad id", "a1", 0)
	badLevel := level("a3", "a", 0)
	badLevel.Title = " "
	tests := []struct {
		name string
		err  error
	}{
		{"CreateProblem", errOf(s.CreateProblem(ctx, bad))},
		{"CreateLevel", errOf(s.CreateLevel(ctx, badLevel))},
		{"UpdateProblem", errOf(s.UpdateProblem(ctx, p))},
		{"UpdateLevel", errOf(s.UpdateLevel(ctx, l))},
		{"UpdateAgeGroup", errOf(s.UpdateAgeGroup(ctx, g))},
		{"CreateAgeGroup", errOf(s.CreateAgeGroup(ctx, g))},
	}
	for _, tt := range tests {
		wantCode(t, tt.name+" of invalid content", tt.err, coderunner.BadUserInput)
	}
	wantSnapshot(t, "invalid edits", takeSnapshot(t, s), before)
}

// testConcurrentUpdatesOneWins: editors update one problem at the same
// version at once; exactly one wins, the rest get CONFLICT.
func testConcurrentUpdatesOneWins(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	for round := range 3 {
		base := editorProblem(t, s, "p2")
		const editors = 8
		var wg sync.WaitGroup
		errs := make([]error, editors)
		for i := range editors {
			p := base
			p.Title = fmt.Sprintf("editor %d", i)
			if i%2 == 1 && round == 1 {
				p.LevelID = "a2" // some also move it
			}
			wg.Go(func() { _, errs[i] = s.UpdateProblem(ctx, p) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Errorf("round %d: editors %d and %d both won", round, won, i)
			case err == nil:
				won = i
			case coderunner.ErrorCode(err) != coderunner.Conflict:
				t.Errorf("round %d: editor %d: %v, want CONFLICT", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no editor won: %v", round, errs)
		}
		got := editorProblem(t, s, "p2")
		if got.Title != fmt.Sprintf("editor %d", won) || got.Version != base.Version+1 {
			t.Errorf("round %d: stored %q at version %d, want editor %d's at %d", round, got.Title, got.Version, won, base.Version+1)
		}
	}
	levels, err := s.ProblemsForEditing(ctx, []string{"a1", "a2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a1", "a2"} {
		wantProblems(t, s, id, ids(levels[id], problemID)...)
	}
}

// testConcurrentCreatesDense: problems created in one level at once take
// positions 1..n, each once.
func testConcurrentCreatesDense(t *testing.T, s coderunner.Store) {
	mustPutAgeGroup(t, s, ageGroup("g", 1))
	mustPutLevel(t, s, level("l", "g", 1))
	ctx := ctxFor(t)
	const writers = 8
	var wg sync.WaitGroup
	created := make([]coderunner.Problem, writers)
	for i := range writers {
		wg.Go(func() {
			var err error
			created[i], err = s.CreateProblem(ctx, problem(fmt.Sprintf("c%d", i), "l", 1))
			if err != nil {
				t.Errorf("CreateProblem: %v", err)
			}
		})
	}
	wg.Wait()
	seen := map[int]string{}
	for _, p := range created {
		if other, ok := seen[p.Position]; ok {
			t.Errorf("%s and %s were both created at position %d", other, p.ID, p.Position)
		}
		seen[p.Position] = p.ID
	}
	m, err := s.ProblemsForEditing(ctx, []string{"l"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m["l"]) != writers {
		t.Fatalf("level holds %d problems, want %d", len(m["l"]), writers)
	}
	wantProblems(t, s, "l", ids(m["l"], problemID)...)
	if l := mustLevel(t, s, "l"); l.Version != 1+writers {
		t.Errorf("level version %d after %d creates, want %d", l.Version, writers, 1+writers)
	}
}

// testConcurrentReorderAndCreate: a reorder at the version an editor read
// races creates in the same level: either it goes first, or it answers
// CONFLICT; either way positions stay dense and unique.
func testConcurrentReorderAndCreate(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	conflicts := 0
	for round := range 6 {
		l := mustLevel(t, s, "a1")
		m, err := s.ProblemsForEditing(ctx, []string{"a1"})
		if err != nil {
			t.Fatal(err)
		}
		order := ids(m["a1"], problemID)
		slices.Reverse(order)
		var wg sync.WaitGroup
		var reorderErr error
		id := fmt.Sprintf("r%d", round)
		wg.Go(func() { reorderErr = s.ReorderProblems(ctx, "a1", l.Version, order) })
		wg.Go(func() {
			if _, err := s.CreateProblem(ctx, problem(id, "a1", 0)); err != nil {
				t.Errorf("CreateProblem: %v", err)
			}
		})
		wg.Wait()
		got, err := s.ProblemsForEditing(ctx, []string{"a1"})
		if err != nil {
			t.Fatal(err)
		}
		switch coderunner.ErrorCode(reorderErr) {
		case coderunner.Conflict:
			conflicts++
		case coderunner.Internal:
			if reorderErr != nil {
				t.Fatalf("ReorderProblems: %v", reorderErr)
			}
			// The reorder went first: the new problem follows the order.
			if want := append(slices.Clone(order), id); !slices.Equal(ids(got["a1"], problemID), want) {
				t.Errorf("round %d: %q, want %q", round, ids(got["a1"], problemID), want)
			}
		default:
			t.Errorf("ReorderProblems: %v, want success or CONFLICT", reorderErr)
		}
		wantProblems(t, s, "a1", ids(got["a1"], problemID)...)
	}
	t.Logf("%d of 6 reorders lost to the create", conflicts)
}

// testConcurrentStructuralEdits: writers at once create, delete, move and
// reorder problems between two levels; afterwards both levels are dense and
// unique, every successful write shows, and nothing else changed.
func testConcurrentStructuralEdits(t *testing.T, s coderunner.Store) {
	editSeed(t, s)
	ctx := ctxFor(t)
	var mu sync.Mutex
	alive := map[string]bool{"p1": true, "p2": true, "p3": true, "q1": true}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 4 {
				var err error
				switch (w + i) % 4 {
				case 0:
					id := fmt.Sprintf("n%d-%d", w, i)
					level := []string{"a1", "b1"}[i%2]
					if _, err = s.CreateProblem(ctx, problem(id, level, 0)); err == nil {
						mu.Lock()
						alive[id] = true
						mu.Unlock()
					}
				case 1:
					id := []string{"p1", "p2", "p3", "q1"}[w%4]
					var p coderunner.Problem
					if p, err = s.ProblemForEditing(ctx, id); err == nil {
						p.LevelID = map[string]string{"a1": "b1", "b1": "a1"}[p.LevelID]
						_, err = s.UpdateProblem(ctx, p)
					}
				case 2:
					id := fmt.Sprintf("n%d-%d", w, i-2)
					mu.Lock()
					ok := alive[id]
					mu.Unlock()
					if ok {
						if err = s.DeleteProblem(ctx, id, 0); err == nil {
							mu.Lock()
							delete(alive, id)
							mu.Unlock()
						}
					}
				case 3:
					var l coderunner.Level
					var m map[string][]coderunner.Problem
					if m, err = s.ProblemsForEditing(ctx, []string{"a1"}); err == nil {
						l = mustLevel(t, s, "a1")
						order := ids(m["a1"], problemID)
						slices.Reverse(order)
						err = s.ReorderProblems(ctx, "a1", l.Version, order)
					}
				}
				// A reorder or move may meet a version (or set) that
				// changed since it read.
				if code := coderunner.ErrorCode(err); err != nil && code != coderunner.Conflict && code != coderunner.BadUserInput && code != coderunner.NotFound {
					if !errors.Is(err, coderunner.ErrBusy) {
						t.Errorf("writer %d: %v", w, err)
					}
				}
			}
		})
	}
	wg.Wait()
	m, err := s.ProblemsForEditing(ctx, []string{"a1", "b1"})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, id := range []string{"a1", "b1"} {
		wantProblems(t, s, id, ids(m[id], problemID)...)
		all = append(all, ids(m[id], problemID)...)
	}
	var want []string
	for id := range alive {
		want = append(want, id)
	}
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("problems stored: %q, want %q", all, want)
	}
}
