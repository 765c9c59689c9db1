package executor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"coderunner"
)

// run runs code with short limits, so that the suite stays quick.
func run(t *testing.T, ex *Executor, req coderunner.RunRequest) coderunner.RunResult {
	t.Helper()
	if req.TimeLimitMs == 0 {
		req.TimeLimitMs = 1000
	}
	res, err := ex.Run(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Run: %v (result %+v)", err, res)
	}
	return res
}

func TestRunOutcomes(t *testing.T) {
	for _, mode := range sandboxModes {
		t.Run(string(mode), func(t *testing.T) {
			ex := newTestExecutorIn(t, mode, 2)
			tests := []struct {
				name      string
				req       coderunner.RunRequest
				status    coderunner.RunStatus
				exitCode  int
				signal    int
				stdout    string
				stderrHas string
				minMemKB  int64
			}{
				{name: "hello", req: coderunner.RunRequest{Code: `print("hi")`},
					status: coderunner.StatusCompleted, stdout: "hi\n"},
				{name: "stdin given up front", req: coderunner.RunRequest{Code: "import sys\nfor line in sys.stdin: print(line.strip().upper())", Stdin: "ab\ncd\n"},
					status: coderunner.StatusCompleted, stdout: "AB\nCD\n"},
				{name: "input prompts", req: coderunner.RunRequest{Code: "n = input('name? ')\nprint('hello', n)", Stdin: "Ada"},
					status: coderunner.StatusCompleted, stdout: "name? hello Ada\n"},
				{name: "exit code", req: coderunner.RunRequest{Code: "import sys\nprint('bye')\nsys.exit(3)"},
					status: coderunner.StatusRuntimeError, exitCode: 3, stdout: "bye\n"},
				{name: "exception", req: coderunner.RunRequest{Code: "print(1)\n1/0"},
					status: coderunner.StatusRuntimeError, exitCode: 1, stdout: "1\n", stderrHas: "ZeroDivisionError"},
				{name: "syntax error", req: coderunner.RunRequest{Code: "print('a'"},
					status: coderunner.StatusRuntimeError, exitCode: 1, stderrHas: "SyntaxError"},
				{name: "segfault", req: coderunner.RunRequest{Code: "import ctypes\nctypes.string_at(0)"},
					status: coderunner.StatusRuntimeError, exitCode: -1, signal: int(syscall.SIGSEGV)},
				{name: "memory within a raised limit", req: coderunner.RunRequest{Code: "x = b'x' * (80 << 20)\nprint(len(x) >> 20)", MemoryMB: 160},
					status: coderunner.StatusCompleted, stdout: "80\n", minMemKB: 80 << 10},
				{name: "same program over the default limit", req: coderunner.RunRequest{Code: "x = b'x' * (80 << 20)\nprint(len(x) >> 20)"},
					status: coderunner.StatusMemoryLimitExceeded, exitCode: -1, signal: int(syscall.SIGKILL)},
				{name: "output exactly at the limit", req: coderunner.RunRequest{Code: "import sys\nsys.stdout.write('x' * 1000)", OutputLimitBytes: 1000},
					status: coderunner.StatusCompleted, stdout: strings.Repeat("x", 1000)},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := run(t, ex, tt.req)
					if res.Status != tt.status || res.ExitCode != tt.exitCode || res.Signal != tt.signal {
						t.Fatalf("got %s exit %d signal %d, want %s exit %d signal %d\nstdout %q\nstderr %q",
							res.Status, res.ExitCode, res.Signal, tt.status, tt.exitCode, tt.signal, res.Stdout, res.Stderr)
					}
					if tt.stdout != "" && res.Stdout != tt.stdout {
						t.Errorf("stdout %q, want %q", res.Stdout, tt.stdout)
					}
					if !strings.Contains(res.Stderr, tt.stderrHas) {
						t.Errorf("stderr %q lacks %q", res.Stderr, tt.stderrHas)
					}
					if res.CPUMs <= 0 || res.MemoryKB < max(tt.minMemKB, 1000) || res.WallMs <= 0 {
						t.Errorf("figures not measured: wall %d ms, cpu %d ms, memory %d KB", res.WallMs, res.CPUMs, res.MemoryKB)
					}
				})
			}
		})
	}
}

