package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coderunner"
	"coderunner/content"
	"coderunner/curriculum"
	"coderunner/store/sqlite"
)

// seedFile is a curriculum of two problems, edited by edit, as a file.
func seedFile(t *testing.T, edit func(c *curriculum.Curriculum)) string {
	t.Helper()
	problem := func(id string, pos int) coderunner.Problem {
		return coderunner.Problem{
			ID: id, LevelID: "basics", Position: pos, Title: "Double " + id, Statement: "Print the number, doubled.\n",
			StarterCode: "n = int(input())\n",
			SampleTests: []coderunner.TestCase{{Input: "1\n", Output: "2\n"}},
			HiddenTests: []coderunner.TestCase{{Input: "-3\n", Output: "-6\n"}, {Input: "7\n", Output: "14\n"}},
			TimeLimitMs: 2000, ReferenceSolution: "print(2 * int(input()))\n",
		}
	}
	c := curriculum.Curriculum{
		AgeGroups: []coderunner.AgeGroup{{Slug: "8-10", Title: "Young coders", Position: 1}},
		Levels:    []coderunner.Level{{ID: "basics", AgeGroup: "8-10", Position: 1, Title: "Basics"}},
		Problems:  []coderunner.Problem{problem("a", 1), problem("b", 2)},
	}
	edit(&c)
	out, err := curriculum.Export(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "curriculum.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSeedChecks: `seed --file` checks every problem in the sandbox, with
// a worker of its own, before it stores anything: a good file is seeded; a
// file with a broken reference solution or a starter code that passes
// already is refused with the failing tests listed, and the store keeps
// what it had. -check=no seeds without the check.
func TestSeedChecks(t *testing.T) {
	if err := dockerAnswers(t.Context()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker engine unavailable with CI=true: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	dir := t.TempDir()
	env := envOf(map[string]string{"CODERUNNER_DATA": dir, "CODERUNNER_WORKERS": "2", "CODERUNNER_LOG_LEVEL": "error"})
	broken := seedFile(t, func(c *curriculum.Curriculum) {
		c.Problems[0].ReferenceSolution = "n = int(input())\nprint(2 * n if n > 0 else n)\n"
		c.Problems[1].StarterCode = c.Problems[1].ReferenceSolution
	})
	tests := []struct {
		name    string
		args    []string
		wantErr []string // nil: seeded
		groups  int      // age groups stored after
	}{
		{"bad flag", []string{"seed", "-check=maybe"}, []string{"want auto, yes or no"}, 0},
		{"broken", []string{"seed", "--file", broken}, []string{
			"nothing was seeded: problem a: the reference solution fails hidden test 1 (WRONG_ANSWER): line 1: expected \"-6\" but your program printed \"-3\"",
			"\nproblem b: the starter code already passes every test"}, 0},
		{"broken, required check", []string{"seed", "-check=yes", "--file", broken}, []string{"problem a: the reference solution fails hidden test 1"}, 0},
		{"good", []string{"seed", "--file", seedFile(t, func(*curriculum.Curriculum) {})}, nil, 1},
		{"broken after good: the store keeps the good one", []string{"seed", "--file", seedFile(t, func(c *curriculum.Curriculum) {
			c.AgeGroups = append(c.AgeGroups, coderunner.AgeGroup{Slug: "11-13", Title: "Older", Position: 2})
			c.Problems[1].SampleTests[0].Output = "3\n"
		})}, []string{"problem b: the reference solution fails sample test 1 (WRONG_ANSWER)"}, 1},
		{"broken, unchecked", []string{"seed", "-check=no", "--file", broken}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tt.args, env, nil, &out)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("seed: %v", err)
			case tt.wantErr == nil:
				checked := !strings.Contains(strings.Join(tt.args, " "), "-check=no")
				if !strings.Contains(out.String(), "seeded 1 age groups, 1 levels, 2 problems") || strings.Contains(out.String(), "checked in the sandbox") != checked {
					t.Errorf("seed printed %q", out.String())
				}
			default:
				for _, want := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("seed = %v; want an error holding %q", err, want)
					}
				}
				var checkErr *content.CheckError
				if strings.Contains(tt.name, "broken") && (!errors.As(err, &checkErr) || coderunner.ErrorCode(err) != coderunner.BadUserInput) {
					t.Errorf("seed = %v; want a BAD_USER_INPUT *content.CheckError", err)
				}
			}
			db, err := sqlite.Open(t.Context(), filepath.Join(dir, "coderunner.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if groups, err := db.AgeGroups(t.Context()); err != nil || len(groups) != tt.groups {
				t.Errorf("%d age groups stored (%v); want %d", len(groups), err, tt.groups)
			}
		})
	}
}

// TestSeedWithoutSandbox: where no Docker engine answers, plain `seed`
// seeds unchecked and says so, and `seed -check=yes` stores nothing.
func TestSeedWithoutSandbox(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	dir := t.TempDir()
	env := envOf(map[string]string{"CODERUNNER_DATA": dir, "CODERUNNER_LOG_LEVEL": "error"})
	file := seedFile(t, func(*curriculum.Curriculum) {})
	if err := run(t.Context(), []string{"seed", "-check=yes", "--file", file}, env, nil, &bytes.Buffer{}); err == nil {
		t.Error("seed -check=yes without a Docker engine succeeded")
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "coderunner.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if groups, err := db.AgeGroups(t.Context()); err != nil || len(groups) != 0 {
		t.Errorf("%d age groups stored (%v) by a seed that failed; want none", len(groups), err)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"seed", "--file", file}, env, nil, &out); err != nil {
		t.Fatalf("seed without a Docker engine: %v", err)
	}
	if !strings.Contains(out.String(), "no sandbox to check the problems in") || !strings.Contains(out.String(), "seeded 1 age groups, 1 levels, 2 problems into") {
		t.Errorf("seed printed %q; want it to say it seeded unchecked", out.String())
	}
}
