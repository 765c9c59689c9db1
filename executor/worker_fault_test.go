package executor

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/broker/redis"
	"coderunner/broker/redis/redistest"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// slowCount prints a line every 100 ms for 4 s: long enough to restart
// Redis under it.
const slowCount = "import time\nfor i in range(40):\n    print(i, flush=True)\n    time.sleep(0.1)\n"

// TestWorkerOutlivesBrokerRestart restarts Redis (losing all its data,
// the job included) while a worker runs a program, or stops it for a few
// seconds first: the program runs to its end, its result is stored (the
// store does not need Redis), and FINISHED is published once Redis is back.
func TestWorkerOutlivesBrokerRestart(t *testing.T) {
	tests := []struct {
		name string
		down time.Duration // how long Redis is gone before it restarts
	}{
		{"restart", 0},
		{"down for 2 s", 2 * time.Second},
	}
	ex := newTestExecutor(t, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.StartServer(t)
			brk, err := redis.Open(srv.URL(), redis.Config{
				Options: broker.Options{ClaimTimeout: 2 * time.Second},
				Log:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer brk.Close()
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			svc := &runs.Service{Store: db, Broker: brk}
			defer runWorker(t, svc, ex, 200*time.Millisecond, 10*time.Second)()

			caller := coderunner.Caller{Addr: "192.0.2.1"}
			run, err := svc.Start(t.Context(), caller, "python", coderunner.RunRequest{Code: slowCount, TimeLimitMs: 10_000}, false)
			if err != nil {
				t.Fatal(err)
			}
			// Restart once the program has printed something.
			waitFor(t, 20*time.Second, "the program's first output", func() bool {
				events, err := brk.Replay(t.Context(), run.ID, 0)
				return err == nil && len(events) > 2
			})
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tt.down)
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}

			waitFor(t, 30*time.Second, "the run to finish", func() bool {
				run, err = svc.Get(t.Context(), caller, run.ID)
				return err == nil && run.Status.Finished()
			})
			var want strings.Builder
			for i := range 40 {
				fmt.Fprintf(&want, "%d\n", i)
			}
			if run.Status != coderunner.StatusCompleted || run.Stdout != want.String() {
				t.Fatalf("run ended %s, stdout %q, stderr %q; want COMPLETED with every line", run.Status, run.Stdout, run.Stderr)
			}
			waitFor(t, 30*time.Second, "FINISHED to be published", func() bool {
				events, err := brk.Replay(t.Context(), run.ID, 0)
				return err == nil && len(events) > 0 && events[len(events)-1].Type == coderunner.EventFinished
			})
		})
	}
}

// TestWorkerRetriesResultWriteNotRun holds the write lock of the real
// SQLite file from another connection, for longer than a write waits for
// it, while a program ends: the worker keeps its claim and retries storing
// the result, and the program runs once — rather than the job being left
// to be claimed again and the program run anew.
func TestWorkerRetriesResultWriteNotRun(t *testing.T) {
	ex := newTestExecutor(t, 1)
	path := filepath.Join(t.TempDir(), "db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	brk := memory.New(broker.Options{ClaimTimeout: time.Second})
	defer brk.Close()
	svc := &runs.Service{Store: db, Broker: brk}
	defer runWorker(t, svc, ex, 200*time.Millisecond, 10*time.Second)()

	caller := coderunner.Caller{Addr: "192.0.2.1"}
	run, err := svc.Start(t.Context(), caller, "python", coderunner.RunRequest{Code: "import time\nprint('go', flush=True)\ntime.sleep(1)\nprint('done')\n"}, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the program's first output", func() bool {
		events, err := brk.Replay(t.Context(), run.ID, 0)
		return err == nil && len(events) > 2
	})
	// Longer than the 5 s SQLite writes used to wait, and than the claim
	// timeout.
	holdWriteLock(t, path, 8*time.Second)

	waitFor(t, 30*time.Second, "the run to finish", func() bool {
		run, err = svc.Get(t.Context(), caller, run.ID)
		return err == nil && run.Status.Finished()
	})
	if run.Status != coderunner.StatusCompleted || run.Stdout != "go\ndone\n" {
		t.Fatalf("run ended %s, stdout %q, stderr %q; want COMPLETED, go done", run.Status, run.Stdout, run.Stderr)
	}
	events, err := brk.Replay(t.Context(), run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	for _, e := range events {
		if e.Type == coderunner.EventStarted {
			started++
		}
	}
	if started != 1 {
		t.Errorf("the program was started %d times; want once", started)
	}
}

// holdWriteLock takes the write lock of the SQLite file at path from a
// connection of its own, as a flood of writes or a long one would, for d.
func holdWriteLock(t *testing.T, path string, d time.Duration) {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	release := time.AfterFunc(d, func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		other.Close()
	})
	t.Cleanup(func() {
		if release.Stop() {
			conn.Close()
			other.Close()
		}
	})
}

// waitFor polls cond until it holds, or fails t after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
