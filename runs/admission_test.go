package runs_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// createdRuns is the real store, noting the runs it was asked to create.
type createdRuns struct {
	coderunner.RunStore
	mu  sync.Mutex
	ids []string
}

func (s *createdRuns) CreateRun(ctx context.Context, r coderunner.Run) error {
	s.mu.Lock()
	s.ids = append(s.ids, r.ID)
	s.mu.Unlock()
	return s.RunStore.CreateRun(ctx, r)
}

type fixedQuota coderunner.Quota

func (q fixedQuota) QuotaFor(context.Context, coderunner.Caller) (coderunner.Quota, error) {
	return coderunner.Quota(q), nil
}

// TestQueueFullStoresAndPublishesNothing: a run refused with QUEUE_FULL
// leaves no run in the store, no event (nor replay buffer, nor seq) in the
// broker, and its owner's place among active runs free.
func TestQueueFullStoresAndPublishesNothing(t *testing.T) {
	for _, kind := range brokerKinds {
		t.Run(kind.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			b, keys := kind.open(t, broker.Options{MaxWaiting: 1})
			store := &createdRuns{RunStore: db}
			published := &brokertest.Published{Broker: b}
			now := time.Now().UTC()
			svc := &runs.Service{Store: store, Broker: published, Now: func() time.Time { return now },
				Quotas: fixedQuota{RunsPerMinute: 10, RunsPerDay: 10, ExecSecondsPerDay: 60, MaxActiveRuns: 5}}

			first, err := svc.Start(t.Context(), guest, "python", coderunner.RunRequest{Code: "print(1)"}, false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = svc.Start(t.Context(), guest, "python", coderunner.RunRequest{Code: "print(2)"}, false)
			if coderunner.ErrorCode(err) != coderunner.QueueFull {
				t.Fatalf("second Start: %v, want QUEUE_FULL", err)
			}

			if !slices.Equal(store.ids, []string{first.ID}) {
				t.Errorf("runs stored %v; want only the queued one, %s", store.ids, first.ID)
			}
			for _, e := range published.Events("") {
				if e.RunID != first.ID {
					t.Errorf("published %s of run %s; want nothing of the refused run", e.Type, e.RunID)
				}
			}
			if keys != nil {
				want := []string{keys.prefix + "run:" + first.ID + ":events", keys.prefix + "run:" + first.ID + ":seq"}
				got := keys.list(t, "run:*")
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("run keys in Redis %v; want only the queued run's %v", got, want)
				}
			}
			if n, err := b.Depth(t.Context()); err != nil || n != 1 {
				t.Errorf("Depth = %d, %v; want 1", n, err)
			}
			usage, err := b.Usage(t.Context(), guest.Owner(), now)
			if err != nil || usage.ActiveRuns != 1 || usage.RunsToday != 1 {
				t.Errorf("the owner has %d active runs, %d today (%v); want 1 and 1: a run refused QUEUE_FULL spends no budget", usage.ActiveRuns, usage.RunsToday, err)
			}
		})
	}
}
