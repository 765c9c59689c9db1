package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"coderunner/internal/floor"
	"coderunner/internal/stats"
)

// BenchmarkRunLatency measures, interleaved sample by sample (the order
// alternates), print("hi"):
//
//	(a) through the whole stack: from sending the run mutation (HTTP POST)
//	    to receiving FINISHED on a graphql-transport-ws subscription opened
//	    right after the mutation answered, on a WebSocket the client keeps
//	    open (as the editor does);
//	(b) executor.Run of the same program on the same executor, whose warm
//	    pool of 2 both share;
//	(f) the floor: the sandbox image's bare interpreter under chroot.
//
// Before each sample the pool is full and the previous run's container is
// gone, plus 300 ms, as in executor/bench_test.go: the latency of a run that
// arrives at a warm, quiet system. It reports p50/p95 of all three, a−b
// (target ≤ 15 ms at p50) and a/f (target in jail mode ≤ 3 at p50).
func BenchmarkRunLatency(b *testing.B) {
	ex, quiet := dockerExecutor(b, 2)
	root := floorRoot(b, quiet.cli)
	s := newStack(b, ex, 2)
	ctx := context.Background()
	c, err := s.newClient(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.ws.close()
	// One untimed run of each, so that first-use costs (query parsing and
	// caching, SQLite statements, connections) are not in the samples.
	if _, _, err := c.run(ctx, helloProgram); err != nil {
		b.Fatal(err)
	}
	if err := runHello(ctx, ex); err != nil {
		b.Fatal(err)
	}

	var stackLat, execLat, floorLat, mutation []time.Duration
	sample := func(first int) {
		for k := range 3 {
			b.StopTimer()
			if err := quiet.wait(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			b.StartTimer()
			switch (first + k) % 3 {
			case 0:
				total, mut, err := c.run(ctx, helloProgram)
				if err != nil {
					b.Fatalf("a (stack): %v", err)
				}
				stackLat, mutation = append(stackLat, total), append(mutation, mut)
			case 1:
				began := time.Now()
				if err := runHello(ctx, ex); err != nil {
					b.Fatalf("b (executor): %v", err)
				}
				execLat = append(execLat, time.Since(began))
			case 2:
				began := time.Now()
				if err := floor.Run(root, helloProgram, "hi\n"); err != nil {
					b.Fatalf("f (floor): %v", err)
				}
				floorLat = append(floorLat, time.Since(began))
			}
		}
	}
	i := 0
	for b.Loop() {
		sample(i % 3)
		i++
	}

	a50, a95 := stats.Percentile(stackLat, 50), stats.Percentile(stackLat, 95)
	b50, b95 := stats.Percentile(execLat, 50), stats.Percentile(execLat, 95)
	f50, f95 := stats.Percentile(floorLat, 50), stats.Percentile(floorLat, 95)
	var r strings.Builder
	fmt.Fprintf(&r, "\nprint(\"hi\"), %d interleaved samples each   p50 ms   p95 ms\n", len(stackLat))
	fmt.Fprintf(&r, "a  stack: mutation -> FINISHED over WS    %7.1f  %7.1f\n", ms(a50), ms(a95))
	fmt.Fprintf(&r, "b  executor.Run alone                     %7.1f  %7.1f\n", ms(b50), ms(b95))
	fmt.Fprintf(&r, "   (a's run mutation round trip)          %7.1f  %7.1f\n", ms(stats.Percentile(mutation, 50)), ms(stats.Percentile(mutation, 95)))
	fmt.Fprintf(&r, "f  chroot floor                           %7.1f  %7.1f\n", ms(f50), ms(f95))
	fmt.Fprintf(&r, "a-b at p50: %.1f ms (target <= 15 ms: %s); a-b at p95: %.1f ms\n",
		ms(a50-b50), verdict(a50-b50 <= 15*time.Millisecond), ms(a95-b95))
	fmt.Fprintf(&r, "a/f at p50: %.2f (%s mode; target in jail mode <= 3: %s)\n", float64(a50)/float64(f50), ex.Mode(), verdict(a50 <= 3*f50))
	b.Log(r.String())
	b.ReportMetric(ms(a50), "a-p50-ms")
	b.ReportMetric(ms(a95), "a-p95-ms")
	b.ReportMetric(ms(b50), "b-p50-ms")
	b.ReportMetric(ms(b95), "b-p95-ms")
	b.ReportMetric(ms(f50), "f-p50-ms")
	b.ReportMetric(float64(a50)/float64(f50), "a/f-p50")
	b.ReportMetric(ms(a50-b50), "a-b-p50-ms")
	b.ReportMetric(ms(a95-b95), "a-b-p95-ms")
	b.ReportMetric(0, "ns/op") // an iteration is a pair of samples and pauses: not meaningful
}

// BenchmarkRunThroughput measures trivial runs per second with 8 clients at
// once: (c) through the whole stack, each client sending the mutation and
// following its subscription until FINISHED, the worker running 8 at once
// on a pool of 8; against the executor alone, called by 8 goroutines, on
// the same executor; and against the floor (the bare interpreter under
// chroot), 8 at once. b.N runs per variant, in two halves of alternating
// order; each phase starts on a quiet engine and ends when its containers
// are removed and the pool is full again, so neither is credited with work
// left behind.
func BenchmarkRunThroughput(b *testing.B) {
	const clients = 8
	ex, quiet := dockerExecutor(b, clients)
	root := floorRoot(b, quiet.cli)
	s := newStack(b, ex, clients)
	ctx := context.Background()
	cs := make([]*stackClient, clients)
	for i := range cs {
		c, err := s.newClient(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer c.ws.close()
		cs[i] = c
	}
	// Warm-up, untimed: one run per client through the stack.
	if err := concurrently(clients, clients, func(i int) error { _, _, err := cs[i].run(ctx, helloProgram); return err }); err != nil {
		b.Fatal(err)
	}

	variants := []func(caller int) error{
		func(i int) error { _, _, err := cs[i].run(ctx, helloProgram); return err },
		func(int) error { return runHello(ctx, ex) },
		func(int) error { return floor.Run(root, helloProgram, "hi\n") },
	}
	// b.N, not b.Loop: the runs of each variant must go concurrently,
	// in two halves. (The testing package first calls this with b.N = 1.)
	var elapsed [3]time.Duration
	runsDone := b.N
	b.ResetTimer()
	for half := range 2 {
		n := (runsDone + 1 - half) / 2
		for i := range variants {
			v := (i + half) % len(variants) // stack first, then executor first
			run := variants[v]
			if err := quiet.wait(); err != nil {
				b.Fatal(err)
			}
			began := time.Now()
			if err := concurrently(clients, n, run); err != nil {
				b.Fatalf("variant %d: %v", v, err)
			}
			if err := quiet.wait(); err != nil {
				b.Fatal(err)
			}
			elapsed[v] += time.Since(began)
		}
	}
	stackRate := float64(runsDone) / elapsed[0].Seconds()
	execRate := float64(runsDone) / elapsed[1].Seconds()
	floorRate := float64(runsDone) / elapsed[2].Seconds()
	b.Logf("%d runs each, 8 at once (%s mode): c stack (mutation + subscription until FINISHED) %.2f runs/s; executor alone %.2f runs/s; floor %.2f runs/s; stack/executor %.2f; stack/floor %.2f (target in jail mode >= 0.3: %s)",
		runsDone, ex.Mode(), stackRate, execRate, floorRate, stackRate/execRate, stackRate/floorRate, verdict(stackRate >= 0.3*floorRate))
	b.ReportMetric(stackRate, "c-stack-runs/s")
	b.ReportMetric(execRate, "executor-runs/s")
	b.ReportMetric(floorRate, "floor-runs/s")
	b.ReportMetric(stackRate/execRate, "stack/executor")
	b.ReportMetric(stackRate/floorRate, "stack/floor")
	b.ReportMetric(0, "ns/op")
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}
