// Package executor runs untrusted Python programs in hardened Docker
// containers, talking to the engine through its API only.
//
// A warm pool keeps containers started ahead of demand, each with its
// launcher (sandbox/launcher.py) running as PID 1 and waiting for a program
// on the attach stream, so a run pays neither container creation nor start.
//
// In container mode (the default) each container serves exactly one run and
// is then removed. In jail mode a container serves up to Options.JailRuns
// runs, one at a time, each in a fresh jail of Linux namespaces that the
// launcher builds inside it, and is retired at once after any run that hit
// a limit, was killed by a signal, left anything behind or broke the
// protocol: a run costs a few forks instead of a container's life.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"coderunner"
)

// NewClient connects to the engine named by the environment (DOCKER_HOST and
// friends, else the local socket), negotiating the API version so that an
// older engine — Debian 12's docker.io speaks API 1.41 — works too.
func NewClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// Options configure an Executor. Zero values take the defaults.
type Options struct {
	// Image is the sandbox image; default ImageRef().
	Image string
	// PoolSize is how many started containers wait for a run; default 2.
	PoolSize int
	// PoolName labels this executor's containers. At start-up the executor
	// removes every container left with its name by a predecessor that
	// crashed, so executors sharing an engine need distinct names. Default:
	// the host name.
	PoolName string
	// MemoryMB is the memory limit pool containers are started with; a run
	// that asks for another limit pays one update call. Default
	// coderunner.DefaultMemoryMB.
	MemoryMB int
	// Mode is how runs are isolated from each other; default
	// ModeContainer. ModeJail is used only where the start-up probe finds
	// that it works (see Executor.Mode).
	Mode Mode
	// JailRuns is how many runs a jail-mode container serves at most;
	// default DefaultJailRuns.
	JailRuns int
	Logger   *slog.Logger
}

// Mode is how an executor isolates runs from each other.
type Mode string

const (
	// ModeContainer gives each run a fresh container.
	ModeContainer Mode = "container"
	// ModeJail gives each run a fresh jail of namespaces inside a reused
	// container.
	ModeJail Mode = "jail"
)

// ParseMode reads CODERUNNER_SANDBOX's value; empty is ModeContainer.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeContainer:
		return ModeContainer, nil
	case ModeJail:
		return ModeJail, nil
	}
	return "", fmt.Errorf("sandbox mode %q: want %q or %q", s, ModeContainer, ModeJail)
}

// DefaultJailRuns bounds how long a jail-mode container lives: long enough
// that its start is spread thin over its runs, short enough that nothing a
// run could leave unnoticed (page cache, a kernel object the launcher does
// not check) stays for long.
const DefaultJailRuns = 50

// Executor implements coderunner.Sandbox with the Docker engine.
type Executor struct {
	cli      client.APIClient
	opts     Options
	log      *slog.Logger
	pool     *pool
	removals sync.WaitGroup
	// mode is the mode in effect: Options.Mode, unless jail mode failed
	// its probe.
	mode        Mode
	jailProfile string // the seccomp profile of jail-mode containers, as JSON
	// tookContainer, if set, is told which container each run got (tests).
	tookContainer func(id string)
}

var _ coderunner.Sandbox = (*Executor)(nil)

// wallGrace is how long past the wall-time limit the executor waits for the
// launcher to stop the program and report, before it kills the container
// itself.
const wallGrace = 2 * time.Second

// killGrace is how long after killing a container the executor waits for
// its attach stream to end. A kill that failed or hung (an engine in
// trouble) would otherwise leave the run reading a stream that never ends.
const killGrace = 3 * time.Second

// othersGrace is how long another pool's created or stopped container is
// left alone at start-up: its executor may be starting it, or asking the
// engine how its run ended (an OOM kill of the launcher).
const othersGrace = time.Minute

