"""launcher — PID 1 of a coderunner sandbox container.

The executor starts a container running this launcher before any run needs
it (the warm pool), so the run pays neither container start nor launcher
start-up. The launcher then:

1. tells the executor it is ready (a READY frame on stdout);
2. reads one request on stdin: a header line, the program's source, its stdin;
3. runs `python3 -I -u main.py` as its child in a new session, with stdin
   from memory (or, for an interactive run, through a pipe fed with the
   request's stdin and then with input frames as they arrive), stdout and
   stderr through pipes, and RLIMIT_CPU set;
4. relays the child's output as OUT/ERR frames, in order, counting bytes,
   until the program exits, the wall-time limit passes, the output limit
   is reached or the CPU time of all the program's processes together
   passes the CPU-time limit;
5. kills every other process in the container (it is PID 1 of the PID
   namespace, so `kill(-1)` reaches all of them and nothing outside), reaps
   them all, and sends one STATUS frame with the exit status and the
   kernel's accounting of the program (CPU time and memory from the
   container's cgroup, the cgroup's OOM-kill counter); then exits, which
   ends the container.

Before it says it is ready, the launcher ignores SIGINT and installs a
seccomp filter that refuses io_uring, for itself and all it starts.

Everything the executor receives is framed (kind byte, 4-byte big-endian
length, payload), so the program cannot forge a status: it only ever writes
into pipes that the launcher reads. The executor still enforces the wall-time
and output limits from outside, because this process lives in the sandbox.

Wire format, kept in step with executor/protocol.go:
  request header: b"v1 <sourceBytes> <stdinBytes> <cpuLimitMs> <wallLimitMs> <outputLimitBytes> <interactive 0|1>\n"
  frames in:      (interactive runs, after the request) I (input text),
                  C (close: the program reads end-of-file after what came before)
  frames out:     R (ready: python version), O (stdout), E (stderr),
                  S (status: b"<exitCode> <signal> <reason> <cpuMs> <wallMs> <maxRssKb> <oomKills>")
  reasons:        exit, wall, output, cpu
"""

import ctypes
import errno
import os
import resource
import select
import signal
import struct
import sys
import time

WORKDIR = "/tmp"
PROGRAM = "main.py"
# The program's whole environment: nothing of the worker's reaches it.
PROGRAM_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORKDIR}
READ_CHUNK = 64 << 10
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
LIBC = ctypes.CDLL(None, use_errno=True)

# The container's cgroup counters, as (file under /sys/fs/cgroup, key or
# None for a file that holds one number, unit): cgroup v1 first, then v2.
# The executor gives each container a cgroup namespace of its own, so the
# container's cgroup is what the container sees at /sys/fs/cgroup.
CPU_NS = (("cpuacct/cpuacct.usage", None, 1), ("cpu,cpuacct/cpuacct.usage", None, 1), ("cpu.stat", "usage_usec", 1000))
MEMORY_NOW = (("memory/memory.usage_in_bytes", None, 1), ("memory.current", None, 1))
MEMORY_PEAK = (("memory/memory.max_usage_in_bytes", None, 1), ("memory.peak", None, 1))
OOM_KILLS = (("memory/memory.oom_control", "oom_kill", 1), ("memory.events", "oom_kill", 1))
# How often the loop reads the cgroup's CPU time, and how far past the limit
# it lets the program go: far enough that a single process meets its own
# RLIMIT_CPU first (SIGXCPU, the usual report), near enough that work spread
# over many processes stops about at the limit (they share one CPU).
CPU_CHECK_S = 0.05
CPU_GRACE_MS = 50


def send(kind, payload=b""):
    data = struct.pack(">cI", kind, len(payload)) + payload
    while data:
        n = os.write(1, data)
        data = data[n:]


def cgroup_counter(sources):
    """One counter of the container's cgroup, from the first of sources the
    container can read, or -1."""
    for name, key, unit in sources:
        try:
            with open("/sys/fs/cgroup/" + name) as f:
                if key is None:
                    return int(f.read()) * unit
                for line in f:
                    k, _, value = line.partition(" ")
                    if k == key:
                        return int(value) * unit
        except OSError:
            continue
    return -1


