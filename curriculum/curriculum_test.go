package curriculum_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/curriculum"
	"coderunner/grade"
)

// runTimeout bounds one python3 run. It is a safety net well above every
// problem's time limit, not the limit itself: reference solutions are held to
// their limit in CPU time, which a busy machine does not inflate.
const runTimeout = 10 * time.Second

func shipped(t *testing.T) curriculum.Curriculum {
	t.Helper()
	c, err := curriculum.Shipped()
	if err != nil {
		t.Fatalf("Shipped: %v", err)
	}
	return c
}

// TestShipped checks the shape of the shipped curriculum: enough age groups,
// levels and problems, and enough well-formed test cases in every problem.
func TestShipped(t *testing.T) {
	c := shipped(t)

	wantGroups := []string{"7-9", "10-12", "13-15"}
	var slugs []string
	for _, g := range c.AgeGroups {
		slugs = append(slugs, g.Slug)
	}
	if got := strings.Join(slugs, ","); !strings.HasPrefix(got, strings.Join(wantGroups, ",")) {
		t.Errorf("age groups = %s, want %s first, youngest first", got, strings.Join(wantGroups, ","))
	}
	if len(c.Levels) < 9 {
		t.Errorf("%d levels, want at least 9", len(c.Levels))
	}
	if len(c.Problems) < 30 {
		t.Errorf("%d problems, want at least 30", len(c.Problems))
	}

	levelsPerGroup := map[string]int{}
	for _, l := range c.Levels {
		levelsPerGroup[l.AgeGroup]++
		if l.Position != levelsPerGroup[l.AgeGroup] {
			t.Errorf("level %s: position %d, want %d (positions follow the file's order)", l.ID, l.Position, levelsPerGroup[l.AgeGroup])
		}
	}
	for _, g := range c.AgeGroups {
		if levelsPerGroup[g.Slug] < 3 {
			t.Errorf("age group %s has %d levels, want at least 3", g.Slug, levelsPerGroup[g.Slug])
		}
	}
	problemsPerLevel := map[string]int{}
	for _, p := range c.Problems {
		problemsPerLevel[p.LevelID]++
		if p.Position != problemsPerLevel[p.LevelID] {
			t.Errorf("problem %s: position %d, want %d (positions follow the file's order)", p.ID, p.Position, problemsPerLevel[p.LevelID])
		}
	}
	for _, l := range c.Levels {
		if problemsPerLevel[l.ID] == 0 {
			t.Errorf("level %s has no problems", l.ID)
		}
	}

	tests := 0
	for _, p := range c.Problems {
		tests += len(p.SampleTests) + len(p.HiddenTests)
		t.Run(p.ID, func(t *testing.T) {
			if len(p.SampleTests) < 2 {
				t.Errorf("%d sample tests, want at least 2", len(p.SampleTests))
			}
			if len(p.HiddenTests) < 3 {
				t.Errorf("%d hidden tests, want at least 3", len(p.HiddenTests))
			}
			for what, text := range map[string]string{
				"statement":          p.Statement,
				"starter code":       p.StarterCode,
				"reference solution": p.ReferenceSolution,
			} {
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s is empty", what)
				}
			}
			if p.StarterCode == p.ReferenceSolution {
				t.Errorf("starter code is the reference solution")
			}
			// Every test case is distinct, so no hidden test merely repeats a
			// sample, and is written as a program sees it: whole lines.
			seen := map[string]string{}
			for _, tc := range testCases(p) {
				if other, ok := seen[tc.Input]; ok {
					t.Errorf("%s has the same input as %s: %q", tc.name, other, tc.Input)
				}
				seen[tc.Input] = tc.name
				if tc.Input != "" && !strings.HasSuffix(tc.Input, "\n") {
					t.Errorf("%s: input %q does not end with a newline", tc.name, tc.Input)
				}
				if tc.Output != "" && !strings.HasSuffix(tc.Output, "\n") {
					t.Errorf("%s: output %q does not end with a newline", tc.name, tc.Output)
				}
			}
			// The worked example in the statement is the first sample test, so
			// the two cannot drift apart.
			if len(p.SampleTests) > 0 {
				first := p.SampleTests[0]
				for what, text := range map[string]string{"input": first.Input, "output": first.Output} {
					if !strings.Contains(p.Statement, strings.TrimSuffix(text, "\n")) {
						t.Errorf("statement does not show the first sample's %s %q as its example", what, text)
					}
				}
			}
		})
	}
	t.Logf("%d age groups, %d levels, %d problems, %d test cases", len(c.AgeGroups), len(c.Levels), len(c.Problems), tests)
}

