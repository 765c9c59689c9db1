package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"

	"coderunner"
)

// containerLog records the container each of ex's runs got.
func containerLog(ex *Executor) *[]string {
	var ids []string
	ex.tookContainer = func(id string) { ids = append(ids, id) }
	return &ids
}

// observeInheritance prints everything a run could find of an earlier run
// in the same container: files, SysV IPC objects, an abstract socket, other
// processes, its rlimits and oom_score_adj.
const observeInheritance = `import ctypes, errno, os, resource, socket
libc = ctypes.CDLL(None, use_errno=True)
out = [sorted(os.listdir("/tmp")), os.path.exists("/dev/shm") and sorted(os.listdir("/dev/shm"))]
for name, args in (("shmget", (0x5EED, 0, 0)), ("msgget", (0x5EED, 0)), ("semget", (0x5EED, 0, 0))):
    ctypes.set_errno(0)
    out.append((name, getattr(libc, name)(*args), errno.errorcode.get(ctypes.get_errno())))
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0coderunner-leak")
    out.append("abstract socket CONNECTED")
except OSError as e:
    out.append(("abstract socket", errno.errorcode[e.errno]))
out.append(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
out.append([resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_STACK, resource.RLIMIT_CORE, resource.RLIMIT_NPROC, resource.RLIMIT_AS)])
out.append(open("/proc/self/oom_score_adj").read().strip())
print(out)`

// TestJailLeavesNothingForTheNextRun runs, in one jail-mode container,
// programs that try to leave something for the next run, each followed by
// a run that looks for it: the next run in the same container sees what a
// run in a fresh container sees.
func TestJailLeavesNothingForTheNextRun(t *testing.T) {
	ex := newTestExecutorIn(t, ModeJail, 1)
	ids := containerLog(ex)
	observe := func(t *testing.T) string {
		t.Helper()
		res := run(t, ex, coderunner.RunRequest{Code: observeInheritance})
		if res.Status != coderunner.StatusCompleted {
			t.Fatalf("observer: %s\n%s", res.Status, res.Stderr)
		}
		return res.Stdout
	}
	fresh := observe(t)
	t.Logf("what a run finds: %s", fresh)
	tests := []struct {
		name  string
		leave string
		// left is what the leaving run prints once it has left its mark
		left string
	}{
		{name: "files in /tmp and /dev/shm", leave: `import os
with open("/tmp/leak", "w") as f:
    f.write("x" * 1000)
os.mkdir("/tmp/dir")
try:
    open("/dev/shm/leak", "w").close()
    print("shm file")
except OSError:
    pass
print("left")`, left: "left\n"},
		{name: "SysV IPC objects", leave: `import ctypes
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000
ids = [libc.shmget(0x5EED, 4096, IPC_CREAT | 0o666), libc.msgget(0x5EED, IPC_CREAT | 0o666), libc.semget(0x5EED, 1, IPC_CREAT | 0o666)]
print("left" if min(ids) >= 0 else ids)`, left: "left\n"},
		{name: "double-forked setsid process holding an abstract socket", leave: `import os, socket, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        s = socket.socket(socket.AF_UNIX)
        s.bind("\0coderunner-leak")
        s.listen()
        os.write(w, b"up")
        while True:
            time.sleep(1)
    os._exit(0)
os.read(r, 2)
print("left")`, left: "left\n"},
		{name: "changed rlimits and oom_score_adj", leave: `import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, 1 << 20))
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("-1000")  # the launcher's choice for the program is 1000
except OSError:
    pass
print("left")`, left: "left\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The leaving run also says which PID namespace was its jail's.
			res := run(t, ex, coderunner.RunRequest{Code: tt.leave + "\nimport os as _os\nprint(_os.readlink('/proc/self/ns/pid'))"})
			out, jailNS, _ := strings.Cut(strings.TrimSuffix(res.Stdout, "\n")+"\n", "pid:[")
			if res.Status != coderunner.StatusCompleted || !strings.HasSuffix(out, tt.left) {
				t.Fatalf("leaving run: %s, stdout %q, stderr %q", res.Status, res.Stdout, res.Stderr)
			}
			jailNS = "pid:[" + strings.TrimSuffix(jailNS, "\n")
			leftIn := (*ids)[len(*ids)-1]
			if engineIsLocal() {
				checkOnlyLauncherAndNextJail(t, leftIn, jailNS)
			}
			if got := observe(t); got != fresh {
				t.Errorf("the next run finds\n%s\nwant what a fresh run finds\n%s", got, fresh)
			}
			if observedIn := (*ids)[len(*ids)-1]; observedIn != leftIn {
				t.Errorf("the next run ran in container %s, the leaving run in %s: want one container, reused", shortID(observedIn), shortID(leftIn))
			}
		})
	}
}

