package executor

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
)

// The overhead benchmark measures, in each sandbox mode side by side in one
// run, the cost model's OverheadFactor (package cost: vCPU-seconds =
// program CPU seconds × OverheadFactor) on this machine, two ways:
//
//	busy overhead        the CPU time the whole host spent while the
//	                     programs ran — engine, containerd, runc, shims,
//	                     kernel, this process (the worker's part), and
//	                     anything else on the host (procfs.ReadHostCPU) —
//	                     over the programs' own CPU time (Σ RunResult.CPUMs);
//	provisioned overhead runtime.NumCPU() × the wall time, over the same:
//	                     the vCPU-seconds a host of this size is paid for
//	                     while it does the work.
//
// Two programs: loop burns 150 ms of CPU (a child's program that computes),
// hello is print("hi") (nearly all of it the fixed cost of a run). Each is
// run through Executor.Run as a worker runs it, by 1 and by 2 callers at a
// time (worker slots), with a warm pool of one container per caller, as
// CODERUNNER_POOL_SIZE defaults to the slots. Each measurement ends when
// the executor's removals are done and its pool is full again, so the
// containers a run used up are counted. In jail mode a container serves
// DefaultJailRuns (50) runs: -benchtime 100x lets each pool container
// retire once or twice, so its start and removal are counted too, spread
// over its runs as in production (with 20x none retires, and jail mode
// reads too low).
//
//	go test ./executor -run '^$' -bench Overhead -benchtime 100x -count 3 -timeout 30m
//
// On a shared machine whatever else runs lands in the busy figure (only
// ever raising it). Each measurement starts when the host has been nearly
// idle for a second (or after 30 s of waiting), and the host's CPU while
// the executor sits idle, over that second and one after the measurement,
// is reported as idle-cores and subtracted in net-busy-overhead. A high
// idle-cores marks a sample others disturbed, but work that comes and goes
// within a measurement escapes it; of repeated samples the lowest busy
// overhead is the least disturbed.

// loopProgram burns 150 ms of CPU (interpreter start-up included) in plain
// Python arithmetic, whatever the machine's speed.
const loopProgram = `import time
n = 0
while time.process_time() < 0.15:
    for i in range(10000):
        n += i * i
print("done")`

// BenchmarkOverhead reports the busy and provisioned overhead of each
// program, caller count and mode, in sub-benchmarks
// program=…/callers=…/mode=….
func BenchmarkOverhead(b *testing.B) {
	programs := []struct{ name, code, stdout string }{
		{"loop", loopProgram, "done\n"},
		{"hello", helloProgram, "hi\n"},
	}
	for _, p := range programs {
		b.Run("program="+p.name, func(b *testing.B) {
			for _, callers := range []int{1, 2} {
				b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
					for _, mode := range sandboxModes {
						b.Run("mode="+string(mode), func(b *testing.B) {
							benchmarkOverhead(b, mode, callers, p.code, p.stdout)
						})
					}
				})
			}
		})
	}
}

// benchmarkOverhead runs code b.N times by callers at a time in mode and
// reports the overhead factors.
func benchmarkOverhead(b *testing.B, mode Mode, callers int, code, stdout string) {
	ex := newTestExecutorIn(b, mode, callers)
	var programCPU atomic.Int64 // ms, Σ RunResult.CPUMs
	run := func() error {
		res, err := ex.Run(context.Background(), coderunner.RunRequest{Code: code}, nil)
		if err != nil {
			return err
		}
		if res.Status != coderunner.StatusCompleted || res.Stdout != stdout {
			return fmt.Errorf("%s run: %+v", mode, res)
		}
		programCPU.Add(res.CPUMs)
		return nil
	}
	// Once untimed, to warm the interpreter's files.
	if err := run(); err != nil {
		b.Fatal(err)
	}
	waitQuiet(ex, callers)
	idleBefore := quietHost(b)

	programCPU.Store(0)
	runs := 0
	busyBefore := machineBusy(b)
	began := time.Now()
	err := feed(callers, func() bool {
		if !b.Loop() {
			return false
		}
		runs++
		return true
	}, run)
	if err != nil {
		b.Fatal(err)
	}
	waitQuiet(ex, callers)
	elapsed := time.Since(began)
	busy := machineBusy(b) - busyBefore

	idle := (idleBefore + hostBusyCores(b, time.Second)) / 2
	program := time.Duration(programCPU.Load()) * time.Millisecond
	vcpus := runtime.NumCPU()
	busyOverhead := busy.Seconds() / program.Seconds()
	netOverhead := (busy.Seconds() - idle*elapsed.Seconds()) / program.Seconds()
	provisioned := float64(vcpus) * elapsed.Seconds() / program.Seconds()
	perRun := func(d time.Duration) float64 { return ms(d) / float64(runs) }
	b.Logf("%s, %d callers, %d runs in %.1f s on %d vCPUs: program %.1f ms CPU/run, host %.1f ms CPU/run (idle host %.2f cores); busy overhead %.2f (net of idle %.2f), provisioned %.2f",
		mode, callers, runs, elapsed.Seconds(), vcpus, perRun(program), perRun(busy), idle, busyOverhead, netOverhead, provisioned)
	b.ReportMetric(busyOverhead, "busy-overhead")
	b.ReportMetric(netOverhead, "net-busy-overhead")
	b.ReportMetric(provisioned, "provisioned-overhead")
	b.ReportMetric(perRun(program), "program-cpu-ms/op")
	b.ReportMetric(perRun(busy), "host-cpu-ms/op")
	b.ReportMetric(perRun(elapsed), "wall-ms/op")
	b.ReportMetric(idle, "idle-cores")
	b.ReportMetric(0, "ns/op") // the wall time is wall-ms/op, which includes the pool's refill
}

// quietHost waits until the host's cores were busy for less than a tenth
// of a core over a second, for at most 30 s, and returns the last second's
// figure.
func quietHost(tb testing.TB) float64 {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cores := hostBusyCores(tb, time.Second)
		if cores < 0.1 || time.Now().After(deadline) {
			return cores
		}
	}
}

// hostBusyCores is how many of the host's cores were busy, on average,
// over the next d, while the caller waits.
func hostBusyCores(tb testing.TB, d time.Duration) float64 {
	before := machineBusy(tb)
	began := time.Now()
	time.Sleep(d)
	return (machineBusy(tb) - before).Seconds() / time.Since(began).Seconds()
}
