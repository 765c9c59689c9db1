"""launcher — PID 1 of a coderunner sandbox container.

The executor starts a container running this launcher before any run needs
it (the warm pool), so the run pays neither container start nor launcher
start-up. The launcher then:

1. tells the executor it is ready (a READY frame on stdout);
2. reads one request frame on stdin: a header line, the program's source,
   its stdin;
3. runs `python3 -I -u main.py` (see SILENT_PROMPTS_MAIN for a request
   with silent prompts) as its child in a new session, with stdin
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
   container's cgroup, the cgroup's OOM-kill counter).

In container mode (the default) it then exits, which ends the container:
one container per run. In jail mode (CODERUNNER_LAUNCHER_MODE=jail in its
environment) it goes back to step 2 for the next run, and runs each program
in a jail of its own instead (see Jail): fresh user, mount, PID, IPC,
network and UTS namespaces, a fresh size-limited tmpfs on /tmp, a fresh
/proc that shows only the jail, and a strict seccomp filter of its own;
when the program's main process ends, the jail's PID namespace ends and
the kernel kills whatever it left. Each jail is made before its request
arrives, once the run before has ended entirely, and its program's process
waits in it ready to exec: a run pays only the exec. The launcher keeps
nothing of a run but its figures, and says in the STATUS frame whether the
run left anything behind, so that the executor retires the container.

Before it says it is ready, the launcher ignores SIGINT and installs a
seccomp filter that refuses io_uring, for itself and all it starts.

Everything the executor receives is framed (kind byte, 4-byte big-endian
length, payload), so the program cannot forge a status: it only ever writes
into pipes that the launcher reads. The executor still enforces the wall-time
and output limits from outside, because this process lives in the sandbox.

Wire format, kept in step with executor/protocol.go:
  frames in:      Q (request: b"v3 <sourceBytes> <stdinBytes> <cpuLimitMs> <wallLimitMs>
                  <outputLimitBytes> <interactive 0|1> <silentPrompts 0|1>\n" + source + stdin),
                  then for interactive runs I (input text),
                  C (close: the program reads end-of-file after what came before).
                  Input frames that arrive after a run has ended are dropped.
  frames out:     R (ready: python version), O (stdout), E (stderr),
                  S (status: b"<exitCode> <signal> <reason> <cpuMs> <wallMs> <maxRssKb> <oomKills> <dirty 0|1>")
  reasons:        exit, wall, output, cpu
  dirty:          1 when something of the run survived it in the container
                  (a process besides the launcher, a mount) or its jail's
                  report was lost: never reuse the container.
"""

import ctypes
import errno
import fcntl
import os
import resource
import select
import signal
import socket
import struct
import sys
import time

WORKDIR = "/tmp"
PROGRAM = "main.py"
# The program's whole environment: nothing of the worker's reaches it.
PROGRAM_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORKDIR}
READ_CHUNK = 64 << 10
# A request frame holds the source and the stdin: the executor caps both
# well below this.
MAX_REQUEST = 64 << 20
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
LIBC = ctypes.CDLL(None, use_errno=True)
JAIL = os.environ.get("CODERUNNER_LAUNCHER_MODE") == "jail"

# The container's cgroup counters, as (file under /sys/fs/cgroup, key or
# None for a file that holds one number, unit): cgroup v1 first, then v2.
# The executor gives each container a cgroup namespace of its own, so the
# container's cgroup is what the container sees at /sys/fs/cgroup.
CPU_NS = (("cpuacct/cpuacct.usage", None, 1), ("cpu,cpuacct/cpuacct.usage", None, 1), ("cpu.stat", "usage_usec", 1000))
MEMORY_NOW = (("memory/memory.usage_in_bytes", None, 1), ("memory.current", None, 1))
MEMORY_PEAK = (("memory/memory.max_usage_in_bytes", None, 1), ("memory.peak", None, 1))
OOM_KILLS = (("memory/memory.oom_control", "oom_kill", 1), ("memory.events", "oom_kill", 1))
PIDS_NOW = (("pids/pids.current", None, 1), ("pids.current", None, 1))
# How often the loop reads the cgroup's CPU time, and how far past the limit
# it lets the program go: far enough that a single process meets its own
# RLIMIT_CPU first (SIGXCPU, the usual report), near enough that work spread
# over many processes stops about at the limit (they share one CPU).
CPU_CHECK_S = 0.05
CPU_GRACE_MS = 50