// checkOnlyLauncherAndNextJail looks from the host at the processes of
// container id after a run in the jail whose PID namespace was leftNS: the
// jail's end killed all it held, so what is left is the launcher and the
// jail it makes for the next run, in a PID namespace of its own. (While
// that jail is being made, its maker is in the launcher's namespace: wait
// for it.)
func checkOnlyLauncherAndNextJail(t *testing.T, id, leftNS string) {
	t.Helper()
	inspect, err := engine.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	pidNS := func(pid int) string {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
		return ns
	}
	launcherNS := pidNS(inspect.State.Pid)
	var problem string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		problem = ""
		jails := map[string]bool{}
		for pid, in := range containerProcesses(t) {
			switch ns := pidNS(pid); {
			case in != id || pid == inspect.State.Pid || ns == "":
			case ns == leftNS:
				problem = fmt.Sprintf("process %d of the run's jail (%s) outlived it", pid, ns)
			case ns == launcherNS:
				problem = fmt.Sprintf("process %d besides the launcher in its PID namespace", pid)
			default:
				jails[ns] = true
			}
		}
		if problem == "" && len(jails) > 1 {
			problem = fmt.Sprintf("processes in %d PID namespaces besides the launcher's: want one, the next run's jail", len(jails))
		}
		if problem == "" || time.Now().After(deadline) {
			break
		}
	}
	if problem != "" {
		t.Errorf("after the run (in %s): %s", leftNS, problem)
	}
}

// TestJailRecycling: a jail-mode container serves the next run after a run
// that ended normally, exit code or not, and is retired after one that hit
// a limit or was killed by a signal.
func TestJailRecycling(t *testing.T) {
	ex := newTestExecutorIn(t, ModeJail, 1)
	ids := containerLog(ex)
	tests := []struct {
		name   string
		req    coderunner.RunRequest
		status coderunner.RunStatus
		reused bool
	}{
		{"completed", coderunner.RunRequest{Code: `print("hi")`}, coderunner.StatusCompleted, true},
		{"exit code", coderunner.RunRequest{Code: "import sys\nsys.exit(3)"}, coderunner.StatusRuntimeError, true},
		{"exception", coderunner.RunRequest{Code: "1/0"}, coderunner.StatusRuntimeError, true},
		{"interactive", coderunner.RunRequest{Code: "print(input())", Stdin: "typed\n", Input: closedInput()}, coderunner.StatusCompleted, true},
		{"background process killed by the jail's end", coderunner.RunRequest{Code: "import os, time\nif os.fork() == 0:\n    time.sleep(100)"}, coderunner.StatusCompleted, true},
		{"segfault", coderunner.RunRequest{Code: "import ctypes\nctypes.string_at(0)"}, coderunner.StatusRuntimeError, false},
		{"killed by its own signal", coderunner.RunRequest{Code: "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"}, coderunner.StatusRuntimeError, false},
		{"CPU limit", coderunner.RunRequest{Code: "while True: pass"}, coderunner.StatusTimeLimitExceeded, false},
		{"wall-time limit", coderunner.RunRequest{Code: "import time\ntime.sleep(100)", WallTimeLimitMs: 1000}, coderunner.StatusTimeLimitExceeded, false},
		{"output limit", coderunner.RunRequest{Code: "while True: print('x' * 99)", OutputLimitBytes: 1000}, coderunner.StatusOutputLimitExceeded, false},
		{"memory limit", coderunner.RunRequest{Code: "x = b'x' * (200 << 20)"}, coderunner.StatusMemoryLimitExceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, ex, coderunner.RunRequest{Code: `print("before")`})
			res := run(t, ex, tt.req)
			if res.Status != tt.status {
				t.Fatalf("status %s, want %s (stdout %q, stderr %q)", res.Status, tt.status, res.Stdout, res.Stderr)
			}
			after := run(t, ex, coderunner.RunRequest{Code: `print("after")`})
			if after.Status != coderunner.StatusCompleted || after.Stdout != "after\n" {
				t.Fatalf("run after: %+v", after)
			}
			n := len(*ids)
			before, during, next := (*ids)[n-3], (*ids)[n-2], (*ids)[n-1]
			if during != before {
				t.Errorf("the run got container %s after %s: want the one the run before used", shortID(during), shortID(before))
			}
			if reused := next == during; reused != tt.reused {
				t.Errorf("container reused after the run: %v, want %v", reused, tt.reused)
			}
		})
	}
}