def own_cpu_ns():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round((usage.ru_utime + usage.ru_stime) * 1e9)


def program_cpu_ns():
    """CPU time of everything in the container but the launcher, since it
    started. The cgroup counts every process, including children the program
    lets the kernel reap unseen (SIGCHLD ignored), which getrusage
    (RUSAGE_CHILDREN) never hears of."""
    return cgroup_counter(CPU_NS) - own_cpu_ns()


def deny_io_uring():
    """Install a seccomp filter, inherited by everything the launcher starts,
    under which io_uring_setup, io_uring_enter and io_uring_register fail
    with ENOSYS. Docker 20.10's default profile allows them (Docker 25 blocks
    them), and io_uring has been a steady source of kernel exploits. They
    are 425-427 on x86-64, i386, arm64, arm, ppc64le, s390x and riscv64
    alike (no arch check needed); x32 sets bit 30 of the number, masked
    off here. (Alpha, ia64 and MIPS number them otherwise.)"""

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    ld_nr, and_k, jeq_k, ret_k = 0x20, 0x54, 0x15, 0x06  # BPF_LD|W|ABS, ALU|AND|K, JMP|JEQ|K, RET|K
    program = [
        (ld_nr, 0, 0, 0),  # A = seccomp_data.nr
        (and_k, 0, 0, 0xBFFFFFFF),  # without the x32 bit
        (jeq_k, 3, 0, 425),  # io_uring_setup: to ENOSYS
        (jeq_k, 2, 0, 426),  # io_uring_enter
        (jeq_k, 1, 0, 427),  # io_uring_register
        (ret_k, 0, 0, 0x7FFF0000),  # SECCOMP_RET_ALLOW
        (ret_k, 0, 0, 0x00050000 | errno.ENOSYS),  # SECCOMP_RET_ERRNO
    ]
    filters = (SockFilter * len(program))(*program)
    fprog = SockFprog(len(program), filters)
    # Docker's no-new-privileges has set it already; a filter needs it.
    if LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def read_exact(fd, n):
    """Read exactly n bytes from fd (unbuffered, so that input frames that
    follow the request stay in the descriptor for the poll loop)."""
    parts = []
    while n > 0:
        data = os.read(fd, min(n, READ_CHUNK))
        if not data:
            raise ValueError("request cut short")
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def read_request(fd):
    line = b""
    while not line.endswith(b"\n"):
        if len(line) > 200:
            raise ValueError("request header too long")
        line += read_exact(fd, 1)
    header = line.split()
    if len(header) != 7 or header[0] != b"v1":
        raise ValueError("bad request header %r" % header)
    source_len, stdin_len, cpu_ms, wall_ms, output_limit, interactive = map(int, header[1:])
    source = read_exact(fd, source_len)
    data = read_exact(fd, stdin_len)
    return source, data, cpu_ms, wall_ms, output_limit, interactive == 1


