package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestExecCommand runs `coderunner exec` as a person would, through the
// real binary: one JSON object on stdout, exit 0 whatever the program did,
// non-zero only when the run could not be carried out.
func TestExecCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, code string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	hello := write("hello.py", `print("hi")`)
	echo := write("echo.py", "print(input()[::-1])")
	spin := write("spin.py", "while True: pass")
	crash := write("crash.py", "raise SystemExit(4)")
	stdinFile := write("stdin.txt", "from a file\n")
	tests := []struct {
		name     string
		args     []string
		wantExit int
		status   string
		stdout   string
	}{
		{"hello", []string{hello}, 0, "COMPLETED", "hi\n"},
		{"stdin", []string{"--stdin", "abc", echo}, 0, "COMPLETED", "cba\n"},
		{"stdin file", []string{"--stdin-file", stdinFile, echo}, 0, "COMPLETED", "elif a morf\n"},
		{"time limit", []string{"--time-limit", "500ms", spin}, 0, "TIME_LIMIT_EXCEEDED", ""},
		{"the program fails, the command does not", []string{crash}, 0, "RUNTIME_ERROR", ""},
		{"no such file", []string{filepath.Join(dir, "missing.py")}, 1, "", ""},
		{"memory limit out of range", []string{"--memory-limit", "4", hello}, 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], append([]string{"exec"}, tt.args...)...)
			cmd.Env = append(os.Environ(), "CODERUNNER_TEST_MAIN=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			exit := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				exit = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != tt.wantExit {
				t.Fatalf("exit code %d, want %d; stderr %s", exit, tt.wantExit, stderr.String())
			}
			if tt.wantExit != 0 {
				return
			}
			var res struct {
				Status, Stdout, Stderr  string
				ExitCode                *int
				Truncated               *bool
				WallMs, CPUMs, MemoryKb *int64
			}
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
			}
			if res.Status != tt.status || (tt.stdout != "" && res.Stdout != tt.stdout) {
				t.Errorf("status %s stdout %q, want %s %q", res.Status, res.Stdout, tt.status, tt.stdout)
			}
			if res.ExitCode == nil || res.Truncated == nil || res.WallMs == nil || res.CPUMs == nil || res.MemoryKb == nil {
				t.Errorf("JSON lacks a field: %s", stdout.String())
			}
		})
	}
}