// closedInput is an interactive run's input that has ended already.
func closedInput() chan string {
	c := make(chan string)
	close(c)
	return c
}

// TestJailRunsPerContainer: a container serves at most JailRuns runs.
func TestJailRunsPerContainer(t *testing.T) {
	requireEngine(t)
	ex := newTestExecutorWith(t, engine, Options{PoolSize: 1, Mode: ModeJail, JailRuns: 3})
	if ex.Mode() != ModeJail {
		t.Fatalf("mode %s", ex.Mode())
	}
	ids := containerLog(ex)
	for range 7 {
		run(t, ex, coderunner.RunRequest{Code: `print("hi")`})
	}
	var got []string
	names := map[string]string{}
	for _, id := range *ids {
		if names[id] == "" {
			names[id] = fmt.Sprint(len(names))
		}
		got = append(got, names[id])
	}
	if strings.Join(got, "") != "0001112" {
		t.Errorf("containers of 7 runs %v, want 0001112 (3 runs each)", got)
	}
}

// TestJailFiguresArePerRun: CPU time and peak memory are the run's own,
// not the container's since it started: a small run after a large one in
// the same container reports small figures.
func TestJailFiguresArePerRun(t *testing.T) {
	ex := newTestExecutorIn(t, ModeJail, 1)
	ids := containerLog(ex)
	big := run(t, ex, coderunner.RunRequest{Code: "import time\nx = b'x' * (40 << 20)\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"})
	small := run(t, ex, coderunner.RunRequest{Code: `print("hi")`})
	t.Logf("big: cpu %d ms, memory %d KB; small: cpu %d ms, memory %d KB", big.CPUMs, big.MemoryKB, small.CPUMs, small.MemoryKB)
	if (*ids)[0] != (*ids)[1] {
		t.Fatal("not one container")
	}
	if big.CPUMs < 500 || big.MemoryKB < 40<<10 {
		t.Errorf("big run: cpu %d ms, memory %d KB: want at least 500 ms and 40 MB", big.CPUMs, big.MemoryKB)
	}
	if small.CPUMs > 300 || small.MemoryKB > 30<<10 || small.MemoryKB < 1000 {
		t.Errorf("small run after it: cpu %d ms, memory %d KB: want its own figures", small.CPUMs, small.MemoryKB)
	}
}

