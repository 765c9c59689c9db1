package executor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// startFailingBroker is the in-memory broker, except that publishing a
// STARTED event fails the first failures times: Redis briefly unreachable
// as a worker starts a run.
type startFailingBroker struct {
	*memory.Broker
	failures atomic.Int32
}

func (b *startFailingBroker) Publish(ctx context.Context, e coderunner.RunEvent) (coderunner.RunEvent, error) {
	if e.Type == coderunner.EventStarted && b.failures.Add(-1) >= 0 {
		return coderunner.RunEvent{}, errors.New("connection refused")
	}
	return b.Broker.Publish(ctx, e)
}

// TestWorkerRetriesRunItCouldNotStart: a broker failure before the program
// runs is not the program's fault: the job is claimed again and the run
// completes, instead of ending INTERNAL_ERROR; only a failure that lasts
// MaxDeliveries attempts ends it so.
func TestWorkerRetriesRunItCouldNotStart(t *testing.T) {
	tests := []struct {
		name     string
		failures int32
		want     coderunner.RunStatus
	}{
		{"one failure", 1, coderunner.StatusCompleted},
		{"failing every attempt", 100, coderunner.StatusInternalError},
	}
	ex := newTestExecutor(t, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			brk := &startFailingBroker{Broker: memory.New(broker.Options{ClaimTimeout: 300 * time.Millisecond})}
			defer brk.Close()
			brk.failures.Store(tt.failures)
			svc := &runs.Service{Store: db, Broker: brk}
			defer runWorker(t, svc, ex, 100*time.Millisecond, 5*time.Second)()

			run, err := svc.Start(t.Context(), coderunner.Caller{Addr: "192.0.2.1"}, "python", coderunner.RunRequest{Code: `print("hi")`}, false)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for !run.Status.Finished() && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				if run, err = svc.Get(t.Context(), coderunner.Caller{Addr: "192.0.2.1"}, run.ID); err != nil {
					t.Fatal(err)
				}
			}
			if run.Status != tt.want {
				t.Errorf("run ended %s (stdout %q, stderr %q); want %s", run.Status, run.Stdout, run.Stderr, tt.want)
			}
		})
	}
}

// runWorker runs a worker with one slot for svc's runs on sandbox, with
// the given keep-alive and grace; call the returned func to stop it.
func runWorker(t *testing.T, svc *runs.Service, sandbox coderunner.Sandbox, keepAlive, grace time.Duration) (stop func()) {
	t.Helper()
	return startWorker(t, &Worker{Broker: svc.Broker, Runs: svc, Sandbox: sandbox, KeepAliveEvery: keepAlive, Grace: grace})
}

// startWorker runs w, with one slot, a name and a log unless it has them,
// until the returned func is called.
func startWorker(t testing.TB, w *Worker) (stop func()) {
	t.Helper()
	w.Name, w.Concurrency, w.MaxDeliveries = "worker-test", 1, 3
	if w.Log == nil {
		w.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	return func() { cancel(); <-done }
}
