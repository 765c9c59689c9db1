package executor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/runs"
)

// The grading benchmark compares, side by side in one run, in each
// sandbox mode, through the same worker slot, store (SQLite), broker (in
// memory) and executor:
//
//	(g) grading one submission of a 10-test problem: Submit → FINISHED,
//	    followed live as a client follows it;
//	(r) 10 runs of the same program, one after the other, each with the
//	    stdin of one of the tests: Start → FINISHED each, followed live.
//
// The sandbox does the same ten runs in both; g/r is what grading adds.
//
//	go test ./executor -run '^$' -bench Grading -benchtime 10x -count 3
const greetProgram = "name = input(\"Name? \")\nprint(\"Hello, \" + name + \"!\")"

// greet10 is greet with 10 tests: its sample and 9 hidden ones.
var greet10 = func() coderunner.Problem {
	p := greet
	p.ID, p.HiddenTests = "greet10", nil
	for _, name := range []string{"Sam", "Zoe", "Ian", "Mia", "Leo", "Ava", "Kai", "Noa", "Eli"} {
		p.HiddenTests = append(p.HiddenTests, coderunner.TestCase{Input: name + "\n", Output: "Hello, " + name + "!\n"})
	}
	return p
}()

// BenchmarkGrading reports, per mode, the p50 time of g and of r, their
// ratio, and the p50 of each's time inside the sandbox (in Sandbox.Run)
// and outside it (services, store, broker, worker, following). Each iteration
// does one g and one r, in alternating order, each after the executor's
// pool is full again and its removals are done, so that drift in the
// shared machine's load falls on both.
func BenchmarkGrading(b *testing.B) {
	for _, mode := range sandboxModes {
		b.Run("mode="+string(mode), func(b *testing.B) {
			sandbox := &timedSandbox{Sandbox: newTestExecutorIn(b, mode, 1)}
			ex := sandbox.Sandbox.(*Executor)
			subs, runner := newGraderAndRunner(b, sandbox, greet10)
			tests := slices.Concat(greet10.SampleTests, greet10.HiddenTests)
			variants := []struct {
				name string
				run  func() error
			}{
				{"g grade 10 tests", func() error {
					events := submitAndFollow(b, subs, greet10.ID, greetProgram)
					sub := events[len(events)-1].Submission
					if sub == nil || sub.Verdict != coderunner.Accepted || sub.Passed != len(tests) {
						return fmt.Errorf("graded %+v; want ACCEPTED %d/%d", sub, len(tests), len(tests))
					}
					return nil
				}},
				{"r 10 runs", func() error {
					for _, tc := range tests {
						if err := runAndFollow(b.Context(), runner, coderunner.RunRequest{Code: greetProgram, Stdin: tc.Input}, tc.Output); err != nil {
							return err
						}
					}
					return nil
				}},
			}
			// Once each untimed: the grading is stored, the store and
			// the interpreter's files are warm.
			for _, v := range variants {
				if err := v.run(); err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
			}
			// Each sample's time, and the part of it spent in the sandbox.
			samples := make([][]time.Duration, len(variants))
			inSandbox := make([][]time.Duration, len(variants))
			i := 0
			for b.Loop() {
				for k := range variants {
					v := (i + k) % len(variants)
					b.StopTimer()
					waitQuiet(ex, 1)
					busy := sandbox.busy.Load()
					b.StartTimer()
					began := time.Now()
					if err := variants[v].run(); err != nil {
						b.Fatalf("%s: %v", variants[v].name, err)
					}
					samples[v] = append(samples[v], time.Since(began))
					inSandbox[v] = append(inSandbox[v], time.Duration(sandbox.busy.Load()-busy))
				}
				i++
			}
			var p50, sandboxP50, outsideP50 [2]float64
			var report strings.Builder
			fmt.Fprintf(&report, "\n%-20s %8s %8s %12s %12s %8s\n", mode, "p50 ms", "p95 ms", "sandbox p50", "outside p50", "samples")
			for v, s := range samples {
				outside := make([]time.Duration, len(s))
				for j := range s {
					outside[j] = s[j] - inSandbox[v][j]
				}
				p50[v], sandboxP50[v], outsideP50[v] = ms(percentile(s, 50)), ms(percentile(inSandbox[v], 50)), ms(percentile(outside, 50))
				fmt.Fprintf(&report, "%-20s %8.1f %8.1f %12.1f %12.1f %8d\n", variants[v].name, p50[v], ms(percentile(s, 95)), sandboxP50[v], outsideP50[v], len(s))
			}
			// The ratio within each iteration, whose g and r ran next to
			// each other: its median is the least moved by drift.
			paired := make([]float64, len(samples[0]))
			for j := range paired {
				paired[j] = float64(samples[0][j]) / float64(samples[1][j])
			}
			slices.Sort(paired)
			fmt.Fprintf(&report, "g/r at p50: %.3f (median of paired ratios %.3f); g-r: %+.1f ms, %+.1f ms a test",
				p50[0]/p50[1], paired[len(paired)/2], p50[0]-p50[1], (p50[0]-p50[1])/float64(len(tests)))
			b.Log(report.String())
			b.ReportMetric(p50[0], "g-p50-ms")
			b.ReportMetric(p50[1], "r-p50-ms")
			b.ReportMetric(p50[0]/p50[1], "g/r-p50")
			b.ReportMetric(paired[len(paired)/2], "g/r-paired")
			b.ReportMetric(sandboxP50[0], "g-sandbox-ms")
			b.ReportMetric(sandboxP50[1], "r-sandbox-ms")
			b.ReportMetric(outsideP50[0], "g-outside-ms")
			b.ReportMetric(outsideP50[1], "r-outside-ms")
			b.ReportMetric(0, "ns/op") // the per-iteration time mixes both; not meaningful
		})
	}
}

// runAndFollow starts a run of req as the student, follows its events to
// FINISHED, and checks that it completed with wantOutput at the end of
// its stdout (after input()'s prompt).
func runAndFollow(ctx context.Context, svc *runs.Service, req coderunner.RunRequest, wantOutput string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	run, err := svc.Start(ctx, student, "python", req, false)
	if err != nil {
		return err
	}
	events, err := svc.Events(ctx, student, run.ID, 0)
	if err != nil {
		return err
	}
	var last coderunner.RunEvent
	for e := range events {
		last = e
	}
	switch {
	case last.Type != coderunner.EventFinished || last.Run == nil:
		return fmt.Errorf("run %s: no FINISHED within a minute (last event %+v)", run.ID, last)
	case last.Run.Status != coderunner.StatusCompleted || !strings.HasSuffix(last.Run.Stdout, wantOutput):
		return fmt.Errorf("run %s ended %s with stdout %q, stderr %q; want %q", run.ID, last.Run.Status, last.Run.Stdout, last.Run.Stderr, wantOutput)
	}
	return nil
}

// timedSandbox counts the time spent in its Sandbox's Run, in nanoseconds.
type timedSandbox struct {
	coderunner.Sandbox
	busy atomic.Int64
}

func (s *timedSandbox) Run(ctx context.Context, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (coderunner.RunResult, error) {
	began := time.Now()
	defer func() { s.busy.Add(int64(time.Since(began))) }()
	return s.Sandbox.Run(ctx, req, onOutput)
}