// TestJailSyscallsRefusedToThePrograms: in both modes, the calls that could
// undo a jail or reach risky kernel code fail for the program.
func TestJailSyscallsRefusedToThePrograms(t *testing.T) {
	const code = `import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {"unshare": (272, 0x10000000), "setns": (308, 0, 0), "mount": (165, b"none", b"/tmp", b"tmpfs", 0, 0),
         "umount2": (166, b"/tmp", 0), "ptrace": (101, 16, 1, 0, 0), "keyctl": (250, 0, 0), "bpf": (321, 0, 0, 0),
         "userfaultfd": (323, 0), "perf_event_open": (298, 0, 0, -1, -1, 0), "chroot": (161, b"/tmp"),
         "clone with CLONE_NEWUSER": (56, 0x10000000 | 17, 0, 0, 0, 0)}
for name, (nr, *args) in calls.items():
    ctypes.set_errno(0)
    r = libc.syscall(nr, *args)
    if r == 0:
        os._exit(0) if name.startswith("clone") else None
    print(name, r, errno.errorcode.get(ctypes.get_errno()))`
	for _, mode := range sandboxModes {
		t.Run(string(mode), func(t *testing.T) {
			if syscall.SYS_UNSHARE != 272 {
				t.Skip("the program names x86-64's numbers")
			}
			ex := newTestExecutorIn(t, mode, 1)
			res := run(t, ex, coderunner.RunRequest{Code: code})
			lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
			if res.Status != coderunner.StatusCompleted || len(lines) != 11 {
				t.Fatalf("%s, stdout %q, stderr %q", res.Status, res.Stdout, res.Stderr)
			}
			for _, line := range lines {
				if !strings.HasSuffix(line, " -1 EPERM") && !strings.HasSuffix(line, " -1 ENOSYS") {
					t.Errorf("%s: want refused", line)
				}
			}
		})
	}
}

// TestJailFallsBackToContainerMode: where the jail cannot be built (here:
// under Docker's default seccomp profile, which refuses unshare, as a host
// that forbids unprivileged user namespaces would), the executor says so
// and runs in container mode.
func TestJailFallsBackToContainerMode(t *testing.T) {
	requireEngine(t)
	jailProfile = func() (string, error) { return string(dockerDefaultProfile), nil }
	t.Cleanup(func() { jailProfile = jailSeccompProfile })
	var logs strings.Builder
	ex, err := New(context.Background(), engine, Options{
		PoolSize: 1, PoolName: fmt.Sprintf("test-%d-%d", os.Getpid(), poolSeq.Add(1)), Mode: ModeJail,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	if ex.Mode() != ModeContainer || !strings.Contains(logs.String(), "falling back to container mode") || !strings.Contains(logs.String(), "unshare") {
		t.Fatalf("mode %s, log %q: want container mode and the reason logged", ex.Mode(), logs.String())
	}
	if res := run(t, ex, coderunner.RunRequest{Code: `print("hi")`}); res.Status != coderunner.StatusCompleted || res.Stdout != "hi\n" {
		t.Errorf("run in the fallback mode: %+v", res)
	}
}

// TestJailSlotsRunAsTheirOwnHostUIDs: each slot's container runs as a host
// uid of its own, while the program is 65534 inside its jail.
func TestJailSlotsRunAsTheirOwnHostUIDs(t *testing.T) {
	if !engineIsLocal() {
		t.Skip("looks at the containers' processes in this host's /proc")
	}
	ex := newTestExecutorIn(t, ModeJail, 2)
	for deadline := time.Now().Add(30 * time.Second); ex.WarmContainers() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("pool not full after 30 s")
		}
	}
	list, err := engine.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", labelPool+"="+ex.opts.PoolName))})
	if err != nil || len(list) != 2 {
		t.Fatalf("containers of the pool: %d, %v", len(list), err)
	}
	ours := map[string]bool{list[0].ID: true, list[1].ID: true}
	uids := map[string]int{} // container → its launcher's host uid
	for pid, id := range containerProcesses(t) {
		if !ours[id] {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Uid:") {
				uids[id], _ = strconv.Atoi(strings.Fields(line)[1])
			}
		}
	}
	t.Logf("host uids: %v", uids)
	if len(uids) != 2 || uids[list[0].ID] == uids[list[1].ID] || min(uids[list[0].ID], uids[list[1].ID]) < jailUIDBase {
		t.Errorf("host uids of the two slots %v: want two distinct uids from %d", uids, jailUIDBase)
	}
	res := run(t, ex, coderunner.RunRequest{Code: "import os\nprint(os.getuid(), os.getgid())"})
	if res.Stdout != "65534 65534\n" {
		t.Errorf("inside the jail: %q, want 65534 65534", res.Stdout)
	}
}