class Input:
    """Feeds an interactive program's stdin pipe from the executor's input
    frames, without ever blocking the launcher on a program that does not
    read: what the pipe cannot take yet waits in pending."""

    def __init__(self, poller, pipe_w, pending):
        self.poller, self.pipe_w, self.pending = poller, pipe_w, pending
        self.frames = b""  # bytes of input frames not yet whole
        self.closing = False  # close the pipe once pending is written
        self.polled = False  # pipe_w is registered with the poller
        os.set_blocking(pipe_w, False)
        poller.register(0, select.POLLIN)
        self.update()

    def read_frames(self):
        data = os.read(0, READ_CHUNK)
        if not data:  # the executor is done sending
            self.poller.unregister(0)
            self.closing = True
        self.frames += data
        while len(self.frames) >= 5:
            kind, size = struct.unpack(">cI", self.frames[:5])
            if len(self.frames) < 5 + size:
                break
            payload, self.frames = self.frames[5 : 5 + size], self.frames[5 + size :]
            if kind == b"I" and not self.closing:
                self.pending += payload
            elif kind == b"C":
                self.closing = True
        self.update()

    def write(self, events):
        try:
            if events & (select.POLLERR | select.POLLHUP):
                raise BrokenPipeError  # what a write would say
            n = os.write(self.pipe_w, self.pending[:READ_CHUNK])
            self.pending = self.pending[n:]
        except BlockingIOError:
            pass
        except BrokenPipeError:  # the program closed its stdin: drop the rest
            self.pending = b""
            self.closing = True
        self.update()

    def update(self):
        """Poll the pipe only while there is something to write: once the
        program has closed its end, poll reports POLLERR on ours whatever
        the mask, and a registered pipe would keep the loop spinning."""
        if self.pipe_w is None:
            return
        if self.pending:
            self.poller.register(self.pipe_w, select.POLLOUT)
            self.polled = True
            return
        if self.polled:
            self.poller.unregister(self.pipe_w)
            self.polled = False
        if self.closing:
            os.close(self.pipe_w)
            self.pipe_w = None


