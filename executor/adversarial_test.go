package executor

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"coderunner"
)

const (
	forkBomb = `import os
while True:
    try:
        os.fork()
    except OSError:
        pass`
	memoryBomb = `print("hoarding")
hoard = []
while True:
    hoard.append(b"x" * (1 << 20))`
)

// canaryEnv is set in the test process: no sandbox may see it.
const canaryEnv = "CODERUNNER_TEST_CANARY"

// TestAdversarial runs each hostile program in a fresh executor, in each
// sandbox mode, and checks its exact outcome, that the executor still
// serves an honest run after it, and (on cleanup) that nothing is left
// behind: no container, no process, no container directory.
func TestAdversarial(t *testing.T) {
	requireEngine(t)
	t.Setenv(canaryEnv, "the worker's secret")
	const outputLimit = 16 << 10
	tests := []adversarialCase{
		// The process limit stops the forks and the bomb spins until its
		// time is up — unless its copies' memory reaches the limit first,
		// which CI saw in jail mode: contained either way.
		{name: "fork bomb", code: forkBomb, status: coderunner.StatusTimeLimitExceeded, alsoStatus: coderunner.StatusMemoryLimitExceeded},
		{name: "memory bomb", code: memoryBomb, status: coderunner.StatusMemoryLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.MemoryKB < 32<<10 || res.Stdout != "hoarding\n" {
					t.Errorf("peak memory %d KB, stdout %q: want the bomb stopped at the limit, its output kept", res.MemoryKB, res.Stdout)
				}
			}},
		{name: "CPU spin", code: "print('spinning')\nwhile True:\n    pass", status: coderunner.StatusTimeLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				// The kernel charges RLIMIT_CPU by scheduler ticks, the cgroup
				// (CPUMs) exactly: on a loaded host SIGXCPU may come when the
				// cgroup has counted somewhat under the 1 s limit.
				if res.CPUMs < 800 || res.Signal != int(syscall.SIGXCPU) || res.Stdout != "spinning\n" {
					t.Errorf("cpu %d ms, signal %d, stdout %q: want the CPU limit (SIGXCPU) to stop it, its output kept", res.CPUMs, res.Signal, res.Stdout)
				}
			}},
		{name: "sleep forever", code: "print('sleeping')\nimport time\ntime.sleep(10**6)", status: coderunner.StatusTimeLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.WallMs < 2900 || res.WallMs > 4000 || res.CPUMs > 500 || res.Stdout != "sleeping\n" {
					t.Errorf("wall %d ms, cpu %d ms, stdout %q: want the 3 s wall limit to stop it, its output kept", res.WallMs, res.CPUMs, res.Stdout)
				}
			}},
		{name: "stdout flood", code: "while True:\n    print('x' * 99)", status: coderunner.StatusOutputLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !res.Truncated || len(res.Stdout) != outputLimit || strings.Trim(res.Stdout, "x\n") != "" {
					t.Errorf("truncated %v, %d bytes of stdout: want exactly the limit of the flood", res.Truncated, len(res.Stdout))
				}
			}},
		{name: "stderr flood", code: "import sys\nwhile True:\n    print('e' * 99, file=sys.stderr)", status: coderunner.StatusOutputLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !res.Truncated || len(res.Stderr) != outputLimit || res.Stdout != "" {
					t.Errorf("truncated %v, %d bytes of stderr: want exactly the limit", res.Truncated, len(res.Stderr))
				}
			}},
		{name: "one huge line without newline", code: "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)", status: coderunner.StatusOutputLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !res.Truncated || res.Stdout != strings.Repeat("y", outputLimit) {
					t.Errorf("truncated %v, %d bytes: want the limit's worth of the line", res.Truncated, len(res.Stdout))
				}
			}},
		{name: "filling tmp", code: `import errno
try:
    for i in range(100):
        with open(f"/tmp/fill{i}", "wb") as f:
            f.write(b"z" * (4 << 20))
    print("filled 400 MB")
except OSError as e:
    print(errno.errorcode[e.errno], i)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !strings.HasPrefix(res.Stdout, "ENOSPC ") {
					t.Errorf("stdout %q: want ENOSPC from the size-limited tmpfs", res.Stdout)
				}
			}},
		{name: "writing outside tmp", code: `import errno, os
for path in ["/x", "/etc/passwd", "/etc/hosts", "/etc/resolv.conf", "/usr/bin/python3",
             "/opt/coderunner/launcher.py", "/dev/x", "/dev/shm/x", "/proc/sys/kernel/hostname", "/sys/x", "/root/x"]:
    try:
        with open(path, "ab") as f:
            f.write(b"owned")
        print("WROTE", path)
    except OSError as e:
        print(errno.errorcode[e.errno], path)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if strings.Contains(res.Stdout, "WROTE") || strings.Count(res.Stdout, "\n") != 11 {
					t.Errorf("stdout %q: want every write refused", res.Stdout)
				}
			}},
		{name: "network egress", code: `import errno, socket
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and no route here anyway
    print("tcp CONNECTED")
except OSError as e:
    print("tcp", errno.errorcode.get(e.errno, e))
try:
    socket.getaddrinfo("example.com", 80)
    print("dns RESOLVED")
except socket.gaierror as e:
    print("dns failed")
print(sorted(name for _, name in socket.if_nameindex()))`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "tcp ENETUNREACH\ndns failed\n['lo']\n" {
					t.Errorf("stdout %q: want no route, no DNS, only loopback", res.Stdout)
				}
			}},
		{name: "reading the worker's environment", code: `import os
print(sorted(os.environ))
try:
    open("/proc/1/environ", "rb").read()
    print("read launcher environ")
except OSError as e:
    print(type(e).__name__)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "['HOME', 'LANG', 'PATH']\nPermissionError\n" || strings.Contains(res.Stdout, canaryEnv) {
					t.Errorf("stdout %q: want only the sandbox's own three variables", res.Stdout)
				}
			}},
		{name: "other processes via /proc", code: `import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(pids == sorted({1, os.getpid()}), len(pids))`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "True 2\n" {
					t.Errorf("stdout %q: want to see only the launcher and itself", res.Stdout)
				}
			}},
		{name: "privileges", code: `import os
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
print(os.getuid(), os.getgid(), status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip(), status["Seccomp"].strip())`,
			status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				// nobody, no capabilities at all, no-new-privileges, seccomp filtering
				if res.Stdout != "65534 65534 0000000000000000 0000000000000000 1 2\n" {
					t.Errorf("stdout %q: want an unprivileged, filtered process", res.Stdout)
				}
			}},
		{name: "files Docker hides", code: `import os
for path in ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats", "/proc/acpi", "/proc/scsi"]:
    try:
        seen = os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(4096)
        print("SEEN" if seen else "hidden", path)
    except OSError:
        print("hidden", path)
for path in ["/sys/firmware", "/sys/devices/virtual/powercap"]:
    print("SEEN" if os.path.isdir(path) and os.listdir(path) else "hidden", path)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if strings.Contains(res.Stdout, "SEEN") || strings.Count(res.Stdout, "hidden") != 9 {
					t.Errorf("stdout %q: want every file Docker masks hidden or absent", res.Stdout)
				}
			}},
		{name: "the Docker socket", code: `import os, socket
for path in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        print("CONNECTED", path)
    except OSError as e:
        print(type(e).__name__)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != strings.Repeat("FileNotFoundError\n", 3) {
					t.Errorf("stdout %q: want no engine socket in the sandbox", res.Stdout)
				}
			}},
		{name: "child outlives the main process", code: `import os, sys, time
if os.fork() == 0:
    os.setsid()
    while True:
        print("orphan", flush=True)
        time.sleep(0.05)
time.sleep(0.2)
print("main done")`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !strings.Contains(res.Stdout, "main done\n") || res.WallMs > 1500 {
					t.Errorf("stdout %q after %d ms: want the run to end with its main process", res.Stdout, res.WallMs)
				}
			}},
		{name: "closing stdout then spinning", code: "import os\nos.close(1)\nos.close(2)\nwhile True:\n    pass", status: coderunner.StatusTimeLimitExceeded},
		{name: "reading stdin forever when none is given", code: "while True:\n    input()", status: coderunner.StatusRuntimeError,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !strings.Contains(res.Stderr, "EOFError") || res.WallMs > 1000 {
					t.Errorf("stderr %q after %d ms: want EOFError at once", res.Stderr, res.WallMs)
				}
			}},
		{name: "invalid UTF-8 and NUL bytes", code: `import sys
sys.stdout.buffer.write(b"\xff\xfe\x00ok\x00\xc3")
sys.stderr.buffer.write(b"\x00\x80")`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "\xff\xfe\x00ok\x00\xc3" || res.Stderr != "\x00\x80" {
					t.Errorf("stdout %q stderr %q: want the bytes exactly", res.Stdout, res.Stderr)
				}
			}},
		{name: "1 MB source file", code: "s = \"" + strings.Repeat("a", 1<<20) + "\"\nprint(len(s))", status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "1048576\n" {
					t.Errorf("stdout %q", res.Stdout)
				}
			}},
		{name: "os.kill(-1, 9)", code: `import os, signal
child = os.fork()
if child == 0:
    signal.pause()
os.kill(-1, 9)
_, status = os.waitpid(child, 0)
print("still here; child killed by", os.WTERMSIG(status))`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "still here; child killed by 9\n" {
					t.Errorf("stdout %q: kill(-1) reaches only the program's own processes, sparing itself and the launcher", res.Stdout)
				}
			}},
		{name: "thread bomb", code: `import threading, time
while True:
    threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()`, status: coderunner.StatusRuntimeError,
			check: func(t *testing.T, res coderunner.RunResult) {
				if !strings.Contains(res.Stderr, "can't start new thread") {
					t.Errorf("stderr %q: want the pids limit to refuse threads", res.Stderr)
				}
			}},
		{name: "CPU spread over children the kernel reaps unseen", code: `import os, signal, time
# Ignoring SIGCHLD makes the kernel reap the children at once: their CPU time
# never reaches the parent's getrusage(RUSAGE_CHILDREN), and RLIMIT_CPU is
# per process, so each child stays under it.
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
pipes = []
for _ in range(2):
    r, w = os.pipe()
    if os.fork() == 0:
        start = time.process_time()
        while time.process_time() - start < 0.6:
            pass
        os.write(w, b"done")
        os._exit(0)
    os.close(w)
    pipes.append(r)
print([os.read(r, 4).decode() for r in pipes])`, status: coderunner.StatusTimeLimitExceeded,
			check: func(t *testing.T, res coderunner.RunResult) {
				// The status says the limit held (without it, the
				// children finish and the program prints); the wall time
				// is not checked: on a loaded machine 1 s of CPU may take
				// as long as the wall limit.
				if res.CPUMs < 1000 || res.Stdout != "" {
					t.Errorf("cpu %d ms, stdout %q: want the children stopped at 1 s of CPU, before they could report", res.CPUMs, res.Stdout)
				}
			}},
		{name: "memory in children the kernel reaps unseen", code: `import os, signal
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
r, w = os.pipe()
if os.fork() == 0:
    hoard = b"m" * (24 << 20)
    os.write(w, b"held")
    os._exit(0)
os.close(w)
print(os.read(r, 4).decode())`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != "held\n" || res.MemoryKB < 24<<10 {
					t.Errorf("stdout %q, memory %d KB: want the child's 24 MB counted", res.Stdout, res.MemoryKB)
				}
			}},
		{name: "SIGINT to the launcher", code: `import os, signal, time
os.kill(1, signal.SIGINT)
time.sleep(0.2)
print("still here", signal.getsignal(signal.SIGINT) is signal.default_int_handler)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				// True: the program itself starts with SIGINT at its default,
				// so Python installs its KeyboardInterrupt handler as usual.
				if res.Stdout != "still here True\n" {
					t.Errorf("stdout %q: want the launcher unmoved and the program's SIGINT handling the usual one", res.Stdout)
				}
			}},
		{name: "io_uring", code: `import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
# io_uring_setup, io_uring_enter, io_uring_register. (The filter also masks
# the x32 bit, but kernels built without x32, as here, refuse those anyway:
# a test of it could not fail.)
for nr in (425, 426, 427):
    ctypes.set_errno(0)
    r = libc.syscall(nr, 1, params, 0, 0, 0, 0)
    print(r, errno.errorcode.get(ctypes.get_errno()))`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				if res.Stdout != strings.Repeat("-1 ENOSYS\n", 3) {
					t.Errorf("stdout %q: want io_uring's system calls refused with ENOSYS", res.Stdout)
				}
			}},
		{name: "interactive: closing stdin then spinning", interactive: true, code: `import os, time
def launcher_ms():
    # utime and stime of PID 1, fields 14 and 15 of its stat
    fields = open("/proc/1/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // os.sysconf("SC_CLK_TCK")
os.close(0)
before, start = launcher_ms(), time.monotonic()
while time.monotonic() - start < 0.7:
    pass
print(launcher_ms() - before)`, status: coderunner.StatusCompleted,
			check: func(t *testing.T, res coderunner.RunResult) {
				// Measured from the launcher's side: what it takes does not
				// depend on how busy the machine is, what the program gets does.
				// (In jail mode /proc/1 is the jail's init, which only waits;
				// the launcher's loop is the same code in both modes, and
				// container mode measures it.)
				var launcherMs int
				_, err := fmt.Sscan(res.Stdout, &launcherMs)
				t.Logf("the launcher took %d ms of CPU while the program spun 700 ms", launcherMs)
				if err != nil || launcherMs > 70 {
					t.Errorf("stdout %q: want the launcher to take under 10%% of the CPU while the program spins 700 ms (the program got %d ms)", res.Stdout, res.CPUMs)
				}
			}},
	}
	for _, mode := range sandboxModes {
		t.Run(string(mode), func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					testAdversarial(t, newTestExecutorIn(t, mode, 1), tt, outputLimit)
				})
			}
		})
	}
}

