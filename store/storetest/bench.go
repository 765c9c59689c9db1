package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"coderunner"
)

// BenchRunsAsTheyGrow measures what every run costs the store — creating
// it, reading it by id, the worker's two updates (QUEUED → RUNNING →
// finished) — and the reaper's page of unfinished runs, as the runs
// collection fills with large finished runs: before any, then after
// each of sizes in turn. A store's cost per run should not grow with the
// collection (the soak test's honest runs share it with a flood of
// large ones). open must return a fresh, empty store and register its
// cleanup.
//
//	go test ./store/mongo -run '^$' -bench RunsAsTheyGrow -benchtime 20x
func BenchRunsAsTheyGrow(b *testing.B, open func(b *testing.B) coderunner.Store, sizes ...int) {
	s := open(b)
	ctx := context.Background()
	stored := 0
	for _, size := range append([]int{0}, sizes...) {
		for ; stored < size; stored++ {
			if err := s.CreateRun(ctx, largeRun(fmt.Sprintf("large-%06d", stored))); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("runs=%d", size), func(b *testing.B) {
			benchRunOps(b, s, fmt.Sprintf("n%d", size))
		})
	}
}

// largeRun is a finished run like those of the soak test's flood: 256 KiB
// of code printing 64 KiB.
func largeRun(id string) coderunner.Run {
	r := finishedRun(id)
	r.Code = "#" + strings.Repeat("x", 256<<10) + "\nprint('y' * 65000)\n"
	r.Stdout = strings.Repeat("y", 65000) + "\n"
	r.Owner = "user-mallory"
	return r
}

// benchRunOps measures each operation on runs of their own (ids prefixed
// with prefix), stored after the large ones, as a new run is.
func benchRunOps(b *testing.B, s coderunner.Store, prefix string) {
	ctx := context.Background()
	// create stores n small queued runs, created now, and returns them.
	create := func(b *testing.B, name string, n int) []coderunner.Run {
		b.Helper()
		runs := make([]coderunner.Run, n)
		for i := range runs {
			runs[i] = queuedRun(fmt.Sprintf("%s-%s-%d-%d", prefix, name, b.N, i))
			runs[i].CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
			if err := s.CreateRun(ctx, runs[i]); err != nil {
				b.Fatal(err)
			}
		}
		return runs
	}
	ops := []struct {
		name string
		// setup prepares b.N iterations; op is iteration i.
		setup func(b *testing.B) []coderunner.Run
		op    func(runs []coderunner.Run, i int) error
	}{
		{"CreateRun", func(b *testing.B) []coderunner.Run { return nil }, func(_ []coderunner.Run, i int) error {
			r := queuedRun(fmt.Sprintf("%s-create-%d-%d", prefix, time.Now().UnixNano(), i))
			return s.CreateRun(ctx, r)
		}},
		{"Run", func(b *testing.B) []coderunner.Run { return create(b, "read", 1) }, func(runs []coderunner.Run, _ int) error {
			_, err := s.Run(ctx, runs[0].ID)
			return err
		}},
		{"UpdateRun/start", func(b *testing.B) []coderunner.Run { return create(b, "start", b.N) }, func(runs []coderunner.Run, i int) error {
			r := runs[i]
			r.Status, r.StartedAt = coderunner.StatusRunning, time.Now().UTC()
			return updated(s.UpdateRun(ctx, r))
		}},
		{"UpdateRun/finish", func(b *testing.B) []coderunner.Run {
			runs := create(b, "finish", b.N)
			for i := range runs {
				runs[i].Status = coderunner.StatusRunning
				if err := updated(s.UpdateRun(ctx, runs[i])); err != nil {
					b.Fatal(err)
				}
			}
			return runs
		}, func(runs []coderunner.Run, i int) error {
			r := runs[i]
			r.Status, r.Stdout, r.FinishedAt = coderunner.StatusCompleted, "499500\n", time.Now().UTC()
			return updated(s.UpdateRun(ctx, r, coderunner.StatusRunning))
		}},
		{"UnfinishedRuns", func(b *testing.B) []coderunner.Run { return nil }, func(_ []coderunner.Run, _ int) error {
			_, err := s.UnfinishedRuns(ctx, time.Now(), coderunner.RunCursor{}, 100)
			return err
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			runs := op.setup(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := op.op(runs, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// updated is the error of an update that must have matched.
func updated(ok bool, err error) error {
	if err == nil && !ok {
		err = fmt.Errorf("the update matched no run")
	}
	return err
}
