package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleClient runs examples/run.mjs and examples/submit.mjs, the
// subscription examples the README gives frontend developers, against
// `serve`: they must print the program's output and its FINISHED event,
// and each test's verdict, as a developer would see them.
func TestExampleClient(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is needed to run the example client: apt-get install nodejs npm")
	}
	dir, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws")); err != nil {
		npm := exec.CommandContext(t.Context(), "npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}

	env := map[string]string{"CODERUNNER_ADDR": freeAddr(t), "CODERUNNER_DATA": t.TempDir(), "CODERUNNER_LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envOf(env), nil, io.Discard) }()
	base := "http://" + env["CODERUNNER_ADDR"]
	waitReady(t, base, done)

	// The developer's own account, made as an operator would make one.
	create := []string{"user", "create", "--name", "Ada", "--password-stdin"}
	if err := run(ctx, create, envOf(env), strings.NewReader("correct horse\n"), io.Discard); err != nil {
		t.Fatal(err)
	}

	hello := "name = input(\"Your name? \")\nprint(\"Hello, world!\")\nprint(\"Hello, \" + name + \"!\")"
	tests := []struct {
		name   string
		script string
		user   string // CODERUNNER_USER
		args   []string
		want   []string
	}{
		{"hello", "run.mjs", "", []string{`print("hi")`}, []string{"QUEUED", "hi\n", "FINISHED COMPLETED exit=0"}},
		{"input typed while it runs", "run.mjs", "", []string{`print("Hello, " + input("name? "))`, "Ada"}, []string{"name? Hello, Ada\n", "FINISHED COMPLETED exit=0"}},
		{"signed in", "run.mjs", "Ada:correct horse", []string{`print("hi")`}, []string{"signed in as Ada (STUDENT), 0 of 500 runs used today", "hi\n", "FINISHED COMPLETED exit=0"}},
		{"submit, wrong", "submit.mjs", "Ada:correct horse", []string{"hello-world", `print("Hello")`},
			[]string{"QUEUED", "test 1 (sample): WRONG_ANSWER", `line 1: expected "Hello, world!" but your program printed "Hello"`, "(hidden): WRONG_ANSWER", "FINISHED WRONG_ANSWER 0/"}},
		{"submit, solved", "submit.mjs", "Ada:correct horse", []string{"hello-world", hello},
			[]string{"test 1 (sample): ACCEPTED", "(hidden): ACCEPTED", "(100%); solved: true, attempts: 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			node := exec.CommandContext(ctx, "node", append([]string{tt.script, base + "/graphql"}, tt.args...)...)
			node.Dir = dir
			node.Env = append(os.Environ(), "CODERUNNER_USER="+tt.user)
			out, err := node.CombinedOutput()
			if err != nil {
				t.Fatalf("node %s: %v\n%s", tt.script, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output %q does not contain %q", out, w)
				}
			}
		})
	}
}