// adversarialCase is one hostile program of TestAdversarial.
type adversarialCase struct {
	name  string
	code  string
	stdin string
	// interactive runs keep the program's stdin open for input that
	// never comes.
	interactive bool
	status      coderunner.RunStatus
	// alsoStatus, if set, is another outcome that contains the attack as
	// well as status does.
	alsoStatus coderunner.RunStatus
	// check looks at the details; nil when the status says it all.
	check func(t *testing.T, res coderunner.RunResult)
}

// testAdversarial runs tt's program in ex, checks its outcome, then checks
// that ex still serves an honest run.
func testAdversarial(t *testing.T, ex *Executor, tt adversarialCase, outputLimit int) {
	req := coderunner.RunRequest{
		Code: tt.code, Stdin: tt.stdin, TimeLimitMs: 1000, WallTimeLimitMs: 3000, OutputLimitBytes: outputLimit,
	}
	if tt.interactive {
		req.Input = make(chan string)
	}
	began := time.Now()
	res, err := ex.Run(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%s in %s: exit %d signal %d, wall %d ms, cpu %d ms, memory %d KB, %d+%d bytes out",
		res.Status, time.Since(began).Round(time.Millisecond), res.ExitCode, res.Signal, res.WallMs, res.CPUMs, res.MemoryKB, len(res.Stdout), len(res.Stderr))
	if res.Status != tt.status && (tt.alsoStatus == "" || res.Status != tt.alsoStatus) {
		t.Fatalf("status %s, want %s\nstdout %.300q\nstderr %.300q", res.Status, tt.status, res.Stdout, res.Stderr)
	}
	if tt.check != nil {
		tt.check(t, res)
	}
	// The executor is still healthy: an honest run after the attack.
	after, err := ex.Run(context.Background(), coderunner.RunRequest{Code: `print("fine")`}, nil)
	if err != nil || after.Status != coderunner.StatusCompleted || after.Stdout != "fine\n" {
		t.Errorf("honest run after the attack: %v, %+v", err, after)
	}
}
