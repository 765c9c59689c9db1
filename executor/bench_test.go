package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"coderunner"
	"coderunner/internal/floor"
	"coderunner/internal/procfs"
)

// The benchmark compares, side by side in one run, for print("hi"):
//
//	(a) the executor with its warm pool, in container mode;
//	(j) the executor in jail mode: a fresh jail per run in reused containers;
//	(b) a plain create-attach-start-wait-remove per run through the same
//	    Engine API and the same container configuration — what
//	    `docker run --rm` does;
//	(c) the bare interpreter of the same root file system under chroot, no
//	    Docker: the floor.
//
//	go test ./executor -run '^$' -bench 'Latency|Throughput' -benchtime 40x
const helloProgram = `print("hi")`

// BenchmarkLatency reports p50/p95 latency of a, j, b and c and the ratios
// a/b, a/c and j/c. Each iteration measures one run of each, in rotating order,
// after a pause that lets the pool refill and removals finish, so that each
// sample sees a quiet machine and a warm pool.
func BenchmarkLatency(b *testing.B) {
	ex := newTestExecutor(b, 2)
	jail := newTestExecutorIn(b, ModeJail, 2)
	floor := exportRootFS(b)
	variants := []struct {
		name string
		run  func() error
	}{
		{"a warm pool", func() error { return runWarm(ex) }},
		{"j jail", func() error { return runWarm(jail) }},
		{"b create-start-remove", func() error { return runPlain(ex) }},
		{"c chroot floor", func() error { return runChroot(floor) }},
	}
	samples := make([][]time.Duration, len(variants))
	i := 0
	for b.Loop() {
		for k := range variants {
			v := (i + k) % len(variants)
			b.StopTimer()
			time.Sleep(300 * time.Millisecond)
			b.StartTimer()
			began := time.Now()
			if err := variants[v].run(); err != nil {
				b.Fatalf("%s: %v", variants[v].name, err)
			}
			samples[v] = append(samples[v], time.Since(began))
		}
		i++
	}
	var p50 [4]float64
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-24s %8s %8s %8s\n", "print(\"hi\")", "p50 ms", "p95 ms", "runs")
	for v, s := range samples {
		p50[v] = ms(percentile(s, 50))
		fmt.Fprintf(&report, "%-24s %8.1f %8.1f %8d\n", variants[v].name, p50[v], ms(percentile(s, 95)), len(s))
	}
	fmt.Fprintf(&report, "a/b at p50: %.3f (target <= 0.25)\na/c at p50: %.2f (target <= 4)\nj/c at p50: %.2f (target <= 2)\n",
		p50[0]/p50[2], p50[0]/p50[3], p50[1]/p50[3])
	b.Log(report.String())
	b.ReportMetric(p50[0], "a-p50-ms")
	b.ReportMetric(p50[1], "j-p50-ms")
	b.ReportMetric(p50[2], "b-p50-ms")
	b.ReportMetric(p50[3], "c-p50-ms")
	b.ReportMetric(p50[0]/p50[2], "a/b-p50")
	b.ReportMetric(p50[0]/p50[3], "a/c-p50")
	b.ReportMetric(p50[1]/p50[3], "j/c-p50")
	b.ReportMetric(0, "ns/op") // the per-iteration time mixes all three; not meaningful
}

