package executor

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"coderunner"
)

// The benchmark compares, side by side in one run, for print("hi"):
//
//	(a) the executor with its warm pool;
//	(b) a plain create-attach-start-wait-remove per run through the same
//	    Engine API and the same container configuration — what
//	    `docker run --rm` does;
//	(c) the bare interpreter of the same root file system under chroot, no
//	    Docker: the floor.
//
//	go test ./executor -run '^$' -bench . -benchtime 40x
const helloProgram = `print("hi")`

// BenchmarkLatency reports p50/p95 latency of a, b and c and the ratios
// a/b and a/c. Each iteration measures one run of each, in rotating order,
// after a pause that lets the pool refill and removals finish, so that each
// sample sees a quiet machine and a warm pool.
func BenchmarkLatency(b *testing.B) {
	ex := newTestExecutor(b, 2)
	floor := exportRootFS(b)
	variants := []struct {
		name string
		run  func() error
	}{
		{"a warm pool", func() error { return runWarm(ex) }},
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
	var p50 [3]float64
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-24s %8s %8s %8s\n", "print(\"hi\")", "p50 ms", "p95 ms", "runs")
	for v, s := range samples {
		p50[v] = ms(percentile(s, 50))
		fmt.Fprintf(&report, "%-24s %8.1f %8.1f %8d\n", variants[v].name, p50[v], ms(percentile(s, 95)), len(s))
	}
	fmt.Fprintf(&report, "a/b at p50: %.3f (target <= 0.25)\na/c at p50: %.2f (target <= 4)\n", p50[0]/p50[1], p50[0]/p50[2])
	b.Log(report.String())
	b.ReportMetric(p50[0], "a-p50-ms")
	b.ReportMetric(p50[1], "b-p50-ms")
	b.ReportMetric(p50[2], "c-p50-ms")
	b.ReportMetric(p50[0]/p50[1], "a/b-p50")
	b.ReportMetric(p50[0]/p50[2], "a/c-p50")
	b.ReportMetric(0, "ns/op") // the per-iteration time mixes all three; not meaningful
}

// BenchmarkThroughput reports trivial runs per second with 2 and 8
// concurrent callers, for a and b, and their ratio. Each of b.N runs per
// variant; a and b alternate in halves so that drift in the machine's load
// falls on both.
func BenchmarkThroughput(b *testing.B) {
	for _, callers := range []int{2, 8} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ex := newTestExecutor(b, callers)
			runs := b.N
			var elapsed, busy [2]time.Duration
			for half := range 2 {
				for v, run := range []func() error{func() error { return runWarm(ex) }, func() error { return runPlain(ex) }} {
					waitQuiet(ex, callers)
					busyBefore := machineBusy(b)
					began := time.Now()
					if err := concurrently(callers, (runs+1-half)/2, run); err != nil {
						b.Fatal(err)
					}
					// a's work does not end with its runs: its containers
					// are removed and replaced in the background. Count
					// that too, so a is not credited with a pool it used up.
					waitQuiet(ex, callers)
					elapsed[v] += time.Since(began)
					busy[v] += machineBusy(b) - busyBefore
				}
			}
			rateA := float64(runs) / elapsed[0].Seconds()
			rateB := float64(runs) / elapsed[1].Seconds()
			// The whole machine's CPU per run (engine, runtime, kernel,
			// Python, this process): what bounds throughput on 2 cores.
			cpuA, cpuB := ms(busy[0])/float64(runs), ms(busy[1])/float64(runs)
			b.Logf("%d callers: a %.1f runs/s (%.0f ms CPU/run), b %.1f runs/s (%.0f ms CPU/run), a/b %.2f (target >= 3)",
				callers, rateA, cpuA, rateB, cpuB, rateA/rateB)
			b.ReportMetric(rateA, "a-runs/s")
			b.ReportMetric(rateB, "b-runs/s")
			b.ReportMetric(rateA/rateB, "a/b")
			b.ReportMetric(cpuA, "a-cpu-ms/run")
			b.ReportMetric(cpuB, "b-cpu-ms/run")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// concurrently runs run n times from callers goroutines.
func concurrently(callers, n int, run func() error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := run(); err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
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
func runChroot(root string) error {
	cmd := exec.Command("/usr/bin/python3", "-I", "-u", "-c", helloProgram)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin", "LANG=C.UTF-8"}
	out, err := cmd.Output()
	if err != nil || string(out) != "hi\n" {
		return fmt.Errorf("chroot run: %q, %w", out, err)
	}
	return nil
}

// exportRootFS unpacks the sandbox image's file system into a temporary
// directory, through the engine's export of a container that never starts.
func exportRootFS(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("the chroot floor needs root")
	}
	ctx := context.Background()
	created, err := engine.ContainerCreate(ctx, &container.Config{Image: ImageRef()}, nil, nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	defer engine.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	export, err := engine.ContainerExport(ctx, created.ID)
	if err != nil {
		b.Fatal(err)
	}
	defer export.Close()
	root := b.TempDir()
	if err := untar(export, root); err != nil {
		b.Fatal(err)
	}
	return root
}

func untar(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		path := filepath.Join(root, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, hdr.FileInfo().Mode().Perm())
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, path)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, filepath.Clean("/"+hdr.Linkname)), path)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, hdr.FileInfo().Mode().Perm()); err == nil {
				_, err = io.Copy(f, tr)
				err = cmpOr(err, f.Close())
			}
		}
		if err != nil {
			return fmt.Errorf("untar %s: %w", hdr.Name, err)
		}
	}
}

// machineBusy is the CPU time all cores have spent busy since boot, from
// /proc/stat (in USER_HZ ticks, 100 a second on Linux).
func machineBusy(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	var user, nice, system, idle, iowait, irq, softirq int64
	if _, err := fmt.Sscanf(string(data), "cpu %d %d %d %d %d %d %d", &user, &nice, &system, &idle, &iowait, &irq, &softirq); err != nil {
		b.Fatalf("parse /proc/stat: %v", err)
	}
	return time.Duration(user+nice+system+irq+softirq) * 10 * time.Millisecond
}

func percentile(s []time.Duration, p int) time.Duration {
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, (len(sorted)*p+99)/100-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
