package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAppImage builds the app image with scripts/build-app-image.sh, as a
// release would, and checks what deploy/app.Dockerfile promises: the binary
// runs in it (so it is static: the image has no libc), as a user who is not
// root, who can write the SQLite store in /data; and there is no shell, nor
// any other program, to exec.
func TestAppImage(t *testing.T) {
	if err := dockerAnswers(t.Context()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker engine unavailable with CI=true: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	tag := fmt.Sprintf("coderunner-test:%d-%d", os.Getpid(), time.Now().UnixNano())
	build := exec.CommandContext(t.Context(), "bash", "../../scripts/build-app-image.sh", tag)
	var stderr bytes.Buffer
	build.Stderr = &stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("build-app-image.sh: %v\n%s", err, stderr.String())
	}
	t.Cleanup(func() { docker(t, "image", "rm", tag) })
	if got := strings.TrimSpace(string(out)); got != tag {
		t.Errorf("build-app-image.sh printed %q, want the tag %q", got, tag)
	}

	if user, _, _ := docker(t, "image", "inspect", "--format", "{{.Config.User}}", tag); strings.TrimSpace(user) != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", user)
	}
	tests := []struct {
		name     string
		args     []string // docker run --rm ARGS…
		wantExit int
		want     string // in stdout and stderr
	}{
		{"help", []string{tag, "help"}, 0, "usage: coderunner"},
		{"the store in /data, written as the image's user", []string{tag, "seed", "--check=no"}, 0, "into sqlite:/data/coderunner.db"},
		{"no shell", []string{"--entrypoint", "/bin/sh", tag, "-c", "true"}, 127, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, exit := docker(t, append([]string{"run", "--rm"}, tt.args...)...)
			if exit != tt.wantExit || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("docker run %s: exit %d, want %d with %q in\n%s%s", strings.Join(tt.args, " "), exit, tt.wantExit, tt.want, stdout, stderr)
			}
		})
	}

	// Nothing else to run either: the only program in the image is
	// coderunner (the engine adds empty files, such as /etc/hosts, to
	// every container).
	id, _, _ := docker(t, "create", tag)
	id = strings.TrimSpace(id)
	defer docker(t, "rm", id)
	export, _, _ := docker(t, "export", id)
	tr := tar.NewReader(strings.NewReader(export))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("read the exported file system: %v", err)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 && hdr.Mode&0o111 != 0 && hdr.Name != "coderunner" {
			t.Errorf("executable %s (%d bytes) in the image", hdr.Name, hdr.Size)
		}
	}
}

// docker runs the docker command, failing t if it cannot run at all, and
// returns its output and exit code.
func docker(t *testing.T, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}