def start_program(source, stdin_data, cpu_ms, interactive):
    """Start the program; returns its pid, its output pipes and, for an
    interactive run, the write end of its stdin pipe."""
    with open(os.path.join(WORKDIR, PROGRAM), "wb") as f:
        f.write(source)
    stdin_w = None
    if interactive:
        stdin_fd, stdin_w = os.pipe()
    else:
        stdin_fd = os.memfd_create("stdin")
        os.write(stdin_fd, stdin_data)
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    # RLIMIT_CPU counts whole seconds: the soft limit sends SIGXCPU, the
    # hard one a second later SIGKILL, for a program that catches SIGXCPU.
    cpu_s = max(1, -(-cpu_ms // 1000))
    # Told how exec failed through a close-on-exec pipe: end-of-file means
    # the program is running.
    exec_r, exec_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            # Forked children inherit the launcher's non-dumpable flag, which
            # makes their /proc files root's; exec would reset it anyway.
            LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            # Should the memory cgroup fill, the kernel kills the program,
            # not the launcher that reports on it.
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
            os.setsid()
            # Ignored signals stay ignored across exec: the program starts
            # with the defaults, as from a shell (Python then sets its own).
            for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.dup2(stdin_fd, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # Every other descriptor the launcher holds is close-on-exec,
            # Python's default for the files and pipes it makes (PEP 446).
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
            os.chdir(WORKDIR)
            os.execve(sys.executable, [sys.executable, "-I", "-u", PROGRAM], PROGRAM_ENV)
        except BaseException as e:
            os.write(exec_w, repr(e).encode())
        finally:
            os._exit(127)
    os.close(exec_w)
    failure = os.read(exec_r, 4096)
    os.close(exec_r)
    if failure:
        raise RuntimeError("start program: " + failure.decode(errors="replace"))
    for fd in (stdin_fd, out_w, err_w):
        os.close(fd)
    return pid, {out_r: b"O", err_r: b"E"}, stdin_w


def main():
    # The program runs under the same uid; without this it could ptrace its
    # PID 1 and forge the status. Non-dumpable needs CAP_SYS_PTRACE to trace,
    # and the container has no capabilities.
    if LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")
    # PID 1 of a namespace receives from inside it only the signals it has
    # a handler for. Python's SIGINT handler would let the program raise
    # KeyboardInterrupt here with os.kill(1, SIGINT); ignored, it never
    # arrives. (Python's other dispositions are SIG_IGN already, and the
    # SIGCHLD handler below only wakes the loop.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Failing either of these fails the container's start: no program runs
    # unfiltered or without its CPU limit.
    deny_io_uring()
    if cgroup_counter(CPU_NS) < 0:
        raise RuntimeError("the cgroup's CPU time is not readable under /sys/fs/cgroup: cannot enforce the CPU limit")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    send(b"R", sys.version.split()[0].encode())
    source, stdin_data, cpu_ms, wall_ms, output_limit, interactive = read_request(0)
    oom_before = cgroup_counter(OOM_KILLS)
    memory_before = cgroup_counter(MEMORY_NOW)

    started = time.monotonic()
    deadline = started + wall_ms / 1000
    cpu_before = program_cpu_ns()
    next_cpu_check = started + CPU_CHECK_S
    pid, streams, stdin_w = start_program(source, stdin_data, cpu_ms, interactive)
    poller = select.poll()
    for fd in (*streams, wake_r):
        poller.register(fd, select.POLLIN)
    feed = Input(poller, stdin_w, stdin_data) if interactive else None

    reason = b"exit"
    status = None
    relayed = 0
    full = False

    def relay(fd):
        """Forward one read from fd; False once fd is drained or the limit hit."""
        nonlocal relayed, reason, full
        data = os.read(fd, READ_CHUNK)
        if not data:
            poller.unregister(fd)
            del streams[fd]
            os.close(fd)
            return False
        room = output_limit - relayed
        if len(data) > room:
            if room > 0:
                send(streams[fd], data[:room])
            relayed = output_limit
            full = True
            if reason == b"exit":
                reason = b"output"
            return False
        relayed += len(data)
        send(streams[fd], data)
        return True

    while status is None and reason == b"exit":
        # Reap every child that has ended, orphans included (PID 1 inherits
        # them), so zombies cannot pile up against the pids limit.
        while status is None:
            done, st = os.waitpid(-1, os.WNOHANG)
            if done == 0:
                break
            if done == pid:
                status = st
        if status is not None:
            break
        now = time.monotonic()
        if now >= deadline:
            reason = b"wall"
            break
        # RLIMIT_CPU holds each process to the limit; this holds all of them
        # together to it.
        if now >= next_cpu_check:
            if program_cpu_ns() - cpu_before > (cpu_ms + CPU_GRACE_MS) * 1_000_000:
                reason = b"cpu"
                break
            next_cpu_check = now + CPU_CHECK_S
        timeout_ms = (min(deadline, next_cpu_check) - now) * 1000
        for fd, events in poller.poll(max(1, int(timeout_ms) + 1)):
            if fd == wake_r:
                os.read(wake_r, 512)
            elif feed and fd == 0:
                feed.read_frames()
            elif feed and fd == feed.pipe_w:
                feed.write(events)
            elif fd in streams and not relay(fd):
                if reason != b"exit":
                    break
    ended = time.monotonic()

    # Whatever ended the run, nothing the program started may outlive it.
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # Keep what the program wrote before it ended; its writers are dead now,
    # so every pipe reaches end-of-file.
    while streams and not full:
        fd = next(iter(streams))
        while relay(fd):
            pass
    while True:
        try:
            done, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if done == pid:
            status = st
    # Every process of the program is dead and reaped: all its CPU time is
    # in the cgroup's count now.
    cpu_ns = program_cpu_ns() - cpu_before
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    oom_after = cgroup_counter(OOM_KILLS)
    # The largest process's peak, or the cgroup's growth over its level
    # before the program started if larger: that counts the memory of
    # processes reaped unseen, and of files left in /tmp.
    max_rss_kb = usage.ru_maxrss
    memory_peak = cgroup_counter(MEMORY_PEAK)
    if memory_before >= 0 and memory_peak >= 0:
        max_rss_kb = max(max_rss_kb, (memory_peak - memory_before) // 1024)

    exit_code, sig = -1, 0
    if os.WIFEXITED(status):
        exit_code = os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    fields = (
        exit_code,
        sig,
        reason.decode(),
        round(cpu_ns / 1e6),
        round((ended - started) * 1000),
        max_rss_kb,
        oom_after - oom_before if oom_before >= 0 and oom_after >= 0 else -1,
    )
    send(b"S", " ".join(map(str, fields)).encode())


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:  # the executor reports it as INTERNAL_ERROR
        print("launcher: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(70)
