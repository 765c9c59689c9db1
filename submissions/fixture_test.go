package submissions_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
	"coderunner/broker/memory"
	"coderunner/grade"
	"coderunner/store/sqlite"
	"coderunner/submissions"
)

// Callers.
var (
	student = coderunner.Caller{User: &coderunner.User{ID: "u1", Name: "ada", Role: coderunner.RoleStudent}}
	other   = coderunner.Caller{User: &coderunner.User{ID: "u2", Name: "bob", Role: coderunner.RoleStudent}}
	admin   = coderunner.Caller{User: &coderunner.User{ID: "root", Name: "root", Role: coderunner.RoleAdmin}}
	guest   = coderunner.Caller{Addr: "192.0.2.1"}
)

// fixture is the submissions service on a real SQLite store and the
// in-memory broker, with a clock of its own and one problem, "double".
type fixture struct {
	svc       *submissions.Service
	db        *sqlite.Store
	store     *countingStore
	broker    *memory.Broker
	published *brokertest.Published
	now       time.Time
}

func newFixture(t *testing.T, opts broker.Options) *fixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, store: &countingStore{Store: db}, broker: memory.New(opts), now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { f.broker.Close() })
	f.published = &brokertest.Published{Broker: f.broker}
	f.svc = &submissions.Service{Store: f.store, Broker: f.published, Now: func() time.Time { return f.now }, FinishCheck: 50 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)}
	ctx := t.Context()
	if err := db.PutAgeGroup(ctx, coderunner.AgeGroup{Slug: "8-10", Title: "Ages 8 to 10", Description: "Young coders.", Position: 1}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutLevel(ctx, coderunner.Level{ID: "basics", AgeGroup: "8-10", Position: 1, Title: "Basics", Description: "First steps."}); err != nil {
		t.Fatal(err)
	}
	f.putProblem(t, doubleProblem())
	return f
}

// doubleProblem prints twice its input: two sample tests, one hidden.
func doubleProblem() coderunner.Problem {
	return coderunner.Problem{
		ID: "double", LevelID: "basics", Position: 1, Title: "Double", Statement: "Print the number, doubled.",
		StarterCode: "n = int(input())\n",
		SampleTests: []coderunner.TestCase{{Input: "1\n", Output: "2\n"}, {Input: "5\n", Output: "10\n"}},
		HiddenTests: []coderunner.TestCase{{Input: "-3\n", Output: "-6\n", Hint: "Negative numbers too."}},
		TimeLimitMs: 1000, MemoryMB: 64, ReferenceSolution: "print(2 * int(input()))\n",
	}
}

// newBroker is another process's broker: it holds no event of the
// fixture's.
func newBroker(t *testing.T) *memory.Broker {
	b := memory.New(broker.Options{})
	t.Cleanup(func() { b.Close() })
	return b
}

func (f *fixture) putProblem(t *testing.T, p coderunner.Problem) {
	t.Helper()
	if err := f.db.PutProblem(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) submit(t *testing.T, caller coderunner.Caller, code string) coderunner.Submission {
	t.Helper()
	sub, err := f.svc.Submit(t.Context(), caller, "double", code)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return sub
}

// grade plays a worker that claims the oldest job and grades it with
// outputs, one a test (a program that printed them): it marks the
// submission running, publishes STARTED, records each test and finishes.
// Each test takes 100 ms of CPU time.
func (f *fixture) grade(t *testing.T, outputs ...string) coderunner.Submission {
	t.Helper()
	ctx := t.Context()
	claim, err := f.broker.Claim(ctx, "test-worker")
	if err != nil {
		t.Fatal(err)
	}
	sub := f.start(t, claim.Job().SubmissionID)
	g, err := f.svc.Store.Grading(ctx, sub.GradingKey)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	for i, out := range outputs {
		result := coderunner.RunResult{Status: coderunner.StatusCompleted, Stdout: out, CPUMs: 100}
		if sub, ok, err = f.svc.RecordTest(ctx, sub, grade.Result(i, i < g.SampleCount, g.Tests[i], g.Checker, result)); err != nil || !ok {
			t.Fatalf("RecordTest(%d) = %v, %v", i, ok, err)
		}
	}
	sub.Verdict, sub.Passed = grade.Overall(sub.Tests), grade.Passed(sub.Tests)
	if ok, err := f.svc.Finish(ctx, sub); !ok || err != nil {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if err := claim.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err = f.svc.Store.Submission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// start marks submission id RUNNING, started now, and publishes STARTED,
// as a worker does, then records the given tests (100 ms of CPU time
// each).
func (f *fixture) start(t *testing.T, id string, verdicts ...coderunner.Verdict) coderunner.Submission {
	t.Helper()
	ctx := t.Context()
	sub, err := f.svc.Store.Submission(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sub, ok, err := f.svc.Start(ctx, sub, f.now)
	if err != nil || !ok {
		t.Fatalf("Start = %v, %v", ok, err)
	}
	if _, err := f.svc.Broker.Publish(ctx, coderunner.RunEvent{RunID: sub.ID, Type: coderunner.EventStarted}); err != nil {
		t.Fatal(err)
	}
	for i, v := range verdicts {
		if sub, ok, err = f.svc.RecordTest(ctx, sub, coderunner.TestResult{Index: i, Verdict: v, CPUMs: 100}); err != nil || !ok {
			t.Fatalf("RecordTest(%d) = %v, %v", i, ok, err)
		}
	}
	return sub
}

// events reads every event of submission id after afterSeq, as caller.
func (f *fixture) events(t *testing.T, caller coderunner.Caller, id string, afterSeq int64) []coderunner.RunEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ch, err := f.svc.Events(ctx, caller, id, afterSeq)
	if err != nil {
		t.Fatal(err)
	}
	return drain(t, ctx, ch)
}

func drain(t *testing.T, ctx context.Context, ch <-chan coderunner.RunEvent) []coderunner.RunEvent {
	t.Helper()
	var out []coderunner.RunEvent
	for e := range ch {
		out = append(out, e)
	}
	if ctx.Err() != nil {
		t.Fatalf("events still open after 5 s; got %s", brokertest.Types(out))
	}
	return out
}

func seqs(events []coderunner.RunEvent) []int64 {
	var s []int64
	for _, e := range events {
		s = append(s, e.Seq)
	}
	return s
}

// countingStore is the real store, counting the gradings put.
type countingStore struct {
	*sqlite.Store
	mu       sync.Mutex
	gradings int
}

func (s *countingStore) PutGrading(ctx context.Context, key string, g coderunner.Grading) error {
	s.mu.Lock()
	s.gradings++
	s.mu.Unlock()
	return s.Store.PutGrading(ctx, key, g)
}

func (s *countingStore) gradingsPut() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gradings
}

type fixedQuota coderunner.Quota

func (q fixedQuota) QuotaFor(context.Context, coderunner.Caller) (coderunner.Quota, error) {
	return coderunner.Quota(q), nil
}

// plenty is a quota no test reaches but the one it lowers.
var plenty = coderunner.Quota{RunsPerMinute: 100, RunsPerDay: 100, ExecSecondsPerDay: 3600, MaxActiveRuns: 100, SubmitsPerMinute: 100, SubmitsPerDay: 100}
