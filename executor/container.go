package executor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-units"

	"coderunner"
)

// Labels on every sandbox container, for clean-up after a crash.
const (
	labelSandbox = "coderunner.sandbox" // value: the image definition's tag
	labelPool    = "coderunner.pool"    // value: Options.PoolName
	labelOwner   = "coderunner.owner"   // value: the executor's process, host/pid (see ownerGone)
)

// Fixed shape of a sandbox container. Per-run limits (CPU time, wall time,
// output) are enforced by the launcher and the executor; memory is set per
// container and changed before a run that asks for another amount.
const (
	tmpSizeBytes = 16 << 20 // the only writable place; also the largest file
	pidsLimit    = 64       // processes and threads, launcher included
	openFiles    = 64
	// oomScoreAdj makes sandboxed processes the host's first choice should
	// the host itself run out of memory.
	oomScoreAdj = 500
	// readyTimeout bounds a container's start, up to the launcher's READY.
	readyTimeout = 30 * time.Second
	// exitWait bounds the wait for a container to stop by itself before it
	// is removed by force.
	exitWait = 2 * time.Second
)

// sandboxConfig is the configuration of every sandbox container: nothing in
// it comes from the worker's environment, and nothing from the host is
// mounted. Jail mode changes the launcher's environment, the seccomp
// profile and Docker's masked paths, and only these (see the end), and
// startContainer gives each slot a host uid of its own.
func (e *Executor) sandboxConfig(memoryMB int) (*container.Config, *container.HostConfig) {
	memory := int64(memoryMB) << 20
	pids := int64(pidsLimit)
	cfg := &container.Config{
		Image:    e.opts.Image,
		User:     "65534:65534",
		Hostname: "sandbox",
		// The launcher's environment; the program gets its own, smaller one.
		Env:             []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"},
		WorkingDir:      "/tmp",
		AttachStdin:     true,
		AttachStdout:    true,
		AttachStderr:    true,
		OpenStdin:       true,
		StdinOnce:       true, // stdin closes when the executor's attach does
		NetworkDisabled: true,
		Labels:          map[string]string{labelSandbox: imageTag(e.opts.Image), labelPool: e.opts.PoolName, labelOwner: thisProcess},
	}
	host := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		Tmpfs: map[string]string{
			"/tmp": "rw,nosuid,nodev,noexec,mode=1777,size=" + strconv.Itoa(tmpSizeBytes),
		},
		// No /dev/shm: /tmp stays the only writable place.
		IpcMode: "none",
		// The launcher reads the container's CPU time and memory at the root
		// of /sys/fs/cgroup, which is the container's own cgroup only in a
		// cgroup namespace of its own (the default with cgroup v2, not v1).
		CgroupnsMode: container.CgroupnsModePrivate,
		CapDrop:      []string{"ALL"},
		SecurityOpt:  []string{"no-new-privileges"}, // the default seccomp profile stays on
		LogConfig:    container.LogConfig{Type: "none"},
		OomScoreAdj:  oomScoreAdj,
		Resources: container.Resources{
			Memory:     memory,
			MemorySwap: memory, // equal to Memory: no swap
			NanoCPUs:   1e9,
			PidsLimit:  &pids,
			Ulimits: []*units.Ulimit{
				{Name: "nofile", Soft: openFiles, Hard: openFiles},
				{Name: "fsize", Soft: tmpSizeBytes, Hard: tmpSizeBytes},
				{Name: "core", Soft: 0, Hard: 0},
				{Name: "msgqueue", Soft: 0, Hard: 0},
			},
		},
	}
	if e.mode == ModeJail {
		// The launcher serves runs one after another, each in a jail of
		// its own (sandbox/launcher.py).
		cfg.Env = append(cfg.Env, "CODERUNNER_LAUNCHER_MODE=jail")
		// Docker's default profile plus unshare and mount, for the
		// launcher alone (see jailProfileAdditions).
		host.SecurityOpt = append(host.SecurityOpt, "seccomp="+e.jailProfile)
		// What `--security-opt systempaths=unconfined` sets. Docker hides
		// parts of /proc and /sys under extra mounts (and makes others
		// read-only the same way), and the kernel refuses a new /proc in a
		// user namespace while any part of the old one is covered so
		// (mount_too_revealing). The jail's /proc shows only the jail's
		// processes (subset=pid: no /proc/sys, kcore, keys, timer_list…)
		// and the jail hides /sys/firmware again itself. The launcher
		// sees the uncovered files, but as an unprivileged user without
		// capabilities: the ones that matter are root's.
		host.MaskedPaths = []string{}
		host.ReadonlyPaths = []string{}
	}
	return cfg, host
}

// Host uids of jail-mode slots: jailUIDBase + 1000 × (a hash of the pool's
// name, below jailUIDPools) + the slot. Each slot's container runs as a host
// uid of its own, so that per-user kernel limits (inotify instances, user
// namespaces, …) are not shared between slots, nor (but for a hash
// collision) between executors on one host. Inside each jail the program
// is 65534 whatever the host uid (see enter_jail in sandbox/launcher.py).
// Container mode keeps 65534: its containers live for one run.
const (
	jailUIDBase  = 2_000_000
	jailUIDPools = 1000
	jailUIDSlots = 1000 // pool sizes stay far below
)

// slotUser is the host "uid:gid" of jail-mode slot slot.
func (e *Executor) slotUser(slot int) string {
	h := fnv.New32a()
	h.Write([]byte(e.opts.PoolName))
	uid := jailUIDBase + int(h.Sum32()%jailUIDPools)*jailUIDSlots + slot%jailUIDSlots
	return fmt.Sprintf("%d:%d", uid, uid)
}