// TestSilentPrompts runs each program with and without SilentPrompts: with
// it, input() writes no prompt; everything else (stderr, tracebacks
// included, exit code, what the program sees of itself) is the same.
func TestSilentPrompts(t *testing.T) {
	for _, mode := range sandboxModes {
		t.Run(string(mode), func(t *testing.T) {
			ex := newTestExecutorIn(t, mode, 2)
			tests := []struct {
				name      string
				code      string
				stdin     string
				exitCode  int
				stdout    string   // with silent prompts
				prompted  string   // without; "": the same as stdout
				stderrHas []string // in both runs, whose stderr is the same
			}{
				{name: "prompt silenced", code: "name = input(\"Your name? \")\nprint(\"Hi \" + name)", stdin: "Ada\n",
					stdout: "Hi Ada\n", prompted: "Your name? Hi Ada\n"},
				{name: "line without its newline, input without a prompt", code: "print(repr(input('a? ')), repr(input()))", stdin: "x \ny",
					stdout: "'x ' 'y'\n", prompted: "a? 'x ' 'y'\n"},
				{name: "traceback: the program's line, no frame of the wrapper", code: "n = input('n? ')\nraise ValueError('bad ' + n)", stdin: "7\n",
					exitCode: 1, prompted: "n? ",
					stderrHas: []string{"Traceback (most recent call last):\n  File \"/tmp/main.py\", line 2, in <module>\n", "ValueError: bad 7\n"}},
				{name: "end of input", code: "a = input('a? ')\nb = input('b? ')", stdin: "x\n",
					exitCode: 1, prompted: "a? b? ",
					stderrHas: []string{"main.py\", line 2, in <module>\n    b = input('b? ')\n", "EOFError: EOF when reading a line\n"}},
				{name: "end of input caught, then another error", code: "def ask():\n    return input('? ')\ntry:\n    ask()\nexcept EOFError:\n    raise KeyError('none')",
					exitCode: 1, prompted: "? ",
					stderrHas: []string{"main.py\", line 2, in ask\n", "EOFError: EOF when reading a line\n\nDuring handling", "main.py\", line 6, in <module>\n"}},
				{name: "syntax error", code: "print(input('? ')", exitCode: 1,
					stderrHas: []string{"main.py\", line 1\n", "SyntaxError"}},
				{name: "sys.exit code", code: "import sys\ninput('? ')\nsys.exit(3)", stdin: "x\n", exitCode: 3, prompted: "? "},
				{name: "sys.exit message", code: "input('? ')\nraise SystemExit('bye')", stdin: "x\n", exitCode: 1, prompted: "? ",
					stderrHas: []string{"bye\n"}},
				{name: "what the program sees of itself", code: "import sys\nprint(__name__, __file__, sys.argv, sys.orig_argv[1:], sorted(globals()))",
					stdout: "__main__ /tmp/main.py ['main.py'] ['-I', '-u', 'main.py'] " +
						"['__annotations__', '__builtins__', '__cached__', '__doc__', '__file__', '__loader__', '__name__', '__package__', '__spec__', 'sys']\n"},
				{name: "the program replaces input itself", code: "import builtins\nbuiltins.input = lambda prompt='': 'own'\nprint(input('? '))",
					stdout: "own\n"},
				{name: "the program rebinds builtin names", code: "id = type = len = 0\nprint(input('? '))\ninput(1, 2)", stdin: "x\n",
					exitCode: 1, stdout: "x\n", prompted: "? x\n",
					stderrHas: []string{"main.py\", line 3, in <module>\n", "TypeError: input expected at most 1 argument, got 2\n"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					status := coderunner.StatusCompleted
					if tt.exitCode != 0 {
						status = coderunner.StatusRuntimeError
					}
					prompted := tt.prompted
					if prompted == "" {
						prompted = tt.stdout
					}
					var stderr [2]string
					for i, silent := range []bool{true, false} {
						res := run(t, ex, coderunner.RunRequest{Code: tt.code, Stdin: tt.stdin, SilentPrompts: silent})
						want := map[bool]string{true: tt.stdout, false: prompted}[silent]
						if res.Status != status || res.ExitCode != tt.exitCode || res.Stdout != want {
							t.Errorf("silent %v: got %s exit %d stdout %q, want %s exit %d stdout %q\nstderr %q",
								silent, res.Status, res.ExitCode, res.Stdout, status, tt.exitCode, want, res.Stderr)
						}
						stderr[i] = res.Stderr
					}
					if stderr[0] != stderr[1] {
						t.Errorf("stderr with silent prompts\n%s\nwithout\n%s", stderr[0], stderr[1])
					}
					for _, has := range tt.stderrHas {
						if !strings.Contains(stderr[0], has) {
							t.Errorf("stderr %q lacks %q", stderr[0], has)
						}
					}
					if tt.stderrHas == nil && stderr[0] != "" {
						t.Errorf("stderr %q, want none", stderr[0])
					}
					if strings.Contains(stderr[0], "<string>") || strings.Contains(stderr[0], "_silent_prompts") {
						t.Errorf("stderr shows the wrapper: %q", stderr[0])
					}
				})
			}
		})
	}
}

