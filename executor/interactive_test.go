package executor

import (
	"context"
	"strings"
	"testing"
	"time"

	"coderunner"
)

// TestInteractiveInput types into programs while they run, as sendInput
// does: text arrives after the program started, in pieces, and closing the
// input gives the program end-of-file.
func TestInteractiveInput(t *testing.T) {
	for _, mode := range sandboxModes {
		t.Run(string(mode), func(t *testing.T) {
			ex := newTestExecutorIn(t, mode, 2)
			tests := []struct {
				name   string
				code   string
				stdin  string
				typed  []string // sent one by one once the program has printed something
				close  bool
				status coderunner.RunStatus
				stdout string
			}{
				{name: "prompt, then an answer typed later",
					code: "name = input('name? ')\nprint('Hello, ' + name)", typed: []string{"Ada\n"},
					status: coderunner.StatusCompleted, stdout: "name? Hello, Ada\n"},
				{name: "stdin up front, then more typed",
					code: "print(input())\nprint(input('more? '))", stdin: "first\n", typed: []string{"sec", "ond\n"},
					status: coderunner.StatusCompleted, stdout: "first\nmore? second\n"},
				{name: "closing input ends a read to end-of-file",
					code: "import sys\nprint('go', flush=True)\nprint(len(sys.stdin.read()))", typed: []string{"abc", "de"}, close: true,
					status: coderunner.StatusCompleted, stdout: "go\n5\n"},
				{name: "a program that reads nothing is not held up by a megabyte of input",
					code: "print('go', flush=True)\nprint('done')", typed: []string{strings.Repeat("x", 1<<20)},
					status: coderunner.StatusCompleted, stdout: "go\ndone\n"},
				{name: "waiting for input that never comes ends at the time limit",
					code:   "print('go', flush=True)\ninput()",
					status: coderunner.StatusTimeLimitExceeded, stdout: "go\n"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					input := make(chan string)
					printed := make(chan struct{}, 1)
					onOutput := func(coderunner.OutputChunk) {
						select {
						case printed <- struct{}{}:
						default:
						}
					}
					go func() {
						select {
						case <-printed:
						case <-time.After(5 * time.Second):
						}
						for _, text := range tt.typed {
							input <- text
						}
						if tt.close {
							close(input)
						}
					}()
					req := coderunner.RunRequest{Code: tt.code, Stdin: tt.stdin, TimeLimitMs: 1000, WallTimeLimitMs: 3000, Input: input}
					res, err := ex.Run(context.Background(), req, onOutput)
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					if res.Status != tt.status || res.Stdout != tt.stdout {
						t.Errorf("got %s, stdout %q (stderr %q); want %s, %q", res.Status, res.Stdout, res.Stderr, tt.status, tt.stdout)
					}
				})
			}
		})
	}
}