// killAllButTheLauncher, run inside a container, SIGKILLs every process
// but PID 1 and itself and prints how many it killed.
const killAllButTheLauncher = `import os, signal
pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
for pid in pids:
    os.kill(pid, signal.SIGKILL)
print(len(pids))`

// TestJailLostBetweenRuns: a launcher makes each run's jail before the
// run's request comes, and the jail's processes wait in the container
// meanwhile. Should they be gone when it comes (nothing in the container
// but the launcher could end them; the OOM killer after a memory change),
// the run gets a fresh jail, in the same container.
func TestJailLostBetweenRuns(t *testing.T) {
	ex := newTestExecutorIn(t, ModeJail, 1)
	ids := containerLog(ex)
	run(t, ex, coderunner.RunRequest{Code: `print("before")`})
	if killed := execIn(t, (*ids)[0], "python3", "-c", killAllButTheLauncher); killed != "2\n" {
		t.Fatalf("killed %q processes besides the launcher: want 2, the next run's jail (its init and program)", killed)
	}
	after := run(t, ex, coderunner.RunRequest{Code: `print("after")`})
	if after.Status != coderunner.StatusCompleted || after.Stdout != "after\n" {
		t.Fatalf("run after the jail was lost: %+v", after)
	}
	if (*ids)[1] != (*ids)[0] {
		t.Error("the run after got another container: want the same, with a fresh jail")
	}
}

// execIn runs cmd in container id, as its user, and returns its stdout;
// it fails the test unless cmd exits 0.
func execIn(t *testing.T, id string, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	created, err := engine.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec in %s: %v", shortID(id), err)
	}
	conn, err := engine.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec in %s: attach: %v", shortID(id), err)
	}
	defer conn.Close()
	var stdout, stderr strings.Builder
	if _, err := stdcopy.StdCopy(&stdout, &stderr, conn.Reader); err != nil {
		t.Fatalf("exec in %s: %v", shortID(id), err)
	}
	inspect, err := engine.ContainerExecInspect(ctx, created.ID)
	if err != nil || inspect.ExitCode != 0 {
		t.Fatalf("exec %v in %s: exit %d, %v; stderr %q", cmd, shortID(id), inspect.ExitCode, err, stderr.String())
	}
	return stdout.String()
}

// TestJailProgramSeesNothingOfTheContainer: a program in a jail holds no
// descriptor but its stdin, stdout and stderr, and cannot read the
// container's cgroup, whose counters add up the runs before it.
func TestJailProgramSeesNothingOfTheContainer(t *testing.T) {
	ex := newTestExecutorIn(t, ModeJail, 1)
	run(t, ex, coderunner.RunRequest{Code: `print("before")`})
	const look = `import os
fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
print(fds[:3], len(fds), os.listdir("/sys/fs/cgroup"))`
	// The fourth descriptor is listdir's own.
	for _, interactive := range []bool{false, true} {
		req := coderunner.RunRequest{Code: look}
		if interactive {
			req.Input = closedInput()
		}
		if res := run(t, ex, req); res.Stdout != "[0, 1, 2] 4 []\n" {
			t.Errorf("interactive %v: the program sees %q (stderr %q), want [0, 1, 2] 4 []", interactive, res.Stdout, res.Stderr)
		}
	}
}
