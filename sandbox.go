package coderunner

import "context"

// RunStatus is where a run is in its life and, once finished, how it ended.
// A finished run has exactly one of the terminal statuses.
type RunStatus string

const (
	StatusQueued  RunStatus = "QUEUED"
	StatusRunning RunStatus = "RUNNING"
	// StatusCompleted: the program exited with code 0 within every limit.
	StatusCompleted RunStatus = "COMPLETED"
	// StatusRuntimeError: a non-zero exit code or a fatal signal that no
	// limit explains; RunResult.ExitCode or RunResult.Signal says which.
	StatusRuntimeError        RunStatus = "RUNTIME_ERROR"
	StatusTimeLimitExceeded   RunStatus = "TIME_LIMIT_EXCEEDED"
	StatusMemoryLimitExceeded RunStatus = "MEMORY_LIMIT_EXCEEDED"
	StatusOutputLimitExceeded RunStatus = "OUTPUT_LIMIT_EXCEEDED"
	StatusCancelled           RunStatus = "CANCELLED"
	// StatusInternalError is our fault, never the program's.
	StatusInternalError RunStatus = "INTERNAL_ERROR"
)

// Finished reports whether s is a terminal status.
func (s RunStatus) Finished() bool {
	return s != StatusQueued && s != StatusRunning
}

// Limits on a sandboxed run besides DefaultTimeLimitMs, MaxTimeLimitMs,
// DefaultMemoryMB and MaxMemoryMB, which problems share.
const (
	// MinMemoryMB leaves room for the interpreter itself (about 10 MB).
	MinMemoryMB = 32
	// The wall-time limit defaults to twice the CPU-time limit plus a
	// second, so a program that sleeps or waits a little is not cut short,
	// and is never more than MaxWallTimeLimitMs.
	MaxWallTimeLimitMs      = 30_000
	DefaultOutputLimitBytes = 64 << 10
	MaxOutputLimitBytes     = 1 << 20
	MaxSourceBytes          = 2 << 20
	MaxStdinBytes           = 1 << 20
)

// RunRequest is one program to run in the sandbox. Zero limits take their
// defaults; Normalize fills them in and rejects what is out of range.
type RunRequest struct {
	// Code is the Python 3 source of the program.
	Code string `json:"code"`
	// Stdin is the program's whole standard input; it reads end-of-file after.
	Stdin string `json:"stdin"`
	// TimeLimitMs bounds the CPU time of the program and everything it starts.
	TimeLimitMs int `json:"timeLimitMs"`
	// WallTimeLimitMs bounds the time from start to exit, sleeping included.
	WallTimeLimitMs int `json:"wallTimeLimitMs"`
	// MemoryMB bounds the memory of the whole sandbox (program, its files in
	// /tmp and the few MB of the launcher that runs it), without swap.
	MemoryMB int `json:"memoryMb"`
	// OutputLimitBytes bounds stdout and stderr together.
	OutputLimitBytes int `json:"outputLimitBytes"`
	// Input, if not nil, keeps standard input open after Stdin: text
	// received from it is typed into the program as it arrives, and the
	// program reads end-of-file once it is closed. Nil: end-of-file
	// right after Stdin.
	Input <-chan string `json:"-"`
	// SilentPrompts: input()'s prompt is not written to stdout, for grading,
	// where stdout must hold only what the program prints; the program still
	// reads its line. See docs/sandbox.md, "Silent prompts".
	SilentPrompts bool `json:"silentPrompts"`
}