// TestReferenceSolutions runs every reference solution against every test
// case with python3: the expected outputs are right, and reachable within the
// problem's time limit.
func TestReferenceSolutions(t *testing.T) {
	py := python3(t)
	for _, p := range shipped(t).Problems {
		t.Run(p.ID, func(t *testing.T) {
			t.Parallel()
			limit := time.Duration(p.WithDefaults().TimeLimitMs) * time.Millisecond
			for _, tc := range testCases(p) {
				r := runPython(t.Context(), py, p.ReferenceSolution, tc.Input)
				switch {
				case r.err != nil:
					t.Errorf("%s: input %q: %v\nstderr:\n%s", tc.name, tc.Input, r.err, r.stderr)
				case !grade.Check(p.Checker, tc.Output, r.stdout):
					t.Errorf("%s: input %q:\n got %q\nwant %q", tc.name, tc.Input, r.stdout, tc.Output)
				}
				if r.cpu > limit {
					t.Errorf("%s: input %q: used %v of CPU, over the %v time limit", tc.name, tc.Input, r.cpu, limit)
				}
			}
		})
	}
}

// TestStarterCode checks that each problem's starter code runs as given (a
// child pressing Run sees output, not a traceback) and does not already
// solve the problem: it must fail at least one hidden test.
func TestStarterCode(t *testing.T) {
	py := python3(t)
	for _, p := range shipped(t).Problems {
		t.Run(p.ID, func(t *testing.T) {
			t.Parallel()
			for i, tc := range p.SampleTests {
				if r := runPython(t.Context(), py, p.StarterCode, tc.Input); r.err != nil {
					t.Errorf("sample %d: starter code does not run: %v\nstderr:\n%s", i+1, r.err, r.stderr)
				}
			}
			passed := 0
			for i, tc := range p.HiddenTests {
				r := runPython(t.Context(), py, p.StarterCode, tc.Input)
				if errors.Is(r.err, context.DeadlineExceeded) {
					t.Errorf("hidden %d: starter code does not finish: %v", i+1, r.err)
				}
				if r.err == nil && grade.Check(p.Checker, tc.Output, r.stdout) {
					passed++
				}
			}
			if passed == len(p.HiddenTests) {
				t.Errorf("starter code passes all %d hidden tests: it gives the answer away", passed)
			}
		})
	}
}

// TestLoadRejects checks that Load refuses a broken file whole, with an
// error that says what is wrong.
func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // a substring of the error; "" means Load must succeed
	}{
		{
			name: "valid",
			yaml: doc(level("l1", problem("p1"), problem("p2"))),
		},
		{
			name: "duplicate problem id in one level",
			yaml: doc(level("l1", problem("p1"), problem("p1"))),
			want: "problem p1 appears twice",
		},
		{
			name: "duplicate problem id across levels",
			yaml: doc(level("l1", problem("p1")), level("l2", problem("p1"))),
			want: "problem p1 appears twice",
		},
		{
			name: "duplicate level id",
			yaml: doc(level("l1", problem("p1")), level("l1", problem("p2"))),
			want: "level l1 appears twice",
		},
		{
			name: "duplicate age group",
			yaml: doc(level("l1", problem("p1"))) + strings.TrimPrefix(doc(level("l2", problem("p2"))), "ageGroups:\n"),
			want: "age group 7-9 appears twice",
		},
		{
			name: "unknown problem field",
			yaml: doc(level("l1", strings.Replace(problem("p1"), "title:", "titel:", 1))),
			want: `unknown field "titel"`,
		},
		{
			name: "misspelled hiddenTests",
			yaml: doc(level("l1", strings.Replace(problem("p1"), "hiddenTests:", "hiddenTest:", 1))),
			want: `unknown field "hiddenTest"`,
		},
		{
			name: "unknown test case field",
			yaml: doc(level("l1", strings.Replace(problem("p1"), `output: "2\n"`, `expected: "2\n"`, 1))),
			want: `unknown field "expected"`,
		},
		{
			name: "derived problemCount in a level",
			yaml: doc(strings.Replace(level("l1", problem("p1")), "    title:", "    problemCount: 1\n    title:", 1)),
			want: `unknown field "problemCount"`,
		},
		{
			name: "unknown top-level field",
			yaml: "version: 2\n" + doc(level("l1", problem("p1"))),
			want: `unknown field "version"`,
		},
		{
			name: "problem without hidden tests",
			yaml: doc(level("l1", strings.Replace(problem("p1"), `      hiddenTests: [{input: "2\n", output: "2\n"}]`+"\n", "", 1))),
			want: "problem p1: needs at least one sample and one hidden test case",
		},
		{
			name: "problem with an empty list of hidden tests",
			yaml: doc(level("l1", strings.Replace(problem("p1"), `[{input: "2\n", output: "2\n"}]`, "[]", 1))),
			want: "problem p1: needs at least one sample and one hidden test case",
		},
		{
			name: "invalid problem id",
			yaml: doc(level("l1", problem("Hello World"))),
			want: `problem id "Hello World" must be`,
		},
		{
			name: "time limit too long",
			yaml: doc(level("l1", problem("p1")+"      timeLimitMs: 60000\n")),
			want: "problem p1: timeLimitMs must be 0 (the default",
		},
		{
			name: "invalid YAML: tab indentation",
			yaml: "ageGroups:\n\t- slug: x\n",
			want: "parse curriculum",
		},
		{
			name: "invalid YAML: unclosed flow sequence",
			yaml: doc(level("l1", strings.Replace(problem("p1"), `output: "2\n"}]`, `output: "2\n"}`, 1))),
			want: "parse curriculum",
		},
		{
			name: "invalid YAML: text where a number belongs",
			yaml: doc(level("l1", problem("p1")+"      timeLimitMs: fast\n")),
			want: "parse curriculum",
		},
		{
			name: "empty file",
			yaml: "",
			want: "no age groups",
		},
		{
			name: "comments only",
			yaml: "# nothing here yet\n",
			want: "no age groups",
		},
		{
			name: "no age groups",
			yaml: "ageGroups: []\n",
			want: "no age groups",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := curriculum.Load(strings.NewReader(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v\n%s", err, tt.yaml)
				}
				if len(c.Problems) == 0 {
					t.Fatalf("Load returned no problems\n%s", tt.yaml)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q\n%s", tt.want, tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v\nwant it to contain %q", err, tt.want)
			}
			if len(c.AgeGroups)+len(c.Levels)+len(c.Problems) != 0 {
				t.Errorf("Load returned content along with its error")
			}
		})
	}
}

