package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/runs"
	"coderunner/store/sqlite"
	"coderunner/submissions"
)

// greet is the problem the grading tests submit to: one sample test and
// two hidden ones, short limits so that endless loops end soon.
var greet = coderunner.Problem{
	ID: "greet", LevelID: "level", Title: "Greet", TimeLimitMs: 500, MemoryMB: 64,
	SampleTests: []coderunner.TestCase{{Input: "Ada\n", Output: "Hello, Ada!\n"}},
	HiddenTests: []coderunner.TestCase{
		{Input: "Sam\n", Output: "Hello, Sam!\n", Hint: "Say hello to whoever the input names."},
		{Input: "Zoe\n", Output: "Hello, Zoe!\n"},
	},
}

// newGrader returns a submission service on a fresh store holding problems,
// with a worker grading in ex until the test ends.
func newGrader(t testing.TB, ex coderunner.Sandbox, problems ...coderunner.Problem) *submissions.Service {
	t.Helper()
	subs, _ := newGraderAndRunner(t, ex, problems...)
	return subs
}

// newGraderAndRunner is newGrader that also returns a run service on the
// same store and broker, whose runs the same worker carries out in the
// same slot.
func newGraderAndRunner(t testing.TB, ex coderunner.Sandbox, problems ...coderunner.Problem) (*submissions.Service, *runs.Service) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PutAgeGroup(t.Context(), coderunner.AgeGroup{Slug: "7-9", Title: "Explorers"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutLevel(t.Context(), coderunner.Level{ID: "level", AgeGroup: "7-9", Title: "Level"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if err := db.PutProblem(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	brk := memory.New(broker.Options{ClaimTimeout: time.Second})
	t.Cleanup(func() { brk.Close() })
	svc := &submissions.Service{Store: db, Broker: brk}
	runner := &runs.Service{Store: db, Broker: brk}
	t.Cleanup(startWorker(t, &Worker{Broker: brk, Submissions: svc, Runs: runner, Sandbox: ex, KeepAliveEvery: 200 * time.Millisecond, Grace: 5 * time.Second}))
	return svc, runner
}

var student = coderunner.Caller{User: &coderunner.User{ID: "student-1", Name: "ada", Role: coderunner.RoleStudent}}

// submitAndFollow submits code and returns the events it was graded with,
// FINISHED last.
func submitAndFollow(t testing.TB, svc *submissions.Service, problemID, code string) []coderunner.RunEvent {
	t.Helper()
	sub, err := svc.Submit(t.Context(), student, problemID, code)
	if err != nil {
		t.Fatal(err)
	}
	events, err := svc.Events(t.Context(), student, sub.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []coderunner.RunEvent
	timeout := time.After(60 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return got
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("no FINISHED within a minute; events so far %+v", got)
		}
	}
}

// TestGrading grades programs that earn each verdict through the real
// sandbox, and checks what the submission and its events say.
func TestGrading(t *testing.T) {
	stopFirst := greet
	stopFirst.ID, stopFirst.StopOnFirstFailure = "greet-stop", true
	third := coderunner.Problem{
		ID: "third", LevelID: "level", Title: "A third", Checker: coderunner.Checker{Kind: coderunner.CheckFloat},
		SampleTests: []coderunner.TestCase{{Input: "1\n", Output: "0.3333333333\n"}},
		HiddenTests: []coderunner.TestCase{{Input: "2\n", Output: "0.6666666667\n"}},
	}
	svc := newGrader(t, newTestExecutor(t, 1), greet, stopFirst, third)
	tests := []struct {
		name, problem, code string
		verdict             coderunner.Verdict
		passed              int
		tests               []coderunner.Verdict // of each graded test
	}{
		{"accepted, prompt of input() not in stdout", "greet", `name = input("Your name? ")` + "\nprint(\"Hello, \" + name + \"!\")",
			coderunner.Accepted, 3, []coderunner.Verdict{coderunner.Accepted, coderunner.Accepted, coderunner.Accepted}},
		{"trailing spaces ignored", "greet", `print("Hello, " + input() + "!   ")`,
			coderunner.Accepted, 3, []coderunner.Verdict{coderunner.Accepted, coderunner.Accepted, coderunner.Accepted}},
		{"the sample only", "greet", `input()` + "\nprint(\"Hello, Ada!\")",
			coderunner.WrongAnswer, 1, []coderunner.Verdict{coderunner.Accepted, coderunner.WrongAnswer, coderunner.WrongAnswer}},
		{"runtime error", "greet", `raise ValueError("oops")`,
			coderunner.RuntimeError, 0, []coderunner.Verdict{coderunner.RuntimeError, coderunner.RuntimeError, coderunner.RuntimeError}},
		{"a time limit is worse than a wrong answer", "greet", "n = input()\nif n == \"Sam\":\n    while True: pass\nprint(\"Hello, Ada!\")",
			coderunner.TimeLimitExceeded, 1, []coderunner.Verdict{coderunner.Accepted, coderunner.TimeLimitExceeded, coderunner.WrongAnswer}},
		{"memory", "greet", "x = bytearray(200 * 1024 * 1024)\nprint(len(x))",
			coderunner.MemoryLimitExceeded, 0, []coderunner.Verdict{coderunner.MemoryLimitExceeded, coderunner.MemoryLimitExceeded, coderunner.MemoryLimitExceeded}},
		{"output", "greet", "while True: print('x' * 1000)",
			coderunner.OutputLimitExceeded, 0, []coderunner.Verdict{coderunner.OutputLimitExceeded, coderunner.OutputLimitExceeded, coderunner.OutputLimitExceeded}},
		{"stop on first failure", "greet-stop", `print("Hi")`,
			coderunner.WrongAnswer, 0, []coderunner.Verdict{coderunner.WrongAnswer}},
		{"float checker", "third", "print(int(input()) / 3)",
			coderunner.Accepted, 2, []coderunner.Verdict{coderunner.Accepted, coderunner.Accepted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := submitAndFollow(t, svc, tt.problem, tt.code)
			types := make([]coderunner.RunEventType, len(events))
			for i, e := range events {
				types[i] = e.Type
				if e.Seq != int64(i+1) {
					t.Errorf("event %d has seq %d", i, e.Seq)
				}
			}
			want := []coderunner.RunEventType{coderunner.EventQueued, coderunner.EventStarted}
			for range tt.tests {
				want = append(want, coderunner.EventTestFinished)
			}
			want = append(want, coderunner.EventFinished)
			if !slices.Equal(types, want) {
				t.Fatalf("events %v; want %v", types, want)
			}
			sub := events[len(events)-1].Submission
			total := map[string]int{"greet": 3, "greet-stop": 3, "third": 2}[tt.problem]
			if sub.Status != coderunner.SubmissionFinished || sub.Verdict != tt.verdict || sub.Passed != tt.passed || sub.Total != total {
				t.Errorf("submission %s %s %d/%d; want FINISHED %s %d/%d", sub.Status, sub.Verdict, sub.Passed, sub.Total, tt.verdict, tt.passed, total)
			}
			var verdicts []coderunner.Verdict
			for i, test := range sub.Tests {
				verdicts = append(verdicts, test.Verdict)
				if live := events[2+i].Test; live == nil || live.Index != i || live.Verdict != test.Verdict {
					t.Errorf("TEST_FINISHED #%d = %+v; the submission says %+v", i, live, test)
				}
			}
			if !slices.Equal(verdicts, tt.tests) {
				t.Errorf("test verdicts %v; want %v", verdicts, tt.tests)
			}
			if sub.Code != tt.code {
				t.Errorf("FINISHED carries code %q; want the submitted code", sub.Code)
			}
		})
	}
}

// TestGradingFeedback: a sample test shows its data and a diff; a hidden
// test shows its verdict and hint, never its data — even to a program
// that prints its input back.
func TestGradingFeedback(t *testing.T) {
	svc := newGrader(t, newTestExecutor(t, 1), greet)
	events := submitAndFollow(t, svc, "greet", "import sys\nprint('Hello ' + sys.stdin.read())")
	sub := events[len(events)-1].Submission
	if len(sub.Tests) != 3 {
		t.Fatalf("%d tests graded; want 3", len(sub.Tests))
	}
	sample, hidden := sub.Tests[0], sub.Tests[1]
	if !sample.Sample || sample.Input != "Ada\n" || sample.ExpectedOutput != "Hello, Ada!\n" || sample.ActualOutput != "Hello Ada\n\n" || !strings.Contains(sample.Diff, "line 1") {
		t.Errorf("sample test %+v; want its input, outputs and a diff", sample)
	}
	if hidden.Sample || hidden.Input != "" || hidden.ExpectedOutput != "" || hidden.ActualOutput != "" || hidden.Stderr != "" || hidden.Diff != "" {
		t.Errorf("hidden test %+v shows its data", hidden)
	}
	if hidden.Hint != greet.HiddenTests[0].Hint {
		t.Errorf("hidden test hint %q; want the author's", hidden.Hint)
	}
	for _, e := range events {
		if e.Test != nil && e.Test.Index > 0 && strings.Contains(e.Test.ActualOutput+e.Test.Input, "Sam") {
			t.Errorf("TEST_FINISHED %+v shows a hidden test's data", e.Test)
		}
	}
}

// TestGradingProgress: attempts count, the best result stays, and a
// solved problem stays solved after a worse submission.
func TestGradingProgress(t *testing.T) {
	svc := newGrader(t, newTestExecutor(t, 1), greet)
	for _, code := range []string{`print("Hi")`, `print("Hello, " + input() + "!")`, `raise SystemExit(1)`} {
		submitAndFollow(t, svc, "greet", code)
	}
	progress, err := svc.Store.Progress(t.Context(), student.User.ID, []string{"greet"})
	if err != nil {
		t.Fatal(err)
	}
	p := progress["greet"]
	if p.Attempts != 3 || p.BestVerdict != coderunner.Accepted || p.BestPassed != 3 || p.Total != 3 || !p.Solved() {
		t.Errorf("progress %+v; want 3 attempts, ACCEPTED 3/3, solved", p)
	}
}

// seeingSandbox records everything each run's program printed, before
// grading keeps (or drops) any of it.
type seeingSandbox struct {
	coderunner.Sandbox
	mu   sync.Mutex
	seen []string // what the program printed, run by run
}

func (s *seeingSandbox) Run(ctx context.Context, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (coderunner.RunResult, error) {
	res, err := s.Sandbox.Run(ctx, req, onOutput)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, res.Stdout+res.Stderr)
	return res, err
}

// TestGradingLeaksNothingBetweenTests grades a program that prints its
// environment and arguments, reads its stdin to the end, and searches every
// file it can read outside the image's own directories — /tmp, /dev/shm,
// /var, /run, its working directory, the launcher's environment — for any
// test's data: on each test it finds its own input and nothing else, and no
// expected output anywhere (those never enter a sandbox).
func TestGradingLeaksNothingBetweenTests(t *testing.T) {
	for _, mode := range []Mode{ModeContainer, ModeJail} {
		t.Run(string(mode), func(t *testing.T) {
			ex := &seeingSandbox{Sandbox: newTestExecutorIn(t, mode, 1)}
			// Markers the program's source holds only in two halves, so
			// that its own file is no match.
			marker := func(kind string, i int) (half1, half2 string) { return fmt.Sprintf("%s-%d-", kind, i), "7f3a9c" }
			problem := coderunner.Problem{ID: "secrets", LevelID: "level", Title: "Secrets", TimeLimitMs: 5000}
			var halves []string
			for i := range 4 {
				in1, in2 := marker("IN", i)
				out1, out2 := marker("OUT", i)
				tc := coderunner.TestCase{Input: in1 + in2 + "\n", Output: out1 + out2 + "\n"}
				if i == 0 {
					problem.SampleTests = append(problem.SampleTests, tc)
				} else {
					problem.HiddenTests = append(problem.HiddenTests, tc)
				}
				halves = append(halves, fmt.Sprintf("(%q, %q), (%q, %q)", in1, in2, out1, out2))
			}
			program := `import os, sys
print("ENV", dict(os.environ), "ARGV", sys.argv)
print("STDIN", sys.stdin.read())
markers = [a + b for a, b in [` + strings.Join(halves, ", ") + `]]
def search(path, data):
    for m in markers:
        if m.encode() in data:
            print("FOUND", m, "IN", path)
for path in ("/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ", "/proc/1/cmdline"):
    try:
        search(path, open(path, "rb").read())
    except OSError:
        pass
for top in ("/tmp", "/dev/shm", "/var", "/run", "/home", "/root", "/opt", "/etc", os.getcwd()):
    for root, dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if os.path.realpath(path) == os.path.realpath(sys.argv[0]):
                continue
            try:
                search(path, open(path, "rb").read(1 << 20))
            except OSError:
                pass
print("DONE")
`
			svc := newGrader(t, ex, problem)
			submitAndFollow(t, svc, "secrets", program)
			g := problem.Grading()
			if len(ex.seen) != len(g.Tests) {
				t.Fatalf("%d runs for %d tests", len(ex.seen), len(g.Tests))
			}
			for i, tc := range g.Tests {
				saw := ex.seen[i] // one worker slot: tests run in order
				if !strings.Contains(saw, "DONE") {
					t.Fatalf("test %d: the program did not finish its search: %q", i, saw)
				}
				if !strings.Contains(saw, "STDIN "+tc.Input) {
					t.Errorf("test %d: the program did not read its own input: %q", i, saw)
				}
				for j, other := range g.Tests {
					if j != i && strings.Contains(saw, strings.TrimSpace(other.Input)) {
						t.Errorf("test %d: the program saw test %d's input: %q", i, j, saw)
					}
					if strings.Contains(saw, strings.TrimSpace(other.Output)) {
						t.Errorf("test %d: the program saw test %d's expected output: %q", i, j, saw)
					}
				}
			}
		})
	}
}
