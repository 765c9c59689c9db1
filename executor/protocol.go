package executor

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"coderunner"
)

// The wire format between the executor and the launcher (sandbox/launcher.py),
// which is PID 1 of every sandbox container. The executor writes a request
// frame to the container's stdin (one per container in container mode, one
// per run in jail mode); the launcher answers on its stdout in frames, so
// that the program's output, which only ever reaches the launcher through
// pipes, can never pass for a status.

// Frame kinds sent by the launcher.
const (
	frameReady  = 'R' // payload: the interpreter's version
	frameStdout = 'O'
	frameStderr = 'E'
	frameStatus = 'S' // payload: see parseStatus
)

// maxFramePayload bounds what the executor buffers for one frame: the
// launcher sends at most 64 KiB of output per frame, and the container is not
// trusted to keep to that.
const maxFramePayload = 1 << 20

// Frame kinds sent to the launcher.
const (
	frameRequest    = 'Q' // payload: see writeRequest
	frameInput      = 'I' // payload: text for the program's stdin (interactive runs)
	frameCloseInput = 'C' // the program reads end-of-file after what came before
)

// writeRequest sends the program, its stdin, the limits the launcher
// enforces itself and how to run the program, as one request frame whose
// payload is
// "v3 <sourceBytes> <stdinBytes> <cpuLimitMs> <wallLimitMs> <outputLimitBytes> <interactive 0|1> <silentPrompts 0|1>\n",
// the source and the stdin. An interactive request (req.Input set) leaves
// the program's stdin open for input frames; silentPrompts runs it with an
// input() that writes no prompt (req.SilentPrompts). A frame, rather than
// bytes the launcher counts, lets a reused launcher drop input frames that
// arrived after its last run ended. The executor and the launcher always
// ship together (the image is named after the launcher's contents), so the
// launcher knows only the current version.
func writeRequest(w io.Writer, req coderunner.RunRequest) error {
	header := fmt.Sprintf("v3 %d %d %d %d %d %d %d\n", len(req.Code), len(req.Stdin),
		req.TimeLimitMs, req.WallTimeLimitMs, req.OutputLimitBytes, flag(req.Input != nil), flag(req.SilentPrompts))
	if err := writeFrame(w, frameRequest, header+req.Code+req.Stdin); err != nil {
		return fmt.Errorf("send request to launcher: %w", err)
	}
	return nil
}

// flag is a header's 0|1 field.
func flag(set bool) int {
	if set {
		return 1
	}
	return 0
}

// writeFrame sends one frame to the launcher.
func writeFrame(w io.Writer, kind byte, payload string) error {
	var header [5]byte
	header[0] = kind
	binary.BigEndian.PutUint32(header[1:], uint32(len(payload)))
	if _, err := w.Write(header[:]); err != nil {
		return err
	}
	_, err := io.WriteString(w, payload)
	return err
}

// readFrame reads the next frame. io.EOF means the stream ended between frames.
func readFrame(r *bufio.Reader) (kind byte, payload []byte, err error) {
	var header [5]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("launcher stream cut inside a frame header: %w", err)
		}
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(header[1:])
	if size > maxFramePayload {
		return 0, nil, fmt.Errorf("launcher frame of %d bytes exceeds %d", size, maxFramePayload)
	}
	payload = make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("launcher stream cut inside a frame: %w", err)
	}
	return header[0], payload, nil
}

// Why the launcher stopped the program.
const (
	reasonExit   = "exit"   // the program ended by itself
	reasonWall   = "wall"   // the wall-time limit passed
	reasonOutput = "output" // the output limit was reached
	reasonCPU    = "cpu"    // the program's processes together used up the CPU-time limit
)

// launcherStatus is the launcher's report on a finished program, from the
// kernel's own accounting inside the container.
type launcherStatus struct {
	exitCode int // -1 when a signal ended the program
	signal   int
	reason   string
	cpuMs    int64 // user+system time of the program and all it started, from the cgroup
	wallMs   int64
	maxRSSKB int64 // largest peak RSS among its processes, or the cgroup's growth if larger
	oomKills int64 // OOM kills in the container's memory cgroup; -1 if unreadable
	// dirty: something of the run survived it in the container (a process
	// besides the launcher, a mount), or its jail's report was lost.
	// Always false in container mode.
	dirty bool
}

// parseStatus reads "<exitCode> <signal> <reason> <cpuMs> <wallMs> <maxRssKb> <oomKills> <dirty 0|1>".
func parseStatus(payload []byte) (launcherStatus, error) {
	fields := strings.Fields(string(payload))
	if len(fields) != 8 || (fields[7] != "0" && fields[7] != "1") {
		return launcherStatus{}, fmt.Errorf("launcher status %q: want 8 fields, the last 0 or 1", payload)
	}
	var nums [6]int64
	for i, f := range []string{fields[0], fields[1], fields[3], fields[4], fields[5], fields[6]} {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return launcherStatus{}, fmt.Errorf("launcher status %q: %w", payload, err)
		}
		nums[i] = n
	}
	switch fields[2] {
	case reasonExit, reasonWall, reasonOutput, reasonCPU:
	default:
		return launcherStatus{}, fmt.Errorf("launcher status %q: unknown reason", payload)
	}
	return launcherStatus{
		exitCode: int(nums[0]),
		signal:   int(nums[1]),
		reason:   fields[2],
		cpuMs:    nums[2],
		wallMs:   nums[3],
		maxRSSKB: nums[4],
		oomKills: nums[5],
		dirty:    fields[7] == "1",
	}, nil
}
