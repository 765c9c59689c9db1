package cache_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/cache"
	"coderunner/store/sqlite"
)

// recordingStore records which ids each read asked the real store for.
type recordingStore struct {
	coderunner.Store
	mu    sync.Mutex
	reads []string
}

func (s *recordingStore) record(kind string, ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.reads = append(s.reads, kind+":"+id)
	}
}

func (s *recordingStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reads
	s.reads = nil
	return r
}

func (s *recordingStore) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	s.record("ageGroups", []string{""})
	return s.Store.AgeGroups(ctx)
}
func (s *recordingStore) LevelsInAgeGroups(ctx context.Context, ids []string) (map[string][]coderunner.Level, error) {
	s.record("levelsIn", ids)
	return s.Store.LevelsInAgeGroups(ctx, ids)
}
func (s *recordingStore) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	s.record("level", ids)
	return s.Store.Levels(ctx, ids)
}
func (s *recordingStore) ProblemsInLevels(ctx context.Context, ids []string) (map[string][]coderunner.Problem, error) {
	s.record("problemsIn", ids)
	return s.Store.ProblemsInLevels(ctx, ids)
}
func (s *recordingStore) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	s.record("problem", ids)
	return s.Store.Problems(ctx, ids)
}

// fixture: age groups a and b; levels a1, a2 in a and b1 in b; problems
// p1, p2 in a1 and p3 in b1.
func newFixture(t *testing.T) (*cache.Store, *recordingStore) {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i, g := range []string{"a", "b"} {
		must(t, db.PutAgeGroup(ctx, coderunner.AgeGroup{Slug: g, Title: g, Position: i}))
	}
	for i, l := range []struct{ id, group string }{{"a1", "a"}, {"a2", "a"}, {"b1", "b"}} {
		must(t, db.PutLevel(ctx, coderunner.Level{ID: l.id, AgeGroup: l.group, Title: l.id, Position: i}))
	}
	for i, p := range []struct{ id, level string }{{"p1", "a1"}, {"p2", "a1"}, {"p3", "b1"}} {
		must(t, db.PutProblem(ctx, problem(p.id, p.level, i)))
	}
	rec := &recordingStore{Store: db}
	c, err := cache.NewStore(rec, 1<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func problem(id, level string, pos int) coderunner.Problem {
	return coderunner.Problem{ID: id, LevelID: level, Position: pos, Title: id,
		SampleTests: []coderunner.TestCase{{Input: "1\n", Output: "1\n"}},
		HiddenTests: []coderunner.TestCase{{Input: "2\n", Output: "2\n"}}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readAll reads every cache key of the fixture.
func readAll(t *testing.T, c *cache.Store) {
	t.Helper()
	ctx := t.Context()
	_, err := c.AgeGroups(ctx)
	must(t, err)
	_, err = c.LevelsInAgeGroups(ctx, []string{"a", "b"})
	must(t, err)
	_, err = c.Levels(ctx, []string{"a1", "a2", "b1"})
	must(t, err)
	_, err = c.ProblemsInLevels(ctx, []string{"a1", "a2", "b1"})
	must(t, err)
	_, err = c.Problems(ctx, []string{"p1", "p2", "p3"})
	must(t, err)
	c.Wait()
}

func TestReadsAreCached(t *testing.T) {
	c, rec := newFixture(t)
	readAll(t, c)
	if first := rec.take(); len(first) != 12 {
		t.Fatalf("first read asked the store for %v, want all 12 keys", first)
	}
	readAll(t, c)
	if again := rec.take(); len(again) != 0 {
		t.Errorf("second read asked the store for %v, want nothing", again)
	}
	if hits, misses := c.Stats(); hits != 12 || misses != 12 {
		t.Errorf("stats: %d hits, %d misses; want 12 and 12", hits, misses)
	}
}

// TestInvalidation checks that each write drops exactly the entries it can
// change: reading everything again afterwards asks the store for those keys
// and no others. An entry of a list depends on its parent too, so a change
// to an age group's or a level's own fields also drops its list of
// children.
func TestInvalidation(t *testing.T) {
	tests := []struct {
		name  string
		write func(ctx context.Context, c *cache.Store) error
		want  []string
	}{
		{"put age group", func(ctx context.Context, c *cache.Store) error {
			return c.PutAgeGroup(ctx, coderunner.AgeGroup{Slug: "a", Title: "A!", Position: 0})
		}, []string{"ageGroups:", "levelsIn:a"}},
		{"put level", func(ctx context.Context, c *cache.Store) error {
			return c.PutLevel(ctx, coderunner.Level{ID: "a2", AgeGroup: "a", Title: "A2!", Position: 1})
		}, []string{"levelsIn:a", "level:a2", "problemsIn:a2"}},
		{"reorder level", func(ctx context.Context, c *cache.Store) error {
			return c.PutLevel(ctx, coderunner.Level{ID: "a2", AgeGroup: "a", Title: "A2", Position: 7})
		}, []string{"ageGroups:", "levelsIn:a", "level:a2", "problemsIn:a2"}},
		{"move level to another age group", func(ctx context.Context, c *cache.Store) error {
			return c.PutLevel(ctx, coderunner.Level{ID: "a2", AgeGroup: "b", Title: "A2", Position: 1})
		}, []string{"ageGroups:", "levelsIn:a", "levelsIn:b", "level:a2", "problemsIn:a2"}},
		{"put problem", func(ctx context.Context, c *cache.Store) error {
			p := problem("p1", "a1", 0)
			p.Title = "P1!"
			return c.PutProblem(ctx, p)
		}, []string{"problemsIn:a1", "problem:p1"}},
		{"put problem unchanged", func(ctx context.Context, c *cache.Store) error {
			return c.PutProblem(ctx, problem("p1", "a1", 0))
		}, []string{"problemsIn:a1", "problem:p1"}},
		{"reposition problem", func(ctx context.Context, c *cache.Store) error {
			return c.PutProblem(ctx, problem("p1", "a1", 7))
		}, []string{"levelsIn:a", "level:a1", "problemsIn:a1", "problem:p1"}},
		{"add problem", func(ctx context.Context, c *cache.Store) error {
			return c.PutProblem(ctx, problem("p4", "b1", 9))
		}, []string{"levelsIn:b", "level:b1", "problemsIn:b1"}},
		{"move problem to a level of another age group", func(ctx context.Context, c *cache.Store) error {
			return c.PutProblem(ctx, problem("p1", "b1", 0))
		}, []string{"levelsIn:a", "levelsIn:b", "level:a1", "level:b1", "problemsIn:a1", "problemsIn:b1", "problem:p1"}},
		{"delete problem", func(ctx context.Context, c *cache.Store) error {
			return c.DeleteProblem(ctx, "p3", 0)
		}, []string{"levelsIn:b", "level:b1", "problemsIn:b1", "problem:p3"}},
		{"delete level", func(ctx context.Context, c *cache.Store) error {
			return c.DeleteLevel(ctx, "a2", 0)
		}, []string{"ageGroups:", "levelsIn:a", "level:a2", "problemsIn:a2", "level:a1", "problemsIn:a1"}}, // a1 renumbered 0 → 1; a level's tag reaches its problem list too
		{"create problem (renumbers a1)", func(ctx context.Context, c *cache.Store) error {
			_, err := c.CreateProblem(ctx, problem("p4", "a1", 0))
			return err
		}, []string{"levelsIn:a", "level:a1", "problemsIn:a1", "problem:p1", "problem:p2"}}, // p1 0 → 1, p2 1 → 2
		{"update problem content", func(ctx context.Context, c *cache.Store) error {
			p := problem("p3", "b1", 2)
			p.Title, p.Version = "P3!", 1
			_, err := c.UpdateProblem(ctx, p)
			return err
		}, []string{"problemsIn:b1", "problem:p3"}},
		{"move problem by update", func(ctx context.Context, c *cache.Store) error {
			p := problem("p2", "b1", 0)
			p.Version = 1
			_, err := c.UpdateProblem(ctx, p)
			return err
		}, []string{"levelsIn:a", "levelsIn:b", "level:a1", "level:b1", "problemsIn:a1", "problemsIn:b1", "problem:p1", "problem:p2", "problem:p3"}},
		{"reorder problems", func(ctx context.Context, c *cache.Store) error {
			ls, err := c.Levels(ctx, []string{"a1"})
			if err != nil {
				return err
			}
			return c.ReorderProblems(ctx, "a1", ls["a1"].Version, []string{"p2", "p1"})
		}, []string{"levelsIn:a", "level:a1", "problemsIn:a1", "problem:p1"}}, // p2 stays at 1
		{"create level", func(ctx context.Context, c *cache.Store) error {
			_, err := c.CreateLevel(ctx, coderunner.Level{ID: "b2", AgeGroup: "b", Title: "B2"})
			return err
		}, []string{"ageGroups:", "levelsIn:b", "level:b1", "problemsIn:b1"}}, // b1 2 → 1; a level's tag reaches its problem list too
		{"update age group", func(ctx context.Context, c *cache.Store) error {
			_, err := c.UpdateAgeGroup(ctx, coderunner.AgeGroup{Slug: "b", Title: "B!", Position: 1, Version: 2})
			return err
		}, []string{"ageGroups:", "levelsIn:b"}}, // an age group's tag reaches its level list too
		{"failed edit", func(ctx context.Context, c *cache.Store) error {
			p := problem("p3", "b1", 2)
			p.Version = 7
			if _, err := c.UpdateProblem(ctx, p); coderunner.ErrorCode(err) != coderunner.Conflict {
				return fmt.Errorf("stale update: %v, want CONFLICT", err)
			}
			return nil
		}, nil},
		{"another process changed problem p2", func(_ context.Context, c *cache.Store) error {
			c.Invalidate(coderunner.ContentChange{Problems: []string{"p2"}})
			return nil
		}, []string{"problemsIn:a1", "problem:p2"}},
		{"another process added a problem to a1", func(_ context.Context, c *cache.Store) error {
			c.Invalidate(coderunner.ContentChange{Problems: []string{"p9"}, Levels: []string{"a1"}})
			return nil
		}, []string{"levelsIn:a", "level:a1", "problemsIn:a1"}},
		{"another process added a level to b", func(_ context.Context, c *cache.Store) error {
			c.Invalidate(coderunner.ContentChange{Levels: []string{"b9"}, AgeGroups: []string{"b"}})
			return nil
		}, []string{"ageGroups:", "levelsIn:b"}},
		{"an empty change", func(_ context.Context, c *cache.Store) error {
			c.Invalidate(coderunner.ContentChange{})
			return nil
		}, nil},
		{"submission, grading and progress writes", func(ctx context.Context, c *cache.Store) error {
			return errors.Join(
				c.CreateSubmission(ctx, submission(coderunner.SubmissionQueued)),
				c.PutGrading(ctx, "key", problem("p1", "a1", 0).Grading()),
				c.SaveProgress(ctx, coderunner.Progress{Owner: "u1", ProblemID: "p1", Attempts: 1}),
			)
		}, nil},
		{"failed write", func(ctx context.Context, c *cache.Store) error {
			if err := c.DeleteLevel(ctx, "a1", 0); coderunner.ErrorCode(err) != coderunner.BadUserInput {
				return err
			}
			return nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newFixture(t)
			readAll(t, c)
			rec.take()
			must(t, tt.write(t.Context(), c))
			rec.take() // what the write itself read
			readAll(t, c)
			got := map[string]bool{}
			for _, k := range rec.take() {
				got[k] = true
			}
			want := map[string]bool{}
			for _, k := range tt.want {
				want[k] = true
			}
			for k := range want {
				if !got[k] {
					t.Errorf("%s was not invalidated", k)
				}
			}
			for k := range got {
				if !want[k] {
					t.Errorf("%s was invalidated, but the write cannot change it", k)
				}
			}
		})
	}
}

func submission(status coderunner.SubmissionStatus) coderunner.Submission {
	return coderunner.Submission{ID: "s1", Owner: "u1", ProblemID: "p1", Code: "print(1)\n", Status: status,
		CreatedAt: time.UnixMilli(1_800_000_000_000).UTC()}
}

// TestSubmissionsAreNotCached: submissions, gradings and progress go
// through to the store both ways, so a change made behind the cache (by a
// worker, another replica) shows at once.
func TestSubmissionsAreNotCached(t *testing.T) {
	c, rec := newFixture(t)
	ctx := t.Context()
	inner := rec.Store

	must(t, c.CreateSubmission(ctx, submission(coderunner.SubmissionQueued)))
	if got, err := inner.Submission(ctx, "s1"); err != nil || got.Status != coderunner.SubmissionQueued {
		t.Errorf("the store has %+v, %v; want the submission created through the cache", got, err)
	}
	_, err := c.Submission(ctx, "s1")
	must(t, err)
	finished := submission(coderunner.SubmissionFinished)
	ok, err := inner.UpdateSubmission(ctx, finished)
	must(t, err)
	if !ok {
		t.Fatal("UpdateSubmission behind the cache changed nothing")
	}
	if got, err := c.Submission(ctx, "s1"); err != nil || got.Status != coderunner.SubmissionFinished {
		t.Errorf("Submission through the cache = %+v, %v; want it finished", got, err)
	}
	subs, err := c.Submissions(ctx, "u1", "", coderunner.SubmissionCursor{}, 10)
	if err != nil || len(subs) != 1 || subs[0].Status != coderunner.SubmissionFinished {
		t.Errorf("Submissions through the cache = %+v, %v; want the finished one", subs, err)
	}

	g := problem("p1", "a1", 0).Grading()
	must(t, c.PutGrading(ctx, g.Key(), g))
	if got, err := inner.Grading(ctx, g.Key()); err != nil || got.Key() != g.Key() {
		t.Errorf("the store has grading %+v, %v; want the one put through the cache", got, err)
	}

	p := coderunner.Progress{Owner: "u1", ProblemID: "p1", Attempts: 1}
	must(t, c.SaveProgress(ctx, p))
	_, err = c.Progress(ctx, "u1", nil)
	must(t, err)
	p.Attempts = 2
	must(t, inner.SaveProgress(ctx, p))
	if got, err := c.Progress(ctx, "u1", []string{"p1"}); err != nil || got["p1"] != p {
		t.Errorf("Progress through the cache = %+v, %v; want %+v", got, err, p)
	}
}

// TestReadsSeeWrites checks the values, not just the keys: after each kind
// of write a read through the cache returns the new content.
func TestReadsSeeWrites(t *testing.T) {
	c, _ := newFixture(t)
	ctx := t.Context()
	readAll(t, c)
	must(t, c.PutProblem(ctx, problem("p1", "b1", 0)))
	levels, err := c.Levels(ctx, []string{"a1", "b1"})
	must(t, err)
	if levels["a1"].ProblemCount != 1 || levels["b1"].ProblemCount != 2 {
		t.Errorf("after moving p1 to b1, counts a1=%d b1=%d; want 1 and 2", levels["a1"].ProblemCount, levels["b1"].ProblemCount)
	}
	in, err := c.ProblemsInLevels(ctx, []string{"b1"})
	must(t, err)
	if len(in["b1"]) != 2 {
		t.Errorf("b1 lists %d problems, want 2", len(in["b1"]))
	}
}

// TestEntriesExpire: a change the cache does not see (made by another
// process) shows once the entry's TTL has passed.
func TestEntriesExpire(t *testing.T) {
	_, rec := newFixture(t)
	short, err := cache.NewStore(rec, 1<<20, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := short.Problems(ctx, []string{"p1"}); err != nil {
		t.Fatal(err)
	}
	short.Wait()
	changed := problem("p1", "a1", 0)
	changed.Title = "changed elsewhere"
	if err := rec.Store.PutProblem(ctx, changed); err != nil { // behind the cache's back
		t.Fatal(err)
	}
	got, _ := short.Problems(ctx, []string{"p1"})
	if got["p1"].Title == "changed elsewhere" {
		t.Fatal("the entry was not cached")
	}
	time.Sleep(200 * time.Millisecond)
	if got, _ := short.Problems(ctx, []string{"p1"}); got["p1"].Title != "changed elsewhere" {
		t.Errorf("after the TTL, title %q; want the change", got["p1"].Title)
	}
}

// TestFillRacingInvalidation: a read that fetched the old content, however
// late its fill lands, is never served once Invalidate has returned.
func TestFillRacingInvalidation(t *testing.T) {
	c, rec := newFixture(t)
	ctx := t.Context()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Problems(ctx, []string{"p1"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() {
		close(stop)
		readers.Wait()
	}()
	for i := range 200 {
		p := problem("p1", "a1", 0)
		p.Title = fmt.Sprint("version ", i)
		must(t, rec.Store.PutProblem(ctx, p)) // behind the cache, as another replica writes
		c.Invalidate(coderunner.ContentChange{Problems: []string{"p1"}})
		for _, wait := range []bool{false, true} {
			if wait {
				c.Wait()
			}
			got, err := c.Problems(ctx, []string{"p1"})
			must(t, err)
			if got["p1"].Title != p.Title {
				t.Fatalf("after Invalidate (waited: %v), title %q; want %q", wait, got["p1"].Title, p.Title)
			}
		}
	}
}

// TestResponsesDropWhatAChangeReaches: a change makes stale the responses
// that read something it names, and no other.
func TestResponsesDropWhatAChangeReaches(t *testing.T) {
	c, _ := newFixture(t)
	responses, err := cache.NewResponses(1<<20, time.Minute, c.Versions())
	must(t, err)
	add := func(key string, tags ...string) {
		responses.Add(key, cache.Response{Body: []byte(key), Tags: tags, At: responses.Now()})
	}
	add("problem p1", coderunner.ProblemTag("p1"))
	add("level a1 and its problems", coderunner.LevelTag("a1"), coderunner.ProblemTag("p1"), coderunner.ProblemTag("p2"))
	add("level b1", coderunner.LevelTag("b1"))
	add("age groups", coderunner.AgeGroupListTag)
	responses.Wait()
	// Computed before the change, stored after it: stale at once.
	computing := responses.Now()
	c.Invalidate(coderunner.ContentChange{Problems: []string{"p1"}})
	responses.Add("late", cache.Response{Body: []byte("late"), Tags: []string{coderunner.ProblemTag("p1")}, At: computing})
	responses.Wait()
	for key, want := range map[string]bool{
		"problem p1": false, "level a1 and its problems": false, "late": false,
		"level b1": true, "age groups": true,
	} {
		if _, ok := responses.Get(key); ok != want {
			t.Errorf("%s cached after a change to p1: %v, want %v", key, ok, want)
		}
	}
	c.Invalidate(coderunner.ContentChange{AgeGroups: []string{"b"}})
	if _, ok := responses.Get("age groups"); ok {
		t.Error("the list of age groups is cached after a change to age group b")
	}
	if _, ok := responses.Get("level b1"); !ok {
		t.Error("level b1 dropped by a change to its age group that does not name it")
	}
}
