package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// The executor's tests run against the real engine. Where it cannot be
// reached they fail when CI=true and skip, saying why, otherwise.
var (
	engine    client.APIClient
	engineErr error
)

func TestMain(m *testing.M) {
	engineErr = connectAndBuild()
	if engineErr != nil && os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "FAIL: executor tests need a Docker engine and the sandbox image, and CI=true: %v\n", engineErr)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// connectAndBuild reaches the engine and builds the sandbox image if it is
// missing (minutes on a fresh machine, milliseconds after).
func connectAndBuild() error {
	cli, err := NewClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pingCtx, cancelPing := context.WithTimeout(ctx, 10*time.Second)
	defer cancelPing()
	if _, err := cli.Ping(pingCtx); err != nil {
		return fmt.Errorf("%w (scripts/setup-docker.sh installs and starts one)", err)
	}
	if _, err := EnsureImage(ctx, cli, FromDebootstrap, os.Stderr); err != nil {
		return err
	}
	engine = cli
	return nil
}

// requireEngine stops t when the engine is not there: a failure in CI, a
// skip with the reason elsewhere.
func requireEngine(t testing.TB) {
	t.Helper()
	if engineErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Docker engine unavailable with CI=true: %v", engineErr)
	}
	t.Skipf("Docker engine unavailable (set up with scripts/setup-docker.sh; fails instead under CI=true): %v", engineErr)
}

var poolSeq atomic.Int64

// newTestExecutor starts an executor with a pool of its own, and on cleanup
// closes it and checks that it left nothing behind.
func newTestExecutor(t testing.TB, poolSize int) *Executor {
	t.Helper()
	requireEngine(t)
	return newTestExecutorOn(t, engine, poolSize)
}

// newTestExecutorOn is newTestExecutor talking to the engine through cli.
func newTestExecutorOn(t testing.TB, cli client.APIClient, poolSize int) *Executor {
	t.Helper()
	return newTestExecutorWith(t, cli, Options{PoolSize: poolSize})
}

// sandboxModes are the modes every mode-independent test runs in.
var sandboxModes = []Mode{ModeContainer, ModeJail}

// newTestExecutorIn is newTestExecutor in the given mode. A jail-mode
// executor that fell back to container mode fails the test: jail mode
// must work on the machines the tests run on.
func newTestExecutorIn(t testing.TB, mode Mode, poolSize int) *Executor {
	t.Helper()
	requireEngine(t)
	ex := newTestExecutorWith(t, engine, Options{PoolSize: poolSize, Mode: mode})
	if ex.Mode() != mode {
		t.Fatalf("executor in %s mode, want %s (see the log for why)", ex.Mode(), mode)
	}
	return ex
}

// newTestExecutorWith starts an executor with opts and a pool name of its
// own, and on cleanup closes it and checks that it left nothing behind.
func newTestExecutorWith(t testing.TB, cli client.APIClient, opts Options) *Executor {
	t.Helper()
	requireEngine(t)
	name := fmt.Sprintf("test-%d-%d", os.Getpid(), poolSeq.Add(1))
	opts.PoolName = name
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ex, err := New(context.Background(), cli, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := ex.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertNothingLeft(t, name)
	})
	return ex
}

// assertNothingLeft checks that no container of pool is left, and that no
// process or container directory outlives its container (for any container:
// the invariant holds on a test machine whoever made the container).
func assertNothingLeft(t testing.TB, pool string) {
	t.Helper()
	ctx := context.Background()
	left, err := engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelPool+"="+pool))})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	for _, c := range left {
		t.Errorf("container %s (%s) of pool %s left behind", shortID(c.ID), c.State, pool)
	}
	if !engineIsLocal() {
		return
	}
	// Other test packages make and remove containers at the same time, and
	// the engine lists a container as gone a moment before its processes
	// and directory are: only what outlives its container for seconds is
	// left behind.
	var leftovers []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		leftovers = outlivers(t)
		if len(leftovers) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, l := range leftovers {
		t.Error(l)
	}
}

// outlivers lists the processes and container directories on this machine
// whose container no longer exists.
func outlivers(t testing.TB) []string {
	t.Helper()
	all, err := engine.ContainerList(context.Background(), container.ListOptions{All: true})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	exists := map[string]bool{}
	for _, c := range all {
		exists[c.ID] = true
	}
	var out []string
	for pid, id := range containerProcesses(t) {
		if !exists[id] {
			out = append(out, fmt.Sprintf("process %d outlived its container %s", pid, shortID(id)))
		}
	}
	dirs, _ := filepath.Glob("/var/lib/docker/containers/*")
	for _, dir := range dirs {
		if id := filepath.Base(dir); !exists[id] {
			out = append(out, fmt.Sprintf("directory %s outlived its container", dir))
		}
	}
	return out
}

// engineIsLocal reports whether the engine runs on this machine, whose
// /proc then shows the containers' processes.
func engineIsLocal() bool {
	host := os.Getenv("DOCKER_HOST")
	return host == "" || strings.HasPrefix(host, "unix://")
}

var dockerCgroup = regexp.MustCompile(`docker[-/]([0-9a-f]{64})`)

// containerProcesses maps each host process in a container's cgroup to the
// container's id.
func containerProcesses(t testing.TB) map[int]string {
	t.Helper()
	found := map[int]string{}
	paths, err := filepath.Glob("/proc/[0-9]*/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended meanwhile
		}
		if m := dockerCgroup.FindSubmatch(data); m != nil {
			var pid int
			fmt.Sscanf(filepath.Base(filepath.Dir(path)), "%d", &pid)
			found[pid] = string(m[1])
		}
	}
	return found
}