# The jail (jail mode only).
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
# Every namespace flag clone(2) knows (NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
# NEWUSER, NEWPID, NEWNET): the program may clone, but not into a namespace.
CLONE_NAMESPACES = 0x7E020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
# The jail's /tmp: the only writable place, and so also the largest file
# (the container's RLIMIT_FSIZE matches it).
JAIL_TMP_OPTIONS = "size=16m,nr_inodes=4096,mode=1777"
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
CAP_LAST = 63  # PR_CAPBSET_DROP of a capability the kernel lacks fails harmlessly

# The program's seccomp filter in a jail, on top of the container's profile
# (which, in jail mode, lets the launcher unshare and mount): what a program
# could use to leave the jail, to see or touch the launcher, or to reach
# kernel code that has been a steady source of exploits. Each name maps to
# its number on x86-64 and arm64; the filter refuses every other
# architecture's calls (a 32-bit int 0x80 from a 64-bit process), and x32's.
# ENOSYS where the libraries fall back on "not implemented" (clone3 to
# clone) or where that is what the container mode says (io_uring); EPERM
# otherwise.
ENOSYS_CALLS = {"clone3": (435, 435), "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427)}
EPERM_CALLS = {
    # namespaces and mounts: the jail's walls
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "chroot": (161, 51), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442),
    # other processes' memory and descriptors
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kcmp": (312, 272), "pidfd_getfd": (438, 438),
    # kernel attack surface a program never needs
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218), "bpf": (321, 280),
    "userfaultfd": (323, 282), "perf_event_open": (298, 241),
    "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265), "fanotify_init": (300, 262),
    "sethostname": (170, 161), "setdomainname": (171, 162),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "acct": (163, 89), "swapon": (167, 224),
    "swapoff": (168, 225), "reboot": (169, 142), "syslog": (103, 116), "quotactl": (179, 60),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "vhangup": (153, 58),
    "lookup_dcookie": (212, 18), "iopl": (172, None), "ioperm": (173, None),
}
CLONE_CALL = (56, 220)
# (AUDIT_ARCH_*, index into the tables above) of the architectures the jail
# knows; on others jail mode is not available.
ARCHES = {"x86_64": (0xC000003E, 0), "aarch64": (0xC00000B7, 1)}

LD_W_ABS, ALU_AND_K, JMP_JEQ_K, JMP_JGE_K, RET_K = 0x20, 0x54, 0x15, 0x35, 0x06
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
SECCOMP_DATA_NR, SECCOMP_DATA_ARCH, SECCOMP_DATA_ARG0 = 0, 4, 16


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