// BenchmarkThroughput reports trivial runs per second with 2 and 8
// concurrent callers, for a, j, b and the floor c at the same parallelism,
// and the ratios a/b and j/c. Each of b.N runs per variant; the variants
// alternate in halves so that drift in the machine's load falls on all.
func BenchmarkThroughput(b *testing.B) {
	floor := exportRootFS(b)
	for _, callers := range []int{2, 8} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ex := newTestExecutor(b, callers)
			jail := newTestExecutorIn(b, ModeJail, callers)
			runs := b.N
			variants := []struct {
				name string
				ex   *Executor // whose background work counts too; nil for none
				run  func() error
			}{
				{"a", ex, func() error { return runWarm(ex) }},
				{"j", jail, func() error { return runWarm(jail) }},
				{"b", nil, func() error { return runPlain(ex) }},
				{"c", nil, func() error { return runChroot(floor) }},
			}
			elapsed := make([]time.Duration, len(variants))
			busy := make([]time.Duration, len(variants))
			for half := range 2 {
				for v, variant := range variants {
					waitQuiet(ex, callers)
					waitQuiet(jail, callers)
					busyBefore := machineBusy(b)
					began := time.Now()
					if err := concurrently(callers, (runs+1-half)/2, variant.run); err != nil {
						b.Fatal(err)
					}
					// An executor's work does not end with its runs: its
					// containers are removed and replaced in the
					// background. Count that too, so it is not credited
					// with a pool it used up.
					if variant.ex != nil {
						waitQuiet(variant.ex, callers)
					}
					elapsed[v] += time.Since(began)
					busy[v] += machineBusy(b) - busyBefore
				}
			}
			rate := make([]float64, len(variants))
			var report strings.Builder
			for v, variant := range variants {
				rate[v] = float64(runs) / elapsed[v].Seconds()
				// The whole machine's CPU per run (engine, runtime, kernel,
				// Python, this process): what bounds throughput on 2 cores.
				cpu := ms(busy[v]) / float64(runs)
				fmt.Fprintf(&report, "%s %.1f runs/s (%.0f ms CPU/run); ", variant.name, rate[v], cpu)
				b.ReportMetric(rate[v], variant.name+"-runs/s")
				b.ReportMetric(cpu, variant.name+"-cpu-ms/run")
			}
			b.Logf("%d callers: %sa/b %.2f (target >= 3), j/c %.2f (target >= 0.5)", callers, report.String(), rate[0]/rate[2], rate[1]/rate[3])
			b.ReportMetric(rate[0]/rate[2], "a/b")
			b.ReportMetric(rate[1]/rate[3], "j/c")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// concurrently runs run n times from callers goroutines.
func concurrently(callers, n int, run func() error) error {
	i := 0
	return feed(callers, func() bool { i++; return i <= n }, run)
}

// feed runs run from callers goroutines, once each time next, called on
// the caller's goroutine, says there is more (at most callers at a time,
// as a worker's slots take jobs), until next says no more or a run fails.
// It returns the first failure.
func feed(callers int, next func() bool, run func() error) error {
	var (
		jobs   = make(chan struct{})
		failed atomic.Bool
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
	)
	for range callers {
		wg.Go(func() {
			for range jobs {
				if err := run(); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	for !failed.Load() && next() {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return first
}

// waitQuiet waits until ex's removals are done and its pool is full again.
func waitQuiet(ex *Executor, poolSize int) {
	ex.removals.Wait()
	for ex.WarmContainers() < poolSize {
		time.Sleep(2 * time.Millisecond)
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// runWarm is variant a.
func runWarm(ex *Executor) error {
	res, err := ex.Run(context.Background(), coderunner.RunRequest{Code: helloProgram}, nil)
	if err != nil {
		return err
	}
	if res.Status != coderunner.StatusCompleted || res.Stdout != "hi\n" {
		return fmt.Errorf("warm run: %+v", res)
	}
	return nil
}

// runPlain is variant b: one container per run, created, attached to,
// started, waited for and removed on the spot, with the executor's own
// hardened configuration, running the program directly.
func runPlain(ex *Executor) error {
	ctx := context.Background()
	cfg, host := ex.sandboxConfig(coderunner.DefaultMemoryMB)
	cfg.Entrypoint = []string{"/usr/bin/python3", "-I", "-u", "-c", helloProgram}
	cfg.AttachStdin, cfg.OpenStdin, cfg.StdinOnce = false, false, false
	created, err := ex.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return err
	}
	defer ex.cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	conn, err := ex.cli.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	defer conn.Close()
	waitC, errC := ex.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := ex.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, conn.Reader); err != nil {
		return err
	}
	select {
	case w := <-waitC:
		if w.StatusCode != 0 || stdout.String() != "hi\n" {
			return fmt.Errorf("plain run: exit %d, stdout %q, stderr %q", w.StatusCode, stdout.String(), stderr.String())
		}
	case err := <-errC:
		return err
	}
	return nil
}

// runChroot is variant c.
func runChroot(root string) error { return floor.Run(root, helloProgram, "hi\n") }

// exportRootFS unpacks the sandbox image's file system for variant c.
func exportRootFS(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	if err := floor.Export(context.Background(), engine, ImageRef(), root); errors.Is(err, floor.ErrNotRoot) {
		b.Skip(err)
	} else if err != nil {
		b.Fatal(err)
	}
	return root
}

// machineBusy is the CPU time all cores have spent busy since boot, from
// /proc/stat (procfs.ReadHostCPU: in USER_HZ ticks, 100 a second on Linux).
func machineBusy(tb testing.TB) time.Duration {
	tb.Helper()
	c, err := procfs.ReadHostCPU()
	if err != nil {
		tb.Fatal(err)
	}
	return time.Duration(math.Round(c.Busy*100)) * 10 * time.Millisecond
}

func percentile(s []time.Duration, p int) time.Duration {
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, (len(sorted)*p+99)/100-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
