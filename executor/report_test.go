package executor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/report"
	"coderunner/report/reporttest"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// brokenSandbox fails as a sandbox with a bug would, without Docker: a
// program containing "PANIC" makes it panic, any other it cannot carry
// out, with an error that quotes the program and its input unquoted.
type brokenSandbox struct{}

func (brokenSandbox) Run(ctx context.Context, req coderunner.RunRequest, onOutput coderunner.OutputFunc) (coderunner.RunResult, error) {
	if strings.Contains(req.Code, "PANIC") {
		panic(fmt.Sprintf("sandbox bug running %s with %s", req.Code, req.Stdin))
	}
	return coderunner.RunResult{Status: coderunner.StatusInternalError}, fmt.Errorf("engine: container for %s (stdin %s) died: %w", req.Code, req.Stdin, errors.New("OOM"))
}

// TestWorkerReports: a run the sandbox cannot carry out, a sandbox that
// panics and a job dead-lettered are each reported with the worker's
// action, the run's id, the role and the release — and never the
// program, its input or its output.
func TestWorkerReports(t *testing.T) {
	sentry := reporttest.Start(t)
	rep, err := report.New(report.Options{DSN: sentry.DSN(), Release: "coderunner@abc123"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	brk := &startFailingBroker{Broker: memory.New(broker.Options{ClaimTimeout: 200 * time.Millisecond})}
	defer brk.Close()
	svc := &runs.Service{Store: db, Broker: brk}
	defer startWorker(t, &Worker{Broker: brk, Runs: svc, Sandbox: brokenSandbox{}, KeepAliveEvery: 50 * time.Millisecond, Grace: time.Second, Reporter: rep})()

	caller := coderunner.Caller{Addr: "192.0.2.1"}
	start := func(code string) coderunner.Run {
		t.Helper()
		run, err := svc.Start(t.Context(), caller, "python", coderunner.RunRequest{Code: code, Stdin: "STDIN_MARKER_3e1"}, false)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !run.Status.Finished() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			if run, err = svc.Get(t.Context(), caller, run.ID); err != nil {
				t.Fatal(err)
			}
		}
		if run.Status != coderunner.StatusInternalError {
			t.Fatalf("run of %q ended %s, want INTERNAL_ERROR", code, run.Status)
		}
		return run
	}
	failed := start("print('CODE_MARKER_1a9')")
	panicked := start("print('CODE_MARKER_1a9 PANIC')")
	brk.failures.Store(100) // every STARTED fails: the job is given up
	lost := start("print('CODE_MARKER_1a9 lost')")
	if !rep.Flush(5 * time.Second) {
		t.Fatal("Flush timed out")
	}

	tests := []struct {
		name  string
		kind  string
		runID string
	}{
		{"run not carried out", "run_internal_error", failed.ID},
		{"sandbox panic", "panic", panicked.ID},
		{"dead letter", "dead_lettered", lost.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sentry.WaitFor(t, tt.name, func(e reporttest.Event) bool { return e.Tags["run_id"] == tt.runID && e.Tags["kind"] == tt.kind })
			want := map[string]string{"kind": tt.kind, "role": "worker", "operation": "run", "run_id": tt.runID}
			if fmt.Sprint(e.Tags) != fmt.Sprint(want) || e.Release != "coderunner@abc123" {
				t.Errorf("tags %v, release %q; want %v, coderunner@abc123", e.Tags, e.Release, want)
			}
		})
	}
	sentry.NeverSent(t, map[string]string{"code": "CODE_MARKER_1a9", "stdin": "STDIN_MARKER_3e1"})
}