func TestStreamingDeliversOutputInOrderAsProduced(t *testing.T) {
	ex := newTestExecutor(t, 1)
	code := `import sys, time
print("one")
print("two", file=sys.stderr)
time.sleep(0.5)
print("three")`
	type arrival struct {
		chunk coderunner.OutputChunk
		at    time.Time
	}
	var arrivals []arrival
	began := time.Now()
	res, err := ex.Run(context.Background(), coderunner.RunRequest{Code: code}, func(c coderunner.OutputChunk) {
		arrivals = append(arrivals, arrival{coderunner.OutputChunk{Stream: c.Stream, Data: append([]byte(nil), c.Data...)}, time.Now()})
	})
	ended := time.Now()
	if err != nil || res.Status != coderunner.StatusCompleted {
		t.Fatalf("Run: %v, %+v", err, res)
	}
	// A print may reach the pipe in more than one write (text, then
	// newline); join the neighbouring chunks of one stream.
	var got []string
	for i, a := range arrivals {
		if i > 0 && arrivals[i-1].chunk.Stream == a.chunk.Stream {
			got[len(got)-1] += string(a.chunk.Data)
			continue
		}
		got = append(got, fmt.Sprintf("%s:%s", a.chunk.Stream, a.chunk.Data))
	}
	want := []string{"stdout:one\n", "stderr:two\n", "stdout:three\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("chunks %q, want %q", got, want)
	}
	if first := arrivals[0].at; ended.Sub(first) < 400*time.Millisecond {
		t.Errorf("first chunk came %s after the start and %s before the end: not streamed", first.Sub(began), ended.Sub(first))
	}
}

func TestCancelStopsTheRun(t *testing.T) {
	ex := newTestExecutor(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	began := time.Now()
	res, err := ex.Run(ctx, coderunner.RunRequest{Code: "import time\nprint('started')\ntime.sleep(60)"}, nil)
	if !errors.Is(err, context.Canceled) || res.Status != coderunner.StatusCancelled {
		t.Fatalf("got %v, %s; want context.Canceled, CANCELLED", err, res.Status)
	}
	if res.Stdout != "started\n" {
		t.Errorf("partial stdout %q, want %q", res.Stdout, "started\n")
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("cancel took %s", took)
	}
}

// unkillableEngine is the engine as it is when in trouble: kills fail (or
// would hang), and a container may be paused, which removal undoes first.
type unkillableEngine struct{ client.APIClient }

func (unkillableEngine) ContainerKill(context.Context, string, string) error {
	return errors.New("kill refused by the test")
}

func (e unkillableEngine) ContainerRemove(ctx context.Context, id string, opts container.RemoveOptions) error {
	e.APIClient.ContainerUnpause(ctx, id)
	return e.APIClient.ContainerRemove(ctx, id, opts)
}

// TestRunEndsWhenTheKillFails: a launcher that stops answering (its
// container frozen) and a kill that fails must not hold the run forever.
func TestRunEndsWhenTheKillFails(t *testing.T) {
	requireEngine(t)
	ex := newTestExecutorOn(t, unkillableEngine{engine}, 1)
	for ex.WarmContainers() < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	// The one warm container is the one the run takes.
	list, err := engine.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelPool+"="+ex.opts.PoolName))})
	if err != nil || len(list) != 1 {
		t.Fatalf("want the one warm container: %v, %d", err, len(list))
	}
	freeze := sync.OnceFunc(func() {
		if err := engine.ContainerPause(context.Background(), list[0].ID); err != nil {
			t.Errorf("pause: %v", err)
		}
	})
	began := time.Now()
	res, err := ex.Run(context.Background(), coderunner.RunRequest{
		Code: "import time\nprint('go', flush=True)\ntime.sleep(60)", TimeLimitMs: 500, WallTimeLimitMs: 1000,
	}, func(coderunner.OutputChunk) { freeze() })
	took := time.Since(began)
	if res.Status != coderunner.StatusInternalError || err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("got %s, %v; want INTERNAL_ERROR: the sandbox did not stop", res.Status, err)
	}
	if limit := time.Second + wallGrace + killGrace + 10*time.Second; took > limit {
		t.Errorf("the run took %s, want it over within %s", took, limit)
	}
}

func TestBadRequestIsRejectedBeforeRunning(t *testing.T) {
	ex := newTestExecutor(t, 1)
	_, err := ex.Run(context.Background(), coderunner.RunRequest{Code: "print(1)", MemoryMB: 4096}, nil)
	if coderunner.ErrorCode(err) != coderunner.BadUserInput {
		t.Fatalf("got %v, want BAD_USER_INPUT", err)
	}
}