// New checks that the sandbox image is there, removes containers leaked by
// a previous executor of the same pool name and starts filling the pool.
func New(ctx context.Context, cli client.APIClient, opts Options) (*Executor, error) {
	if opts.Image == "" {
		opts.Image = ImageRef()
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 2
	}
	if opts.PoolName == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("pool name from host name: %w", err)
		}
		opts.PoolName = host
	}
	if opts.MemoryMB == 0 {
		opts.MemoryMB = coderunner.DefaultMemoryMB
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Mode == "" {
		opts.Mode = ModeContainer
	}
	if opts.JailRuns <= 0 {
		opts.JailRuns = DefaultJailRuns
	}
	e := &Executor{cli: cli, opts: opts, log: opts.Logger.With("pool", opts.PoolName), mode: ModeContainer}
	if _, err := cli.ImageInspect(ctx, opts.Image); err != nil {
		return nil, fmt.Errorf("sandbox image %s (build it with `coderunner image build`): %w", opts.Image, err)
	}
	if err := e.removeLeaked(ctx); err != nil {
		return nil, err
	}
	if opts.Mode == ModeJail {
		if err := e.probeJail(ctx); err != nil {
			e.mode = ModeContainer
			e.log.Warn("sandbox: jail mode does not work on this host; falling back to container mode (a fresh container per run)", "err", err)
		} else {
			e.log.Info("sandbox: jail mode", "runsPerContainer", opts.JailRuns)
		}
		e.removals.Wait()
	}
	e.pool = startPool(opts.PoolSize, e.startContainer, e.remove, e.log)
	return e, nil
}

// Mode is the mode in effect: ModeJail only if it was asked for and its
// probe passed at start-up.
func (e *Executor) Mode() Mode { return e.mode }

// jailProfile is jailSeccompProfile; tests replace it to see the probe fail.
var jailProfile = jailSeccompProfile

// jailProbe is what the start-up probe runs, twice in one container: its
// PID and uid inside the jail, the processes its /proc shows, and that the
// first run's file is gone.
const jailProbe = `import os
print(os.getpid(), os.getuid(), sorted(os.listdir("/proc")), sorted(os.listdir("/tmp")))
open("/tmp/left", "w").close()`

// probeJail starts one jail-mode container and runs jailProbe in it twice:
// jail mode works here only if both runs complete as they should and the
// container stays reusable. A host whose kernel, seccomp or security
// module refuses the jail (no unprivileged user namespaces, Ubuntu's
// kernel.apparmor_restrict_unprivileged_userns=1, no subset=pid /proc
// before Linux 5.8) fails it.
func (e *Executor) probeJail(ctx context.Context) (err error) {
	if e.jailProfile, err = jailProfile(); err != nil {
		return err
	}
	e.mode = ModeJail
	c, err := e.startContainer(ctx, 0)
	if err != nil {
		return err
	}
	defer e.remove(c)
	req, err := coderunner.RunRequest{Code: jailProbe}.Normalize()
	if err != nil {
		return err
	}
	const want = "2 65534 ['1', '2', 'self', 'thread-self'] ['main.py']\n"
	for i := range 2 {
		res, reusable, err := e.runIn(ctx, c, req, nil)
		if err != nil {
			return fmt.Errorf("probe run %d: %w", i+1, err)
		}
		if res.Status != coderunner.StatusCompleted || res.Stdout != want || !reusable {
			return fmt.Errorf("probe run %d: %s, reusable %v, stdout %q (want %q), stderr %.300q", i+1, res.Status, reusable, res.Stdout, want, res.Stderr)
		}
	}
	return nil
}

// removeLeaked removes this pool's containers, running or not, which only a
// crashed predecessor can have left, and every sandbox container of another
// pool that was created or stopped more than othersGrace ago: a stopped one
// has served its run (or lost its executor, whose attach closing ends the
// launcher), so once its executor is done with it nothing will use it.
func (e *Executor) removeLeaked(ctx context.Context) error {
	seen := map[string]bool{}
	for _, f := range []filters.Args{
		filters.NewArgs(filters.Arg("label", labelPool+"="+e.opts.PoolName)),
		filters.NewArgs(filters.Arg("label", labelSandbox), filters.Arg("status", "exited"), filters.Arg("status", "dead"), filters.Arg("status", "created")),
	} {
		list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list leaked sandbox containers: %w", err)
		}
		for _, c := range list {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			if c.Labels[labelPool] != e.opts.PoolName && e.othersMayUse(ctx, c) {
				continue
			}
			err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			// Conflict: another executor starting at the same time is
			// removing it already ("removal … is already in progress").
			if err != nil && !isNotFound(err) && !cerrdefs.IsConflict(err) {
				return fmt.Errorf("remove leaked sandbox container %s: %w", shortID(c.ID), err)
			}
		}
	}
	if len(seen) > 0 {
		e.log.Info("removed leaked sandbox containers", "count", len(seen))
	}
	return nil
}