// warmContainer is a started sandbox container whose launcher is waiting for
// its one program, with the attach stream already open.
type warmContainer struct {
	id       string
	memoryMB int
	conn     types.HijackedResponse
	frames   *bufio.Reader // the launcher's stdout, demultiplexed
	// streamEnded is closed when the attach stream ends: a container that
	// was killed, or lost with an engine restart, while it waited.
	streamEnded chan struct{}
	// launcherLog keeps the start of the launcher's own stderr, for the
	// error when it fails.
	launcherLog *limitedBuffer
	// back, in jail mode, takes the container back to the pool slot that
	// started it after each run: true to serve another run, false when it
	// has been retired. Nil in container mode: one run, then removal.
	back chan bool
	runs int // runs served, in jail mode
}

// startContainer creates, attaches to and starts a sandbox container, and
// waits for its launcher to be ready. On error nothing is left running.
func (e *Executor) startContainer(ctx context.Context, slot int) (c *warmContainer, err error) {
	// Once the create is sent the container may exist, whatever ctx does:
	// finish the sequence, within a bound, so that the container is either
	// handed over or removed, never lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	cfg, host := e.sandboxConfig(e.opts.MemoryMB)
	if e.mode == ModeJail {
		cfg.User = e.slotUser(slot)
	}
	created, err := e.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("create sandbox container: %w", err)
	}
	c = &warmContainer{id: created.ID, memoryMB: e.opts.MemoryMB, launcherLog: &limitedBuffer{max: 4 << 10}, streamEnded: make(chan struct{})}
	if e.mode == ModeJail {
		c.back = make(chan bool, 1)
	}
	defer func() {
		if err != nil {
			e.remove(c)
		}
	}()
	// Attach before start, as `docker run` does, so no byte is missed.
	c.conn, err = e.cli.ContainerAttach(ctx, c.id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return c, fmt.Errorf("attach to sandbox container: %w", err)
	}
	stdout, toFrames := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(toFrames, c.launcherLog, c.conn.Reader)
		toFrames.CloseWithError(err) // nil: io.EOF for the frame reader
		close(c.streamEnded)
	}()
	c.frames = bufio.NewReaderSize(stdout, 64<<10)
	if err := e.cli.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return c, fmt.Errorf("start sandbox container: %w", err)
	}

	if err := c.conn.Conn.SetReadDeadline(time.Now().Add(readyTimeout)); err != nil {
		return c, fmt.Errorf("set ready deadline: %w", err)
	}
	kind, payload, err := readFrame(c.frames)
	if err != nil || kind != frameReady {
		return c, fmt.Errorf("sandbox launcher not ready (frame %q %q, launcher said %q): %w", kind, payload, c.launcherLog, err)
	}
	if err := c.conn.Conn.SetReadDeadline(time.Time{}); err != nil {
		return c, fmt.Errorf("clear ready deadline: %w", err)
	}
	return c, nil
}

// waiting reports whether c's launcher is still there, waiting for a run.
func (c *warmContainer) waiting() bool {
	select {
	case <-c.streamEnded:
		return false
	default:
		return true
	}
}

// remove force-removes c's container in the background: the run's result
// does not wait for it, but Close does.
func (e *Executor) remove(c *warmContainer) {
	if c.conn.Conn != nil {
		c.conn.Close()
	}
	e.removals.Add(1)
	go func() {
		defer e.removals.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The launcher exits by itself once it has reported, or once its
		// stdin closes; waiting for that lets the engine remove a stopped
		// container rather than kill a running one.
		waitCtx, cancelWait := context.WithTimeout(ctx, exitWait)
		waitC, errC := e.cli.ContainerWait(waitCtx, c.id, container.WaitConditionNotRunning)
		select {
		case <-waitC:
		case <-errC:
		}
		cancelWait()
		err := e.cli.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !isNotFound(err) {
			e.log.Warn("remove sandbox container", "container", shortID(c.id), "err", err)
		}
	}()
}

// kill stops every process of c at once. The context is its own, because
// the run's context may be the reason for the kill.
func (e *Executor) kill(c *warmContainer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cli.ContainerKill(ctx, c.id, "KILL"); err != nil && !isNotFound(err) && !isNotRunning(err) {
		e.log.Warn("kill sandbox container", "container", shortID(c.id), "err", err)
	}
}

// outputCollector keeps a run's output up to the limit and hands each chunk
// to the caller as it arrives.
type outputCollector struct {
	limit          int
	stdout, stderr bytes.Buffer
	truncated      bool
	onOutput       coderunner.OutputFunc
}

// add records a chunk and reports whether the limit still holds.
func (o *outputCollector) add(stream coderunner.OutputStream, data []byte) bool {
	room := o.limit - o.stdout.Len() - o.stderr.Len()
	if len(data) > room {
		data = data[:max(room, 0)]
		o.truncated = true
	}
	if len(data) > 0 {
		if stream == coderunner.StreamStdout {
			o.stdout.Write(data)
		} else {
			o.stderr.Write(data)
		}
		if o.onOutput != nil {
			o.onOutput(coderunner.OutputChunk{Stream: stream, Data: data})
		}
	}
	return !o.truncated
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p[:min(len(p), max(b.max-b.buf.Len(), 0))])
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func shortID(id string) string { return id[:min(len(id), 12)] }
