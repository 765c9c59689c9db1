package runs_test

import (
	"path/filepath"
	"sync"
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

// TestRepeatedCancel cancels a running run whose worker is slow to stop,
// many times at once and then again and again: one cancel message waits
// for the worker, and only one request waits for the run to stop; the
// others answer at once with the run as it is.
func TestRepeatedCancel(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) coderunner.Broker
	}{
		{"memory", func(t *testing.T) coderunner.Broker { return memory.New(broker.Options{}) }},
		{"redis", func(t *testing.T) coderunner.Broker {
			b, err := redis.Open(redistest.Start(t), redis.Config{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	const wait = 2 * time.Second
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			brk := tt.open(t)
			defer brk.Close()
			svc := &runs.Service{Store: db, Broker: brk, CancelWait: wait}
			run, err := svc.Start(t.Context(), guest, "python", coderunner.RunRequest{Code: "print(1)"}, false)
			if err != nil {
				t.Fatal(err)
			}
			// A worker has it, and is not listening yet.
			run.Status, run.StartedAt = coderunner.StatusRunning, time.Now().UTC()
			if _, err := db.UpdateRun(t.Context(), run); err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			var long int // requests that took most of wait
			cancel := func() {
				began := time.Now()
				got, err := svc.Cancel(t.Context(), guest, run.ID)
				if err != nil || got.Status != coderunner.StatusRunning {
					t.Errorf("Cancel = %s, %v; want the run RUNNING", got.Status, err)
				}
				if time.Since(began) > wait/2 {
					mu.Lock()
					long++
					mu.Unlock()
				}
			}
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(cancel)
			}
			wg.Wait()
			for range 3 {
				cancel()
			}
			if long != 1 {
				t.Errorf("%d of 23 cancels waited for the run to stop; want 1", long)
			}

			messages, err := brk.ControlMessages(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for quiet := false; !quiet; {
				select {
				case m := <-messages:
					if !m.Cancel {
						t.Errorf("the worker was sent %+v; want a cancel", m)
					}
					n++
				case <-time.After(500 * time.Millisecond):
					quiet = true
				}
			}
			if n != 1 {
				t.Errorf("the worker was sent %d cancels; want 1", n)
			}
		})
	}
}