// othersMayUse reports whether another pool's created or stopped container
// may still be in its executor's hands.
func (e *Executor) othersMayUse(ctx context.Context, c container.Summary) bool {
	if ownerGone(c.Labels[labelOwner]) {
		return false
	}
	if c.State == "created" {
		return time.Since(time.Unix(c.Created, 0)) < othersGrace
	}
	info, err := e.cli.ContainerInspect(ctx, c.ID)
	if err != nil || info.State == nil {
		return true // gone already, or unknown: the next start-up will see
	}
	finished, err := time.Parse(time.RFC3339Nano, info.State.FinishedAt)
	return err != nil || time.Since(finished) < othersGrace
}

// thisProcess names the executor's process in its containers' labels.
var thisProcess = ownerLabel(os.Getpid())

// ownerLabel names process pid of this host and PID namespace: host name,
// PID namespace and pid, so that a pid is only ever looked up where it
// means the same process (workers in containers may share a host name).
func ownerLabel(pid int) string {
	host, _ := os.Hostname()
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return host + "/" + ns + "/" + strconv.Itoa(pid)
}

// ownerGone reports whether owner (a container's labelOwner) was a process
// of this host and PID namespace that has exited: a worker killed or
// crashed, whose containers are nobody's to inspect any more, whatever
// their age.
func ownerGone(owner string) bool {
	i := strings.LastIndexByte(owner, '/')
	pid, err := strconv.Atoi(owner[i+1:])
	if i < 0 || err != nil || pid <= 0 || owner != ownerLabel(pid) || owner == thisProcess {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// WarmContainers is how many started containers wait for a run now: the
// pool size when demand is low, 0 when runs wait for containers to start.
func (e *Executor) WarmContainers() int { return int(e.pool.waiting.Load()) }

// Close stops refilling the pool and removes every container the executor
// made, waiting until they are gone.
func (e *Executor) Close() error {
	e.pool.close()
	e.removals.Wait()
	return nil
}

// Run runs one program in a fresh container from the pool, or in jail mode
// in a fresh jail in a container from the pool. See coderunner.Sandbox.
func (e *Executor) Run(ctx context.Context, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (coderunner.RunResult, error) {
	req, err := req.Normalize()
	if err != nil {
		return coderunner.RunResult{}, err
	}
	c, err := e.pool.get(ctx)
	if err != nil {
		return notCarriedOut(ctx, fmt.Errorf("waiting for a sandbox: %w", err))
	}
	if e.tookContainer != nil {
		e.tookContainer(c.id)
	}
	reuse := false
	defer func() {
		if !reuse {
			e.remove(c)
		}
		e.pool.release(c, reuse)
	}()
	if req.MemoryMB != c.memoryMB {
		memory := int64(req.MemoryMB) << 20
		_, err := e.cli.ContainerUpdate(ctx, c.id, container.UpdateConfig{Resources: container.Resources{Memory: memory, MemorySwap: memory}})
		if err != nil {
			return notCarriedOut(ctx, fmt.Errorf("set sandbox memory to %d MB: %w", req.MemoryMB, err))
		}
		c.memoryMB = req.MemoryMB
	}
	res, reusable, err := e.runIn(ctx, c, req, onOutput)
	c.runs++
	reuse = reusable && e.mode == ModeJail && c.runs < e.opts.JailRuns
	return res, err
}

// Why the executor itself killed a container.
type killReason int

const (
	notKilled killReason = iota
	killedCancelled
	killedWallTime
	killedOutput
	runOver
)

// runIn delivers req to c's launcher and follows the run to its end. In
// jail mode, reusable says whether c may serve another run: the run ended
// by itself, normally (an exit code, no signal, no limit), left nothing
// behind, and the launcher is waiting for the next request.
func (e *Executor) runIn(ctx context.Context, c *warmContainer, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (res coderunner.RunResult, reusable bool, err error) {
	res, st, err := e.follow(ctx, c, req, onOutput)
	reusable = err == nil && st != nil && !st.dirty && st.reason == reasonExit && st.signal == 0 && st.oomKills == 0 &&
		(res.Status == coderunner.StatusCompleted || res.Status == coderunner.StatusRuntimeError) && c.waiting()
	return res, reusable, err
}

// follow delivers req to c's launcher and follows the run to its end. The
// launcher's status is nil when the run ended without one or the executor
// killed the container.
func (e *Executor) follow(ctx context.Context, c *warmContainer, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (_ coderunner.RunResult, reported *launcherStatus, _ error) {
	started := time.Now()
	var (
		mu     sync.Mutex
		killed = notKilled
	)
	killFor := func(reason killReason) {
		mu.Lock()
		first := killed == notKilled
		if first {
			killed = reason
		}
		mu.Unlock()
		if first {
			e.kill(c)
			// A kill ends the stream within moments; one that failed or
			// hung may not, and readFrame has no deadline of its own.
			c.conn.Conn.SetReadDeadline(time.Now().Add(killGrace))
		}
	}
	// The launcher enforces the wall-time limit and reports; these make sure
	// of it from outside the sandbox, and honour the caller's cancellation.
	backstop := time.AfterFunc(time.Duration(req.WallTimeLimitMs)*time.Millisecond+wallGrace, func() { killFor(killedWallTime) })
	defer backstop.Stop()
	stopCancel := context.AfterFunc(ctx, func() { killFor(killedCancelled) })
	defer stopCancel()

	if err := writeRequest(c.conn.Conn, req); err != nil {
		res, err := notCarriedOut(ctx, fmt.Errorf("sandbox %s: %w", shortID(c.id), err))
		return res, nil, err
	}
	jail := c.back != nil
	// inputDone is closed once nothing more will be written to c's stdin
	// for this run: a reused launcher reads its next request there.
	inputDone := make(chan struct{})
	switch {
	case req.Input != nil:
		runOver := make(chan struct{})
		go func() {
			defer close(inputDone)
			e.forwardInput(c, req.Input, runOver, !jail)
		}()
		defer func() {
			close(runOver)
			if !jail {
				return
			}
			select {
			case <-inputDone:
			case <-time.After(killGrace):
				// Stuck writing to a launcher that does not read: not
				// reusable (see runIn).
				reported = nil
			}
		}()
	case !jail:
		if err := c.conn.CloseWrite(); err != nil {
			res, err := notCarriedOut(ctx, fmt.Errorf("sandbox %s: close stdin: %w", shortID(c.id), err))
			return res, nil, err
		}
	}

	out := &outputCollector{limit: req.OutputLimitBytes, onOutput: onOutput}
	var (
		status    launcherStatus
		gotStatus bool
		streamErr error
	)
	for !gotStatus && streamErr == nil {
		kind, payload, err := readFrame(c.frames)
		if err != nil {
			streamErr = err
			break
		}
		switch kind {
		case frameStdout, frameStderr:
			stream := coderunner.StreamStdout
			if kind == frameStderr {
				stream = coderunner.StreamStderr
			}
			if !out.add(stream, payload) {
				// The launcher stops at the limit itself; a container that
				// sends more is not to be trusted any further.
				killFor(killedOutput)
			}
		case frameStatus:
			status, streamErr = parseStatus(payload)
			gotStatus = streamErr == nil
		default:
			streamErr = fmt.Errorf("unexpected launcher frame %q", kind)
		}
	}
	wall := time.Since(started)

	mu.Lock()
	reason := killed
	killed = runOver // a cancellation from now on changes nothing
	mu.Unlock()
	res := coderunner.RunResult{
		ExitCode:  -1,
		Stdout:    out.stdout.String(),
		Stderr:    out.stderr.String(),
		Truncated: out.truncated,
		WallMs:    wall.Milliseconds(),
	}
	if gotStatus {
		// The launcher cuts the output at the limit itself.
		res.Truncated = res.Truncated || status.reason == reasonOutput
		res.ExitCode, res.Signal = status.exitCode, status.signal
		res.WallMs, res.CPUMs, res.MemoryKB = status.wallMs, status.cpuMs, status.maxRSSKB
	}
	switch {
	case reason == killedCancelled:
		res.Status = coderunner.StatusCancelled
		return res, nil, fmt.Errorf("run cancelled: %w", context.Cause(ctx))
	case !gotStatus && errors.Is(streamErr, os.ErrDeadlineExceeded) && !e.stopped(c):
		// killFor cut the stream and the kill did not stop the container,
		// so nothing is known of how the run ended. (A container that did
		// stop, with an engine merely slow to end the stream, ends by the
		// kill's reason below.)
		res.Status = coderunner.StatusInternalError
		return res, nil, fmt.Errorf("sandbox %s did not stop within %s of being killed: %w", shortID(c.id), killGrace, streamErr)
	case reason == killedWallTime:
		res.Status = coderunner.StatusTimeLimitExceeded
		return res, nil, nil
	case reason == killedOutput:
		res.Status = coderunner.StatusOutputLimitExceeded
		return res, nil, nil
	case !gotStatus:
		// The launcher died without a word. The kernel's OOM killer is the
		// one thing in the sandbox that may take it; anything else is ours.
		if e.oomKilled(c) {
			// The kernel chose the launcher, PID 1: its death took the
			// program with it, by SIGKILL, as if chosen itself.
			res.Status, res.Signal = coderunner.StatusMemoryLimitExceeded, int(syscall.SIGKILL)
			return res, nil, nil
		}
		res.Status = coderunner.StatusInternalError
		return res, nil, fmt.Errorf("sandbox %s ended without a status (launcher said %q): %w", shortID(c.id), c.launcherLog, streamErr)
	}
	res.Status = classify(status, req, func() bool { return e.oomKilled(c) })
	return res, &status, nil
}

// forwardInput sends an interactive run's input to its launcher as it
// arrives, and closes the program's stdin when input is closed (and c's
// stdin too, if closeStdin: in container mode, nothing follows). Errors end
// it quietly: they mean the run is over.
func (e *Executor) forwardInput(c *warmContainer, input <-chan string, runOver <-chan struct{}, closeStdin bool) {
	for {
		select {
		case <-runOver:
			return
		case text, ok := <-input:
			if !ok {
				if writeFrame(c.conn.Conn, frameCloseInput, "") == nil && closeStdin {
					c.conn.CloseWrite()
				}
				return
			}
			if writeFrame(c.conn.Conn, frameInput, text) != nil {
				return
			}
		}
	}
}

// classify maps the launcher's report to the run's outcome. engineOOM asks
// the engine, and is called only when the cgroup's own OOM counter was not
// readable inside the container.
func classify(st launcherStatus, req coderunner.RunRequest, engineOOM func() bool) coderunner.RunStatus {
	killedBySIGKILL := st.signal == int(syscall.SIGKILL)
	switch {
	case st.oomKills > 0, st.oomKills < 0 && killedBySIGKILL && engineOOM():
		return coderunner.StatusMemoryLimitExceeded
	case st.reason == reasonWall, st.reason == reasonCPU, st.signal == int(syscall.SIGXCPU), st.cpuMs > int64(req.TimeLimitMs):
		return coderunner.StatusTimeLimitExceeded
	case st.reason == reasonOutput:
		return coderunner.StatusOutputLimitExceeded
	case st.exitCode == 0 && st.signal == 0:
		return coderunner.StatusCompleted
	default:
		return coderunner.StatusRuntimeError
	}
}

// stopped reports whether the engine says c's container is no longer
// running (a paused one still is).
func (e *Executor) stopped(c *warmContainer) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := e.cli.ContainerInspect(ctx, c.id)
	return err == nil && info.State != nil && !info.State.Running
}

// oomKilled asks the engine whether the kernel OOM-killed a process of c,
// once the container has stopped (the engine records it from the cgroup's
// OOM events).
func (e *Executor) oomKilled(c *warmContainer) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitC, errC := e.cli.ContainerWait(ctx, c.id, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		e.log.Warn("wait for sandbox container", "container", shortID(c.id), "err", err)
	}
	info, err := e.cli.ContainerInspect(ctx, c.id)
	if err != nil {
		// NotFound: removed before it could be asked (removeLeaked spares
		// other pools' containers for othersGrace, so not by a peer's
		// start-up); the run is then reported as not understood.
		e.log.Warn("inspect sandbox container for an OOM kill", "container", shortID(c.id), "err", err)
		return false
	}
	return info.State != nil && info.State.OOMKilled
}

// notCarriedOut is the result of a run that never got going: cancelled if
// ctx ended, which may be what broke it, else our fault.
func notCarriedOut(ctx context.Context, err error) (coderunner.RunResult, error) {
	if ctx.Err() != nil {
		return coderunner.RunResult{Status: coderunner.StatusCancelled, ExitCode: -1}, fmt.Errorf("run cancelled: %w (%w)", context.Cause(ctx), err)
	}
	return coderunner.RunResult{Status: coderunner.StatusInternalError, ExitCode: -1}, err
}

// imageTag is the part of an image reference after the last colon.
func imageTag(ref string) string {
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		return ref[i+1:]
	}
	return ref
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// isNotRunning recognises the engine's answer to killing a container that
// has already stopped.
func isNotRunning(err error) bool { return cerrdefs.IsConflict(err) }