// Normalize returns r with defaults in place of zero limits, or a
// BAD_USER_INPUT error naming the first value out of range.
func (r RunRequest) Normalize() (RunRequest, error) {
	if r.TimeLimitMs == 0 {
		r.TimeLimitMs = DefaultTimeLimitMs
	}
	if r.WallTimeLimitMs == 0 {
		r.WallTimeLimitMs = min(2*r.TimeLimitMs+1000, MaxWallTimeLimitMs)
	}
	if r.MemoryMB == 0 {
		r.MemoryMB = DefaultMemoryMB
	}
	if r.OutputLimitBytes == 0 {
		r.OutputLimitBytes = DefaultOutputLimitBytes
	}
	switch {
	case r.TimeLimitMs < 0 || r.TimeLimitMs > MaxTimeLimitMs:
		return r, Errorf(BadUserInput, "time limit %d ms is out of range: give 1 to %d ms", r.TimeLimitMs, MaxTimeLimitMs)
	case r.WallTimeLimitMs < 0 || r.WallTimeLimitMs > MaxWallTimeLimitMs:
		return r, Errorf(BadUserInput, "wall-time limit %d ms is out of range: give 1 to %d ms", r.WallTimeLimitMs, MaxWallTimeLimitMs)
	case r.MemoryMB < MinMemoryMB || r.MemoryMB > MaxMemoryMB:
		return r, Errorf(BadUserInput, "memory limit %d MB is out of range: give %d to %d MB", r.MemoryMB, MinMemoryMB, MaxMemoryMB)
	case r.OutputLimitBytes < 0 || r.OutputLimitBytes > MaxOutputLimitBytes:
		return r, Errorf(BadUserInput, "output limit %d bytes is out of range: give 1 to %d bytes", r.OutputLimitBytes, MaxOutputLimitBytes)
	case len(r.Code) > MaxSourceBytes:
		return r, Errorf(BadUserInput, "the program is %d bytes; the most is %d", len(r.Code), MaxSourceBytes)
	case len(r.Stdin) > MaxStdinBytes:
		return r, Errorf(BadUserInput, "stdin is %d bytes; the most is %d", len(r.Stdin), MaxStdinBytes)
	}
	return r, nil
}

// RunResult is how a run ended and what it cost.
type RunResult struct {
	Status RunStatus `json:"status"`
	// ExitCode is the program's exit code, or -1 if a signal ended it.
	ExitCode int `json:"exitCode"`
	// Signal is the number of the signal that ended the program, or 0.
	Signal int `json:"signal"`
	// Stdout and Stderr are the bytes the program wrote, exactly (not
	// necessarily UTF-8), up to the output limit. The worker makes them
	// valid UTF-8 (U+FFFD for invalid bytes) before storing them.
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// Truncated is set when output past the limit was dropped.
	Truncated bool  `json:"truncated"`
	WallMs    int64 `json:"wallMs"`
	// CPUMs is the CPU time of all the program's processes together, as
	// the container's cgroup counts it. MemoryKB is the peak resident
	// memory of the largest process the program ran, or the cgroup's
	// growth over the run if that is larger.
	CPUMs    int64 `json:"cpuMs"`
	MemoryKB int64 `json:"memoryKb"`
}

// OutputStream names the stream an OutputChunk was written to.
type OutputStream string

const (
	StreamStdout OutputStream = "stdout"
	StreamStderr OutputStream = "stderr"
)

// OutputChunk is a piece of a program's output as it was produced. Chunks
// are raw bytes: a multi-byte UTF-8 character may be split between two.
type OutputChunk struct {
	Stream OutputStream
	Data   []byte
}

// OutputFunc receives a run's output chunks, in order, from one goroutine,
// while the program runs. It must return quickly: the run's wall clock keeps
// going while it blocks. The chunk's Data is not reused after it returns.
type OutputFunc func(OutputChunk)

// Sandbox runs untrusted programs. The executor package implements it with
// hardened, single-use Docker containers.
type Sandbox interface {
	// Run runs req to its end, handing output to onOutput (if not nil) as it
	// is produced. Whatever the program did, Run returns its RunResult and
	// a nil error. A non-nil error means that req was invalid (the
	// BAD_USER_INPUT error of Normalize, and an empty result), that the run
	// could not be carried out (status INTERNAL_ERROR) or that ctx ended
	// first (status CANCELLED, with any output produced until then).
	Run(ctx context.Context, req RunRequest, onOutput OutputFunc) (RunResult, error)
}
