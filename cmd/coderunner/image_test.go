package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"coderunner/executor"
)

// testRegistry is the registry scripts/setup-registry.sh starts; the
// executor's TestPinnedImageRoundTrip goes through it too.
const testRegistry = "localhost:5000"

// requireRegistry stops t without a Docker engine and a registry on
// testRegistry: a failure in CI, a skip elsewhere.
func requireRegistry(t *testing.T) {
	t.Helper()
	err := dockerAnswers(t.Context())
	if err == nil {
		c := http.Client{Timeout: 5 * time.Second}
		var resp *http.Response
		if resp, err = c.Get("http://" + testRegistry + "/v2/"); err == nil {
			resp.Body.Close()
		}
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Docker engine or registry on %s unavailable with CI=true: %v", testRegistry, err)
	}
	t.Skipf("no Docker engine or no registry on %s (scripts/setup-registry.sh starts one): %v", testRegistry, err)
}

// TestServeWithPinnedImage: `image push` prints the sandbox image pinned
// by digest; `serve` given it as CODERUNNER_SANDBOX_IMAGE, on an engine
// with no reference to it, pulls it and runs programs in containers of
// exactly that image. Pinned to an image no registry has, it refuses to
// start, rather than build one of its own.
func TestServeWithPinnedImage(t *testing.T) {
	requireRegistry(t)
	ctx := t.Context()
	cli, err := executor.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	repo := fmt.Sprintf("%s/coderunner-sandbox-cmd-test-%d-%d", testRegistry, os.Getpid(), time.Now().UnixNano())
	var out bytes.Buffer
	if err := run(ctx, []string{"image", "push", repo + ":t"}, envOf(nil), nil, &out); err != nil {
		t.Fatalf("image push: %v", err)
	}
	pinned := strings.TrimSpace(out.String())
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(repo) + `@sha256:[0-9a-f]{64}$`).MatchString(pinned) {
		t.Fatalf("image push printed %q, want %s@sha256:<digest>", out.String(), repo)
	}
	// The engine forgets the pushed image under repo (the tag and the
	// digest reference; the content tag keeps the image itself).
	untag := func() {
		for _, ref := range []string{repo + ":t", pinned} {
			if _, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("remove %s: %v", ref, err)
			}
		}
	}
	untag()
	t.Cleanup(untag)
	if _, err := cli.ImageInspect(ctx, pinned); !cerrdefs.IsNotFound(err) {
		t.Fatalf("the engine still has %s (%v): serve would not pull it", pinned, err)
	}

	env := map[string]string{
		"CODERUNNER_ADDR": freeAddr(t), "CODERUNNER_DATA": t.TempDir(), "CODERUNNER_LOG_LEVEL": "warn",
		"CODERUNNER_WORKERS": "1", "CODERUNNER_SANDBOX_IMAGE": pinned,
	}
	stop := startServe(t, env)
	base := "http://" + env["CODERUNNER_ADDR"]
	id := postData(t, base, `mutation { run(input: {language: "python", code: "print(\"hi\")"}) { id } }`, "run", "id")
	waitStatus(t, base, id, "COMPLETED")
	if out := postData(t, base, `{ run(id: "`+id+`") { stdout } }`, "run", "stdout"); out != "hi\n" {
		t.Errorf("stdout %q, want %q", out, "hi\n")
	}
	// The warm pool refills after the run: its containers are of the
	// pinned image (the executor tests' pushes have the same digest under
	// other names, so the name tells ours apart).
	hex := pinned[strings.LastIndexByte(pinned, ':')+1:]
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "coderunner.sandbox="+hex))})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range list {
			if c.Image == pinned {
				n++
			}
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sandbox container of %s among %d of that digest", pinned, len(list))
		}
	}
	stop()

	// Pinned to an image no registry has, neither `serve` nor `exec`
	// builds one: they fail, naming the variable.
	nowhere := testRegistry + "/coderunner-sandbox-nowhere@sha256:" + strings.Repeat("0", 64)
	env["CODERUNNER_SANDBOX_IMAGE"] = nowhere
	env["CODERUNNER_DATA"] = t.TempDir()
	err = run(ctx, []string{"serve"}, envOf(env), nil, &out)
	if err == nil || !strings.Contains(err.Error(), "CODERUNNER_SANDBOX_IMAGE") || !strings.Contains(err.Error(), nowhere) {
		t.Errorf("serve pinned to %s: %v; want an error naming the variable and the image", nowhere, err)
	}
	// `exec` runs in the image pinned, as a worker would.
	program := filepath.Join(t.TempDir(), "hi.py")
	if err := os.WriteFile(program, []byte(`print("hi")`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{pinned, nowhere} {
		cmd := exec.CommandContext(ctx, os.Args[0], "exec", program)
		cmd.Env = append(os.Environ(), "CODERUNNER_TEST_MAIN=1", "CODERUNNER_SANDBOX_IMAGE="+image)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if image == pinned && (err != nil || !strings.Contains(string(stdout), `"status":"COMPLETED"`)) {
			t.Errorf("exec in %s: %v, %s%s", image, err, stdout, stderr.String())
		}
		if image == nowhere && (err == nil || !strings.Contains(stderr.String(), "CODERUNNER_SANDBOX_IMAGE")) {
			t.Errorf("exec in %s: %v, %s%s; want a failure naming the variable", image, err, stdout, stderr.String())
		}
	}
}