// TestLoadValidationErrorsAreBadUserInput checks that content errors found by
// the domain validation keep their BAD_USER_INPUT code through Load.
func TestLoadValidationErrorsAreBadUserInput(t *testing.T) {
	_, err := curriculum.Load(strings.NewReader(doc(level("l1", problem("Bad Id")))))
	if got := coderunner.ErrorCode(err); got != coderunner.BadUserInput {
		t.Errorf("ErrorCode(%v) = %s, want %s", err, got, coderunner.BadUserInput)
	}
}

// doc returns a curriculum file with one age group holding levels.
func doc(levels ...string) string {
	return "ageGroups:\n- slug: \"7-9\"\n  title: Explorers\n  levels:\n" + strings.Join(levels, "")
}

// level returns one level of a doc, holding problems.
func level(id string, problems ...string) string {
	return fmt.Sprintf("  - id: %s\n    title: Level %[1]s\n    problems:\n", id) + strings.Join(problems, "")
}

// problem returns one valid problem of a level.
func problem(id string) string {
	return fmt.Sprintf(`    - id: %s
      title: Echo
      statement: Print the number you read.
      sampleTests: [{input: "1\n", output: "1\n"}]
      hiddenTests: [{input: "2\n", output: "2\n"}]
`, id)
}

type testCase struct {
	name string
	coderunner.TestCase
}

// testCases returns p's sample then hidden test cases, named for messages.
func testCases(p coderunner.Problem) []testCase {
	var tcs []testCase
	for i, tc := range p.SampleTests {
		tcs = append(tcs, testCase{fmt.Sprintf("sample %d", i+1), tc})
	}
	for i, tc := range p.HiddenTests {
		tcs = append(tcs, testCase{fmt.Sprintf("hidden %d", i+1), tc})
	}
	return tcs
}

// python3 returns the path of the local python3 interpreter. The curriculum
// cannot be checked without it, so its absence fails the test rather than
// skipping it. The interpreter is asked for its own path because python3 on
// PATH may be a launcher script (pyenv's shim) that slows every run down.
func python3(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required to check the curriculum's Python code: %v", err)
	}
	r := runPython(t.Context(), path, "import sys; print(sys.executable); print(sys.version.split()[0])", "")
	lines := strings.Fields(r.stdout)
	if r.err != nil || len(lines) != 2 {
		t.Fatalf("python3 (%s) does not run: %v\n%s%s", path, r.err, r.stdout, r.stderr)
	}
	t.Logf("python3 %s at %s", lines[1], lines[0])
	return lines[0]
}

type result struct {
	stdout, stderr string
	cpu            time.Duration
	err            error
}

// runPython runs code with python3, stdin as its input. -I isolates it from
// the environment and the user's site-packages, -S skips the site module
// (only the standard library is allowed, and it starts several times faster)
// and -X utf8 fixes the text encoding whatever the machine's locale.
func runPython(ctx context.Context, python, code, stdin string) result {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-I", "-S", "-X", "utf8", "-c", code)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no result after %v: %w", runTimeout, ctx.Err())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), err: err}
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return r
}