def check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def install_filter(program):
    """Install a seccomp filter of (code, jt, jf, k) instructions for the
    calling thread and all it starts."""

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    filters = (SockFilter * len(program))(*program)
    fprog = SockFprog(len(program), filters)
    # Docker's no-new-privileges has set it already; a filter needs it.
    check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    check(LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")


def deny_io_uring():
    """Install a seccomp filter, inherited by everything the launcher starts,
    under which io_uring_setup, io_uring_enter and io_uring_register fail
    with ENOSYS. Docker 20.10's default profile allows them (Docker 25 blocks
    them), and io_uring has been a steady source of kernel exploits. They
    are 425-427 on x86-64, i386, arm64, arm, ppc64le, s390x and riscv64
    alike (no arch check needed); x32 sets bit 30 of the number, masked
    off here. (Alpha, ia64 and MIPS number them otherwise.)"""
    install_filter([
        (LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        (ALU_AND_K, 0, 0, 0xBFFFFFFF),  # without the x32 bit
        (JMP_JEQ_K, 3, 0, 425),  # io_uring_setup: to ENOSYS
        (JMP_JEQ_K, 2, 0, 426),  # io_uring_enter
        (JMP_JEQ_K, 1, 0, 427),  # io_uring_register
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
    ])


def jail_filter():
    """The program's filter in a jail: see EPERM_CALLS."""
    audit_arch, column = ARCHES[os.uname().machine]
    enosys = (RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS)
    program = [
        (LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        (JMP_JEQ_K, 1, 0, audit_arch),
        enosys,  # another architecture's numbering
        (LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        (JMP_JGE_K, 0, 1, 0x40000000),
        enosys,  # x32
    ]
    for table, ret in ((ENOSYS_CALLS, errno.ENOSYS), (EPERM_CALLS, errno.EPERM)):
        for numbers in table.values():
            if numbers[column] is not None:
                program += [(JMP_JEQ_K, 0, 1, numbers[column]), (RET_K, 0, 0, SECCOMP_RET_ERRNO | ret)]
    program += [
        # clone: allowed without namespace flags (its first argument on both)
        (JMP_JEQ_K, 0, 5, CLONE_CALL[column]),
        (LD_W_ABS, 0, 0, SECCOMP_DATA_ARG0),
        (ALU_AND_K, 0, 0, CLONE_NAMESPACES),
        (JMP_JEQ_K, 1, 0, 0),
        (RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return program


class Frames:
    """The executor's frames on stdin, read without ever blocking once the
    poll loop runs: fill reads what is there, next takes a whole frame."""

    def __init__(self):
        self.buf = bytearray()
        self.eof = False

    def fill(self):
        data = os.read(0, READ_CHUNK)
        if not data:
            self.eof = True
        self.buf += data

    def next(self):
        """The next whole frame as (kind, payload), or None."""
        if len(self.buf) < 5:
            return None
        kind, size = struct.unpack(">cI", self.buf[:5])
        if size > MAX_REQUEST:
            raise ValueError("frame of %d bytes" % size)
        if len(self.buf) < 5 + size:
            return None
        payload = bytes(self.buf[5 : 5 + size])
        del self.buf[: 5 + size]
        return kind, payload


def read_request(frames):
    """Wait for the next request frame. Input frames before it belong to a
    run that has ended (sent as it ended) and are dropped. None when the
    executor has closed stdin."""
    while True:
        frame = frames.next()
        if frame is None:
            if frames.eof:
                if frames.buf:
                    raise ValueError("request cut short")
                return None
            frames.fill()
            continue
        kind, payload = frame
        if kind in (b"I", b"C"):
            continue
        if kind != b"Q":
            raise ValueError("unexpected frame %r" % kind)
        line, newline, rest = payload.partition(b"\n")
        header = line.split()
        if not newline or len(header) != 8 or header[0] != b"v3":
            raise ValueError("bad request header %r" % line[:200])
        source_len, stdin_len, cpu_ms, wall_ms, output_limit, interactive, silent_prompts = map(int, header[1:])
        if source_len + stdin_len != len(rest):
            raise ValueError("request of %d bytes, header says %d" % (len(rest), source_len + stdin_len))
        return rest[:source_len], rest[source_len:], cpu_ms, wall_ms, output_limit, interactive == 1, silent_prompts == 1


class Input:
    """Feeds an interactive program's stdin pipe from the executor's input
    frames, without ever blocking the launcher on a program that does not
    read: what the pipe cannot take yet waits in pending."""

    def __init__(self, poller, frames, pipe_w, pending):
        self.poller, self.frames, self.pipe_w, self.pending = poller, frames, pipe_w, pending
        self.closing = False  # close the pipe once pending is written
        self.polled = False  # pipe_w is registered with the poller
        os.set_blocking(pipe_w, False)
        if not frames.eof:
            poller.register(0, select.POLLIN)
        self.read_frames(fill=False)

    def read_frames(self, fill=True):
        if fill:
            self.frames.fill()
            if self.frames.eof:  # the executor is done sending
                self.poller.unregister(0)
        while True:
            frame = self.frames.next()
            if frame is None:
                break
            kind, payload = frame
            if kind == b"I" and not self.closing:
                self.pending += payload
            elif kind == b"C":
                self.closing = True
        if self.frames.eof:
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

    def close(self):
        if self.pipe_w is not None:
            os.close(self.pipe_w)
            self.pipe_w = None


def mount(source, target, fstype, flags, data):
    check(LIBC.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags), data.encode()), "mount " + target)


def enter_jail():
    """Move the calling process into fresh user, mount, IPC, network and UTS
    namespaces (and its children into a fresh PID namespace), as the same
    unprivileged user, with a fresh /tmp. Capabilities it gains here are
    the new user namespace's only, and exec drops them (the program's uid is
    not 0 in it)."""
    uid, gid = os.getuid(), os.getgid()
    check(LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS), "unshare")
    # Inside the jail the program is nobody (65534), as in container mode,
    # whatever host uid the container runs as; no other uid exists there.
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write("65534 %d 1" % uid)
    with open("/proc/self/gid_map", "w") as f:
        f.write("65534 %d 1" % gid)
    mount("tmpfs", WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, JAIL_TMP_OPTIONS)
    # A new network namespace has only loopback, down: up, as in container mode.
    with socket.socket() as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


# What Docker hides under /sys (its masked paths), hidden again in each jail:
# jail mode turns Docker's masks off, since the kernel refuses a new /proc
# under them. (Newer Docker versions also mask powercap's energy counters.)
# And the container's cgroup: its counters add up every run the container
# has served, which the launcher reads, from outside the jail, and no
# program may.
SYS_MASKED = ("/sys/firmware", "/sys/devices/virtual/powercap", "/sys/fs/cgroup")


def init_jail():
    """In the jail's PID namespace, as its init: a /proc of this namespace
    alone (subset=pid: no system-wide files at all), and SYS_MASKED hidden
    under empty read-only tmpfs mounts."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid")
    for path in SYS_MASKED:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")


# What `python3 -I -u -c SILENT_PROMPTS_MAIN main.py` runs for a request with
# silent prompts (grading): the program as `python3 -I -u main.py` would run
# it, but with an input() that writes no prompt. The builtin input, called
# without a prompt, still reads the line (flushing stdout and stderr first,
# end-of-file an EOFError, as ever). Everything else is as in a normal run:
# the program runs in __main__ with its own __file__, __loader__ and
# __cached__, sys.argv and sys.orig_argv lose "-c" and this code, an
# uncaught exception goes to sys.excepthook without this code's frames (nor
# that of input()) and exits 1, and SystemExit passes through untouched.
# What differs: the program runs two calls deeper (this code's frame and
# exec), so a recursion meets the limit two calls sooner; input is a Python
# function; an uncaught KeyboardInterrupt exits 1, not by SIGINT (nothing in
# the sandbox sends one). The guard is held by the with statement alone, so
# that the program's globals hold none of this code's names while it runs.
SILENT_PROMPTS_MAIN = r'''
def _silent_prompts():
    import builtins, os, sys

    # What runs after the program uses only names bound here: the program's
    # globals are this code's globals too, and programs rebind `id` or `type`.
    BaseException, SystemExit, TypeError = builtins.BaseException, builtins.SystemExit, builtins.TypeError
    getattr, id, isinstance, len, type = builtins.getattr, builtins.id, builtins.isinstance, builtins.len, builtins.type
    groups = getattr(builtins, "BaseExceptionGroup", ())
    main = sys.modules["__main__"]
    del main._silent_prompts
    read_line = builtins.input

    def input(*args, **kwargs):
        if kwargs:
            raise TypeError("input() takes no keyword arguments")
        if len(args) > 1:
            raise TypeError("input expected at most 1 argument, got %d" % len(args))
        return read_line()

    input.__module__, input.__qualname__, input.__doc__ = "builtins", "input", read_line.__doc__
    builtins.input = input
    del sys.argv[0]
    at = sys.orig_argv.index("-c")
    del sys.orig_argv[at : at + 2]
    path = os.path.abspath(sys.argv[0])
    main.__file__, main.__cached__ = path, None
    main.__loader__ = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path)

    def strip(exc):
        """Unlink this code's frames from the tracebacks of exc and of the
        exceptions it chains or groups."""
        seen, todo = {}, [exc]
        while todo:
            e = todo.pop()
            if e is None or id(e) in seen:
                continue
            seen[id(e)] = True
            head = last = None
            tb = e.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code not in ours:
                    if last is None:
                        head = tb
                    else:
                        last.tb_next = tb
                    last = tb
                tb = tb.tb_next
            if last is not None:
                last.tb_next = None
            e.__traceback__ = head
            todo += [e.__cause__, e.__context__]
            if isinstance(e, groups):
                todo += e.exceptions

    class Guard:
        def take(self):
            """The program's code, compiled as Python compiles a script;
            the guard leaves __main__ first."""
            del main._g
            with open(path, "rb") as f:
                return compile(f.read(), path, "exec", dont_inherit=True)

        def __enter__(self):
            pass

        def __exit__(self, kind, exc, tb):
            """What Python does with an uncaught exception."""
            if exc is None or isinstance(exc, SystemExit):
                return False
            strip(exc)
            tb = exc.__traceback__
            sys.last_type, sys.last_value, sys.last_traceback = kind, exc, tb
            if sys.version_info >= (3, 12):
                sys.last_exc = exc
            hook = getattr(sys, "excepthook", None)
            if hook is None:
                sys.stderr.write("sys.excepthook is missing\n")
                sys.__excepthook__(kind, exc, tb)
                raise SystemExit(1)
            try:
                hook(kind, exc, tb)
            except SystemExit:
                raise
            except BaseException as err:
                if err.__context__ is exc:  # Python calls the hook outside any handler
                    err.__context__ = None
                strip(err)
                sys.stderr.write("Error in sys.excepthook:\n")
                sys.__excepthook__(type(err), err, err.__traceback__)
                sys.stderr.write("\nOriginal exception was:\n")
                sys.__excepthook__(kind, exc, tb)
            raise SystemExit(1)

    ours = (sys._getframe(1).f_code, sys._getframe().f_code, input.__code__, Guard.take.__code__, Guard.__exit__.__code__)
    return Guard()


_g = _silent_prompts()
with _g:
    exec(_g.take(), globals())
'''


def become_program(out_w, err_w, jailed):
    """In the forked child: everything of becoming the program that does not
    depend on its request (a jail's program does this before the request
    arrives). Ends with the program's output on out_w and err_w."""
    # Forked children inherit the launcher's non-dumpable flag, which
    # makes their /proc files root's; exec would reset it anyway.
    LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    if not jailed:
        # Should the memory cgroup fill, the kernel kills the program,
        # not the launcher that reports on it. (A jail sets it on entry.)
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    os.setsid()
    # Ignored signals stay ignored across exec: the program starts
    # with the defaults, as from a shell (Python then sets its own).
    for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.chdir(WORKDIR)
    if jailed:
        # The jail's user namespace gave this process every capability in
        # it; exec takes the effective ones, and this the bounding set, so
        # that the program's view matches container mode (all zero).
        for cap in range(CAP_LAST + 1):
            LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
        install_filter(jail_filter())


def exec_program(stdin_fd, cpu_s, argv):
    """In the child become_program prepared: run the program. Never returns."""
    os.dup2(stdin_fd, 0)
    # Every other descriptor the launcher holds is close-on-exec,
    # Python's default for the files and pipes it makes (PEP 446).
    # RLIMIT_CPU counts whole seconds: the soft limit sends SIGXCPU, the
    # hard one a second later SIGKILL, for a program that catches SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    os.execve(sys.executable, argv, PROGRAM_ENV)


def program_argv(silent_prompts):
    argv = [sys.executable, "-I", "-u", PROGRAM]
    if silent_prompts:
        argv[3:] = ["-c", SILENT_PROMPTS_MAIN, PROGRAM]
    return argv


def write_source(source):
    with open(os.path.join(WORKDIR, PROGRAM), "wb") as f:
        f.write(source)


def write_all(fd, data):
    data = memoryview(data)
    while data:
        data = data[os.write(fd, data) :]


def read_exactly(fd, size):
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("the launcher went away")
        data += chunk
    return bytes(data)


# What the launcher tells a prepared jail's program when its request comes:
# its CPU limit in seconds, whether it is interactive, whether its prompts
# are silent, and the size of the source that follows.
GO = struct.Struct(">IIBB")


class Jail:
    """The next run's jail (jail mode), made while the launcher waits for
    the run's request, so that a run pays none of it: fresh namespaces and
    /tmp, the jail's init, and under it the program's process, filtered and
    ready to exec as soon as it is told its request on go_w. Its stdin will
    be stdin_file (the request's stdin, written there) or, for an
    interactive run, the pipe whose write end is stdin_w."""

    def __init__(self, init, out_r, err_r, exec_r, report_r, go_w, stdin_file, stdin_w):
        self.init, self.exec_r, self.report_r, self.go_w = init, exec_r, report_r, go_w
        self.streams = {out_r: b"O", err_r: b"E"}
        self.stdin_file, self.stdin_w = stdin_file, stdin_w

    def alive(self):
        """Whether the jail's init still waits (nothing in the container but
        the launcher could end it; the OOM killer after a memory change)."""
        try:
            return os.waitpid(self.init, os.WNOHANG)[0] == 0
        except ChildProcessError:
            return False

    def close(self):
        for fd in (*self.streams, self.exec_r, self.report_r, self.go_w, self.stdin_file, self.stdin_w):
            os.close(fd)

    def start(self, source, stdin_data, cpu_s, interactive, silent_prompts):
        """Run the request in the jail: returns the stdin pipe's write end
        for an interactive run, else None."""
        if interactive:
            os.close(self.stdin_file)
            stdin_w = self.stdin_w
        else:
            # One open file, shared with the jail: it reads from the start.
            write_all(self.stdin_file, stdin_data)
            os.lseek(self.stdin_file, 0, os.SEEK_SET)
            os.close(self.stdin_file)
            os.close(self.stdin_w)
            stdin_w = None
        write_all(self.go_w, GO.pack(cpu_s, len(source), interactive, silent_prompts) + source)
        os.close(self.go_w)
        return stdin_w


def fork_into(body, failures):
    """Fork a child that runs body and then exits, never returning here;
    what body raises is written to failures, where the launcher reads why
    a program did not start. Returns the child's pid."""
    pid = os.fork()
    if pid == 0:
        try:
            body()
        except BaseException as e:
            try:
                os.write(failures, repr(e).encode())
            except OSError:
                pass
        finally:
            os._exit(127)
    return pid


def run_jail_program(go_r, stdin_file, stdin_r, out_w, err_w, ready_w):
    """The program's process in a prepared jail: ready itself, say so on
    ready_w, wait for the request, exec it. Never returns."""
    become_program(out_w, err_w, jailed=True)
    os.write(ready_w, b"R")
    os.close(ready_w)
    cpu_s, size, interactive, silent_prompts = GO.unpack(read_exactly(go_r, GO.size))
    write_source(read_exactly(go_r, size))
    exec_program(stdin_r if interactive else stdin_file, cpu_s, program_argv(silent_prompts))


def run_jail_init(go_r, stdin_file, stdin_r, out_w, err_w, exec_w, report_w, ready_w):
    """PID 1 of the jail: start the program's process, reap everything, and
    when the program's main process ends report on it on report_w and
    exit, which makes the kernel kill whatever is left in the jail. Never
    returns."""
    init_jail()
    program = fork_into(lambda: run_jail_program(go_r, stdin_file, stdin_r, out_w, err_w, ready_w), exec_w)
    # The program's exec closes its copy of exec_w, and the launcher's read
    # of it ends.
    for fd in (go_r, stdin_file, stdin_r, out_w, err_w, exec_w, ready_w):
        os.close(fd)
    while True:
        done, status = os.waitpid(-1, 0)
        if done == program:
            break
    max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    os.write(report_w, b"%d %d" % (status, max_rss_kb))
    # The init's exit ends the PID namespace: the kernel kills every process
    # the program left (a background process, a double-forked daemon) and,
    # with the last of them, the jail's other namespaces and its /tmp.
    os._exit(0)


def prepare_jail():
    """Make the next run's jail (see Jail); returns once its program's
    process is ready to exec."""
    held = set()  # descriptors to close should this fail

    def pipe():
        r, w = os.pipe()
        held.update((r, w))
        return r, w

    def close(*fds):
        for fd in fds:
            held.discard(fd)
            os.close(fd)

    try:
        stdin_file = os.memfd_create("stdin")
        held.add(stdin_file)
        stdin_r, stdin_w = pipe()
        out_r, out_w = pipe()
        err_r, err_w = pipe()
        # Told how the jail or the exec failed through a close-on-exec pipe:
        # end-of-file means the program is running.
        exec_r, exec_w = pipe()
        report_r, report_w = pipe()
        init_r, init_w = pipe()
        ready_r, ready_w = pipe()
        go_r, go_w = pipe()
        jail_fds = (go_r, stdin_file, stdin_r, out_w, err_w, exec_w, report_w, ready_w)

        def make():
            """The jail's maker: enter it, start its init, say the init's pid."""
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            # The jail keeps only what it needs: nothing of the container's
            # stdio (the executor's frames) nor any other descriptor of the
            # launcher's; and the program's stdin must reach end-of-file
            # when the launcher closes its end.
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            keep = sorted((*jail_fds, init_w))
            limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            for low, high in zip([3] + [fd + 1 for fd in keep], keep + [limit]):
                os.closerange(low, high)
            # Its own /proc files (oom_score_adj, uid_map) are root's while
            # it is non-dumpable, like the launcher it is a fork of.
            LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            # Set before the jail, where it is inherited by all: the kernel
            # kills the program, not the launcher, should the memory cgroup
            # fill.
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
            enter_jail()
            # The jail's init is non-dumpable, as the launcher is: the
            # program, under the same uid, can neither trace it nor read
            # its /proc files.
            LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)

            def init():
                os.close(init_w)
                run_jail_init(*jail_fds)

            # The jail's init, as the launcher's PID namespace numbers it.
            os.write(init_w, struct.pack("i", fork_into(init, exec_w)))

        maker = fork_into(make, exec_w)
        close(go_r, stdin_r, out_w, err_w, exec_w, report_w, ready_w, init_w)
        init = os.read(init_r, 4)
        ready = os.read(ready_r, 1)
        close(init_r, ready_r)
        # The maker's exit leaves the jail's init to the launcher, PID 1.
        os.waitpid(maker, 0)
        if len(init) == 4 and ready == b"R":
            held.clear()
            return Jail(struct.unpack("i", init)[0], out_r, err_r, exec_r, report_r, go_w, stdin_file, stdin_w)
        # Whatever is left of the jail ends once the launcher's ends of its
        # pipes close (its program's process reads end-of-file on go_r).
        close(out_r, err_r, report_r, go_w, stdin_file, stdin_w)
        failure = os.read(exec_r, 4096).decode(errors="replace")
        raise RuntimeError("prepare jail: " + (failure or "its processes ended without a word"))
    finally:
        for fd in held:
            os.close(fd)


def ready_jail(jail):
    """The prepared jail if it is still there, else a new one."""
    if jail is not None and jail.alive():
        return jail
    if jail is not None:
        jail.close()
    return prepare_jail()


def start_program(source, stdin_data, cpu_ms, interactive, silent_prompts, jail):
    """Start the program (its prompts silenced if silent_prompts), in jail
    if in jail mode; returns the pid whose end is the program's end, its
    output pipes, for an interactive run the write end of its stdin pipe,
    and in jail mode the read end of the jail's report."""
    cpu_s = max(1, -(-cpu_ms // 1000))
    if jail is not None:
        stdin_w = jail.start(source, stdin_data, cpu_s, interactive, silent_prompts)
        pid, streams, exec_r, report_r = jail.init, jail.streams, jail.exec_r, jail.report_r
    else:
        stdin_w = report_r = None
        if interactive:
            stdin_fd, stdin_w = os.pipe()
        else:
            stdin_fd = os.memfd_create("stdin")
            os.write(stdin_fd, stdin_data)
            os.lseek(stdin_fd, 0, os.SEEK_SET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        streams = {out_r: b"O", err_r: b"E"}
        exec_r, exec_w = os.pipe()
        write_source(source)

        def program():
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            become_program(out_w, err_w, jailed=False)
            exec_program(stdin_fd, cpu_s, program_argv(silent_prompts))

        pid = fork_into(program, exec_w)
        for fd in (stdin_fd, out_w, err_w, exec_w):
            os.close(fd)
    failure = os.read(exec_r, 4096)
    os.close(exec_r)
    if failure:
        raise RuntimeError("start program: " + failure.decode(errors="replace"))
    return pid, streams, stdin_w, report_r


def mounts():
    with open("/proc/self/mountinfo", "rb") as f:
        return f.read()


def serve(frames, wake_r, request, jail):
    """Run one request (in jail, in jail mode) and send its STATUS frame.
    Returns whether the run ended by itself, normally, leaving nothing:
    otherwise the executor retires the container."""
    source, stdin_data, cpu_ms, wall_ms, output_limit, interactive, silent_prompts = request
    oom_before = cgroup_counter(OOM_KILLS)
    memory_before = cgroup_counter(MEMORY_NOW)
    peak_before = cgroup_counter(MEMORY_PEAK)
    memory_seen = memory_before
    mounts_before = mounts() if JAIL else b""

    started = time.monotonic()
    deadline = started + wall_ms / 1000
    cpu_before = program_cpu_ns()
    next_cpu_check = started + CPU_CHECK_S
    pid, streams, stdin_w, report_r = start_program(source, stdin_data, cpu_ms, interactive, silent_prompts, jail)
    poller = select.poll()
    for fd in (*streams, wake_r):
        poller.register(fd, select.POLLIN)
    feed = Input(poller, frames, stdin_w, stdin_data) if interactive else None

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
            if JAIL:
                memory_seen = max(memory_seen, cgroup_counter(MEMORY_NOW))
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
    if JAIL:
        memory_seen = max(memory_seen, cgroup_counter(MEMORY_NOW))

    # Whatever ended the run, nothing the program started may outlive it.
    # (A jail's processes are in a PID namespace below the launcher's, so
    # kill(-1) reaches them too.)
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
    for fd in list(streams):
        os.close(fd)
    if feed:
        feed.close()
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
    oom_after = cgroup_counter(OOM_KILLS)
    memory_peak = cgroup_counter(MEMORY_PEAK)
    dirty = 0
    if JAIL:
        # The jail's init reports the program's own status; without it (the
        # init was killed: a limit, an OOM kill) the init's status stands
        # for it, and the container is not to be trusted again.
        report = os.read(report_r, 100)
        os.close(report_r)
        if report:
            status, max_rss_kb = map(int, report.split())
        else:
            max_rss_kb, dirty = 0, 1
        # Nothing of the run may survive it in the container: no process
        # but the launcher (the jail's end killed the rest, and every
        # process of the container is the launcher's to reap), no mount.
        if cgroup_counter(PIDS_NOW) != 1 or mounts() != mounts_before:
            dirty = 1
        # cgroup v1 keeps one peak for the container's life and the
        # container cannot reset it: it is this run's own only if the run
        # raised it. Otherwise the largest of what the loop sampled and the
        # largest process's own peak.
        if memory_before >= 0 and memory_peak > peak_before:
            max_rss_kb = max(max_rss_kb, (memory_peak - memory_before) // 1024)
        elif memory_before >= 0:
            max_rss_kb = max(max_rss_kb, (memory_seen - memory_before) // 1024)
    else:
        # The largest process's peak, or the cgroup's growth over its level
        # before the program started if larger: that counts the memory of
        # processes reaped unseen, and of files left in /tmp.
        max_rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
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
        dirty,
    )
    send(b"S", " ".join(map(str, fields)).encode())
    return reason == b"exit" and sig == 0 and fields[6] <= 0 and not dirty


def main():
    # The program runs under the same uid; without this it could ptrace its
    # PID 1 and forge the status. Non-dumpable needs CAP_SYS_PTRACE to trace,
    # and the container has no capabilities.
    check(LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    # PID 1 of a namespace receives from inside it only the signals it has
    # a handler for. Python's SIGINT handler would let the program raise
    # KeyboardInterrupt here with os.kill(1, SIGINT); ignored, it never
    # arrives. (Python's other dispositions are SIG_IGN already, and the
    # SIGCHLD handler below only wakes the loop.) A jail's init, a fork of
    # this process, inherits it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Failing any of these fails the container's start: no program runs
    # unfiltered or without its CPU limit.
    deny_io_uring()
    if cgroup_counter(CPU_NS) < 0:
        raise RuntimeError("the cgroup's CPU time is not readable under /sys/fs/cgroup: cannot enforce the CPU limit")
    if JAIL and os.uname().machine not in ARCHES:
        raise RuntimeError("jail mode knows no system call numbers for " + os.uname().machine)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    # The first jail is made before the launcher says it is ready: a host
    # that refuses jails fails the container's start.
    jail = prepare_jail() if JAIL else None
    send(b"R", sys.version.split()[0].encode())
    frames = Frames()
    while True:
        request = read_request(frames)
        if request is None:
            return
        if JAIL:
            jail = ready_jail(jail)
        reusable = serve(frames, wake_r, request, jail)
        if not JAIL:
            return
        # The next run's jail, made while the executor reads this one's
        # status, unless the executor is to retire the container. Should
        # that fail, the next request tries again, and fails its run if it
        # fails again.
        jail = None
        if reusable:
            try:
                jail = prepare_jail()
            except (OSError, RuntimeError) as e:
                print("launcher: %s" % e, file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:  # the executor reports it as INTERNAL_ERROR
        print("launcher: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(70)
