package content_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/content"
	"coderunner/executor"
	"coderunner/store/sqlite"
	"coderunner/submissions"
)

// The checks run in the real sandbox. Where the Docker engine cannot be
// reached the tests fail when CI=true and skip, saying why, otherwise.
var sandbox *executor.Executor
var sandboxErr error

func TestMain(m *testing.M) {
	var closeSandbox func()
	sandbox, closeSandbox, sandboxErr = startSandbox()
	if sandboxErr != nil && os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "FAIL: content tests need a Docker engine and the sandbox image, and CI=true: %v\n", sandboxErr)
		os.Exit(1)
	}
	code := m.Run()
	if closeSandbox != nil {
		closeSandbox()
	}
	os.Exit(code)
}

func startSandbox() (*executor.Executor, func(), error) {
	cli, err := executor.NewClient()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		return nil, nil, err
	}
	if _, err := executor.EnsureImage(ctx, cli, executor.FromDebootstrap, os.Stderr); err != nil {
		return nil, nil, err
	}
	ex, err := executor.New(ctx, cli, executor.Options{
		PoolSize: 2, PoolName: fmt.Sprintf("content-test-%d", os.Getpid()),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, nil, err
	}
	return ex, func() { ex.Close(); cli.Close() }, nil
}

// newChecker returns a checker on a fresh store and in-memory broker, with
// a worker grading in the real sandbox until the test ends.
func newChecker(t *testing.T) (*content.Checker, *sqlite.Store) {
	t.Helper()
	if sandboxErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker engine unavailable with CI=true: %v", sandboxErr)
		}
		t.Skipf("Docker engine unavailable (scripts/setup-docker.sh sets one up): %v", sandboxErr)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	brk := memory.New(broker.Options{ClaimTimeout: 5 * time.Second})
	t.Cleanup(func() { brk.Close() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	svc := &submissions.Service{Store: db, Broker: brk, Log: log}
	w := &executor.Worker{Name: "content-test", Broker: brk, Submissions: svc, Sandbox: sandbox, Concurrency: 2, MaxDeliveries: 3,
		KeepAliveEvery: time.Second, Grace: 5 * time.Second, Log: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &content.Checker{Submissions: svc, Timeout: time.Minute}, db
}

var editor = coderunner.Caller{User: &coderunner.User{ID: "ed", Name: "eddie", Role: coderunner.RoleEditor}}

// double is a good problem: it passes its check.
func double() coderunner.Problem {
	return coderunner.Problem{
		ID: "double", LevelID: "basics", Title: "Double", Statement: "Print the number, doubled.",
		StarterCode: "n = int(input())\n# print n, doubled\n",
		SampleTests: []coderunner.TestCase{{Input: "1\n", Output: "2\n"}, {Input: "5\n", Output: "10\n"}},
		HiddenTests: []coderunner.TestCase{{Input: "-3\n", Output: "-6\n"}, {Input: "7\n", Output: "14\n"}},
		TimeLimitMs: 2000, MemoryMB: 64, ReferenceSolution: "print(2 * int(input()))\n",
	}
}

// failure is what a test expects of one content.Failure.
type failure struct {
	program content.Program
	test    string // TestName
	verdict coderunner.Verdict
	// in is text the failure's message must hold (its diff, its error).
	in string
}

// TestCheck checks problems in the real sandbox: a good one passes; a
// broken reference solution, a sample with a wrong expected output and a
// starter code that already passes are refused, BAD_USER_INPUT, with every
// failing test listed — hidden tests' data and diffs included, for the
// editor — and nothing is stored as a problem.
func TestCheck(t *testing.T) {
	checker, db := newChecker(t)
	tests := []struct {
		name string
		edit func(p *coderunner.Problem)
		want []failure
	}{
		{"good", func(p *coderunner.Problem) {}, nil},
		{"reference solution wrong on a hidden test", func(p *coderunner.Problem) {
			p.ReferenceSolution = "n = int(input())\nprint(2 * n if n != 7 else 15)\n"
		}, []failure{{content.ReferenceSolution, "hidden test 2", coderunner.WrongAnswer, `line 1: expected "14" but your program printed "15"`}}},
		{"reference solution crashes, every failing test listed though grading stops at the first", func(p *coderunner.Problem) {
			p.StopOnFirstFailure = true
			p.ReferenceSolution = "n = int(input())\nif n < 0:\n    raise ValueError('negative')\nprint(n * 2)\n"
			p.HiddenTests = append(p.HiddenTests, coderunner.TestCase{Input: "-1\n", Output: "-2\n"})
		}, []failure{
			{content.ReferenceSolution, "hidden test 1", coderunner.RuntimeError, "ValueError: negative"},
			{content.ReferenceSolution, "hidden test 3", coderunner.RuntimeError, "ValueError: negative"},
		}},
		{"a sample's expected output is wrong", func(p *coderunner.Problem) {
			p.SampleTests[1].Output = "11\n"
		}, []failure{{content.ReferenceSolution, "sample test 2", coderunner.WrongAnswer, `line 1: expected "11" but your program printed "10"`}}},
		{"the starter code already passes", func(p *coderunner.Problem) {
			p.StarterCode = "n = int(input())\nprint(n + n)\n"
		}, []failure{{content.StarterCode, "", "", "the starter code already passes every test"}}},
		{"reference solution too slow, starter passes too", func(p *coderunner.Problem) {
			p.TimeLimitMs = 300
			p.HiddenTests = p.HiddenTests[:1]
			p.ReferenceSolution = "n = int(input())\nif n < 0:\n    while True: pass\nprint(2 * n)\n"
			p.StarterCode = "print(2 * int(input()))\n"
		}, []failure{
			{content.ReferenceSolution, "hidden test 1", coderunner.TimeLimitExceeded, "the reference solution fails hidden test 1 (TIME_LIMIT_EXCEEDED)"},
			{content.StarterCode, "", "", "the starter code already passes every test"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := double()
			tt.edit(&p)
			err := checker.Check(t.Context(), editor, p)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check of a good problem: %v", err)
				}
				return
			}
			var checkErr *content.CheckError
			if !errors.As(err, &checkErr) || coderunner.ErrorCode(err) != coderunner.BadUserInput {
				t.Fatalf("Check = %v; want a BAD_USER_INPUT *CheckError", err)
			}
			var coded *coderunner.Error
			if !errors.As(err, &coded) || coded.Message != err.Error() {
				t.Errorf("Check = %v; want it to be a *coderunner.Error with the same message", err)
			}
			t.Logf("refused: %v", err)
			if !strings.HasPrefix(err.Error(), "problem double: ") {
				t.Errorf("message %q does not name the problem", err)
			}
			if len(checkErr.Failures) != len(tt.want) {
				t.Fatalf("failures %+v; want %d: %+v", checkErr.Failures, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				f := checkErr.Failures[i]
				if f.ProblemID != "double" || f.Program != w.program || f.TestName() != w.test {
					t.Errorf("failure %d: %s %s %q; want %s %q", i, f.ProblemID, f.Program, f.TestName(), w.program, w.test)
				}
				if w.verdict != "" {
					if f.Test == nil || f.Test.Verdict != w.verdict {
						t.Errorf("failure %d: test %+v; want verdict %s", i, f.Test, w.verdict)
						continue
					}
					// Editors see every test's data.
					tc := p.Grading().Tests[f.Test.Index]
					if f.Test.Input != tc.Input || f.Test.ExpectedOutput != tc.Output {
						t.Errorf("failure %d: input %q, expected %q; want the test's own %q, %q", i, f.Test.Input, f.Test.ExpectedOutput, tc.Input, tc.Output)
					}
				}
				if !strings.Contains(f.String(), w.in) || !strings.Contains(err.Error(), f.String()) {
					t.Errorf("failure %d reads %q; want it to hold %q, and the message %q to hold it", i, f, w.in, err)
				}
				// The same, as data, for clients (extensions.failures).
				if list, ok := coded.Failures.([]content.FailureJSON); !ok || len(list) != len(tt.want) {
					t.Errorf("the error's Failures are %#v; want %d FailureJSON", coded.Failures, len(tt.want))
				} else if j := list[i]; j.Program != string(w.program) || j.Test != w.test || j.Verdict != string(w.verdict) || j.Message != f.String() ||
					(f.Test != nil && (j.Input != f.Test.Input || j.Diff != f.Test.Diff)) {
					t.Errorf("failure %d as data: %+v; want it to match %s", i, j, f)
				}
			}
		})
	}
	if stored, err := db.Problems(t.Context(), []string{"double"}); err != nil || len(stored) != 0 {
		t.Errorf("the store holds problems %v (%v) after the checks; want none", stored, err)
	}
}

// TestCheckRefusesBeforeRunning: a caller who is no editor, an invalid
// problem and one without a reference solution are refused before
// anything is submitted.
func TestCheckRefusesBeforeRunning(t *testing.T) {
	checker, db := newChecker(t)
	student := coderunner.Caller{User: &coderunner.User{ID: "kid", Name: "kid", Role: coderunner.RoleStudent}}
	noTests, noReference := double(), double()
	noTests.HiddenTests = nil
	noReference.ReferenceSolution = " \n"
	tests := []struct {
		name   string
		caller coderunner.Caller
		p      coderunner.Problem
		want   coderunner.Code
	}{
		{"guest", coderunner.Caller{Addr: "192.0.2.1"}, double(), coderunner.Unauthenticated},
		{"student", student, double(), coderunner.Forbidden},
		{"invalid", editor, noTests, coderunner.BadUserInput},
		{"no reference solution", editor, noReference, coderunner.BadUserInput},
	}
	for _, tt := range tests {
		err := checker.Check(t.Context(), tt.caller, tt.p)
		var checkErr *content.CheckError
		if coderunner.ErrorCode(err) != tt.want || errors.As(err, &checkErr) {
			t.Errorf("%s: Check = %v; want %s, no sandbox failures", tt.name, err, tt.want)
		}
	}
	if subs, err := db.UnfinishedSubmissions(t.Context(), time.Now().Add(time.Hour), coderunner.SubmissionCursor{}, 10); err != nil || len(subs) != 0 {
		t.Errorf("%d submissions (%v); want none", len(subs), err)
	}
}

// TestCheckAll: the failures of every failing problem are listed, the
// passing ones' not.
func TestCheckAll(t *testing.T) {
	checker, _ := newChecker(t)
	good, badRef, badStarter := double(), double(), double()
	good.ID, badRef.ID, badStarter.ID = "good", "bad-ref", "bad-starter"
	badRef.ReferenceSolution = "print(int(input()) * 3)\n"
	badStarter.StarterCode = badStarter.ReferenceSolution
	checker.Parallel = 2
	err := checker.CheckAll(t.Context(), editor, []coderunner.Problem{good, badRef, badStarter})
	var checkErr *content.CheckError
	if !errors.As(err, &checkErr) {
		t.Fatalf("CheckAll = %v; want a *CheckError", err)
	}
	var got []string
	for _, f := range checkErr.Failures {
		got = append(got, f.ProblemID+" "+string(f.Program)+" "+f.TestName())
	}
	want := []string{"bad-ref reference solution sample test 1", "bad-ref reference solution sample test 2",
		"bad-ref reference solution hidden test 1", "bad-ref reference solution hidden test 2", "bad-starter starter code "}
	if !slices.Equal(got, want) {
		t.Errorf("failures %q; want %q", got, want)
	}
	if !strings.Contains(err.Error(), "problem bad-ref: ") || !strings.Contains(err.Error(), "\nproblem bad-starter: the starter code") || strings.Contains(err.Error(), "problem good") {
		t.Errorf("message %q; want the two failing problems, each named once", err)
	}
	if err := checker.CheckAll(t.Context(), editor, []coderunner.Problem{good}); err != nil {
		t.Errorf("CheckAll of a good problem: %v", err)
	}
}