// startPoolContainer creates and starts a sandbox container of pool, as
// that pool's executor would, and returns its id; owner, if not empty,
// replaces this process as the executor's process in its labels.
func startPoolContainer(t *testing.T, pool, owner string) string {
	t.Helper()
	ctx := context.Background()
	other := &Executor{cli: engine, opts: Options{Image: ImageRef(), PoolName: pool, MemoryMB: 64}}
	cfg, host := other.sandboxConfig(64)
	if owner != "" {
		cfg.Labels[labelOwner] = owner
	}
	created, err := engine.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		engine.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
		assertNothingLeft(t, pool)
	})
	if err := engine.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return created.ID
}

func TestLeakedContainersAreRemovedAtStartup(t *testing.T) {
	requireEngine(t)
	ctx := context.Background()
	// A predecessor that crashed: its pool's container still runs, waiting.
	pool := fmt.Sprintf("test-crashed-%d", time.Now().UnixNano())
	id := startPoolContainer(t, pool, "")
	ex, err := New(ctx, engine, Options{PoolSize: 1, PoolName: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if _, err := engine.ContainerInspect(ctx, id); !isNotFound(err) {
		t.Errorf("leaked container %s still there after New (inspect: %v)", shortID(id), err)
	}
}

// TestStartupOnOtherPoolsJustStopped: another worker's container that just
// stopped (its launcher OOM-killed, say) is that worker's to inspect, and a
// new executor's clean-up leaves it alone — unless that worker was a
// process on this host that has exited (killed, crashed): then its
// containers are removed at once.
func TestStartupOnOtherPoolsJustStopped(t *testing.T) {
	requireEngine(t)
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		owner   string
		removed bool
	}{
		{"its worker runs", "", false},
		{"its worker exited", ownerLabel(exited.Process.Pid), true},
		{"its worker ran on another host", "another-host/" + strings.SplitN(ownerLabel(exited.Process.Pid), "/", 2)[1], false},
		{"its worker ran in another PID namespace", strings.Replace(ownerLabel(exited.Process.Pid), "pid:[", "pid:[9", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			id := startPoolContainer(t, fmt.Sprintf("test-other-%d", time.Now().UnixNano()), tt.owner)
			if err := engine.ContainerKill(ctx, id, "KILL"); err != nil {
				t.Fatal(err)
			}
			waitC, errC := engine.ContainerWait(ctx, id, container.WaitConditionNotRunning)
			select {
			case <-waitC:
			case err := <-errC:
				t.Fatal(err)
			}
			newTestExecutor(t, 1)
			if _, err := engine.ContainerInspect(ctx, id); isNotFound(err) != tt.removed {
				t.Errorf("after start-up, inspecting the container: %v; want it removed: %v", err, tt.removed)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	req := coderunner.RunRequest{TimeLimitMs: 1000}
	ok := launcherStatus{reason: reasonExit, oomKills: 0}
	engineSaysOOM := func() bool { return true }
	engineSaysNo := func() bool { return false }
	tests := []struct {
		name      string
		st        launcherStatus
		engineOOM func() bool
		want      coderunner.RunStatus
	}{
		{"exit 0", ok, engineSaysNo, coderunner.StatusCompleted},
		{"exit 1", launcherStatus{exitCode: 1, reason: reasonExit}, engineSaysNo, coderunner.StatusRuntimeError},
		{"signal", launcherStatus{exitCode: -1, signal: 11, reason: reasonExit}, engineSaysNo, coderunner.StatusRuntimeError},
		{"cgroup counted an OOM kill", launcherStatus{exitCode: 0, reason: reasonExit, oomKills: 1}, engineSaysNo, coderunner.StatusMemoryLimitExceeded},
		{"no counter, engine saw OOM", launcherStatus{exitCode: -1, signal: 9, reason: reasonExit, oomKills: -1}, engineSaysOOM, coderunner.StatusMemoryLimitExceeded},
		{"no counter, plain SIGKILL", launcherStatus{exitCode: -1, signal: 9, reason: reasonExit, oomKills: -1}, engineSaysNo, coderunner.StatusRuntimeError},
		{"SIGXCPU", launcherStatus{exitCode: -1, signal: 24, reason: reasonExit}, engineSaysNo, coderunner.StatusTimeLimitExceeded},
		{"CPU over the limit though it exited", launcherStatus{cpuMs: 1001, reason: reasonExit}, engineSaysNo, coderunner.StatusTimeLimitExceeded},
		{"wall", launcherStatus{exitCode: -1, signal: 9, reason: reasonWall}, engineSaysNo, coderunner.StatusTimeLimitExceeded},
		{"CPU of all processes together", launcherStatus{exitCode: -1, signal: 9, reason: reasonCPU, cpuMs: 1050, oomKills: -1}, engineSaysNo, coderunner.StatusTimeLimitExceeded},
		{"output", launcherStatus{exitCode: -1, signal: 9, reason: reasonOutput}, engineSaysNo, coderunner.StatusOutputLimitExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.st, req, tt.engineOOM); got != tt.want {
				t.Errorf("classify(%+v) = %s, want %s", tt.st, got, tt.want)
			}
		})
	}
}

func TestParseStatusRejectsGarbage(t *testing.T) {
	for _, payload := range []string{"", "0 0 exit 1 2 3 4", "0 0 bogus 1 2 3 4 0", "x 0 exit 1 2 3 4 0", "0 0 exit 1 2 3 4 2"} {
		if _, err := parseStatus([]byte(payload)); err == nil {
			t.Errorf("parseStatus(%q) accepted it", payload)
		}
	}
	st, err := parseStatus([]byte("-1 9 wall 10 3000 9000 0 1"))
	if err != nil || st != (launcherStatus{exitCode: -1, signal: 9, reason: reasonWall, cpuMs: 10, wallMs: 3000, maxRSSKB: 9000, dirty: true}) {
		t.Errorf("parseStatus: %+v, %v", st, err)
	}
}

// TestConcurrentRunsWithBombs runs 20 programs at once, a fork bomb and a
// memory bomb among them, in each mode: every honest run must still
// complete correctly.
func TestConcurrentRunsWithBombs(t *testing.T) {
	for _, mode := range sandboxModes {
		t.Run(string(mode), func(t *testing.T) { concurrentRunsWithBombs(t, newTestExecutorIn(t, mode, 4)) })
	}
}

func concurrentRunsWithBombs(t *testing.T, ex *Executor) {
	const runs = 20
	type outcome struct {
		res coderunner.RunResult
		err error
	}
	results := make([]outcome, runs)
	var wg sync.WaitGroup
	for i := range runs {
		req := coderunner.RunRequest{
			Code:        "import sys\nn = int(sys.stdin.read())\nprint(n, sum(range(n)))",
			Stdin:       fmt.Sprint(1000 * i),
			TimeLimitMs: 2000,
		}
		switch i {
		case 5:
			req = coderunner.RunRequest{Code: forkBomb, TimeLimitMs: 1000}
		case 12:
			req = coderunner.RunRequest{Code: memoryBomb, TimeLimitMs: 1000}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := ex.Run(context.Background(), req, nil)
			results[i] = outcome{res, err}
		}()
	}
	wg.Wait()
	for i, r := range results {
		want := coderunner.StatusCompleted
		switch i {
		case 5:
			// Or the memory limit, as in the adversarial suite.
			want = coderunner.StatusTimeLimitExceeded
			if r.res.Status == coderunner.StatusMemoryLimitExceeded {
				want = r.res.Status
			}
		case 12:
			want = coderunner.StatusMemoryLimitExceeded
		}
		if r.err != nil || r.res.Status != want {
			t.Errorf("run %d: %v, %s (stderr %q), want %s", i, r.err, r.res.Status, r.res.Stderr, want)
			continue
		}
		if want == coderunner.StatusCompleted {
			n := 1000 * i
			if wantOut := fmt.Sprintf("%d %d\n", n, n*(n-1)/2); r.res.Stdout != wantOut {
				t.Errorf("run %d: stdout %q, want %q", i, r.res.Stdout, wantOut)
			}
		}
	}
}

// TestContainerKilledWhileWaitingIsSkipped: a pool container that dies
// before its run (killed, or lost with an engine restart) is not handed out.
func TestContainerKilledWhileWaitingIsSkipped(t *testing.T) {
	ex := newTestExecutor(t, 1)
	ctx := context.Background()
	for ex.WarmContainers() < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	list, err := engine.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelPool+"="+ex.opts.PoolName))})
	if err != nil || len(list) != 1 {
		t.Fatalf("want the one warm container: %v, %d", err, len(list))
	}
	if err := engine.ContainerKill(ctx, list[0].ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	waitC, errC := engine.ContainerWait(ctx, list[0].ID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatal(err)
	}
	res := run(t, ex, coderunner.RunRequest{Code: `print("hi")`})
	if res.Status != coderunner.StatusCompleted || res.Stdout != "hi\n" {
		t.Fatalf("got %+v", res)
	}
}
