package runs_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"coderunner"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// storeRuns stores n runs of status created at created, ids prefix-0….
func storeRuns(t *testing.T, s coderunner.RunStore, prefix string, n int, status coderunner.RunStatus, created time.Time) {
	t.Helper()
	for i := range n {
		r := coderunner.Run{ID: fmt.Sprintf("%s-%d", prefix, i), Owner: "u1", Language: "python", Code: "print(1)", CreatedAt: created}
		r.Status = status
		if err := s.CreateRun(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func openSQLite(t *testing.T) coderunner.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestRetentionSweep deletes a backlog in batches of Batch, pausing
// between them, and keeps unfinished and recent runs.
func TestRetentionSweep(t *testing.T) {
	db := openSQLite(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := now.Add(-31 * 24 * time.Hour)
	storeRuns(t, db, "old", 1100, coderunner.StatusCompleted, old)
	storeRuns(t, db, "stuck", 3, coderunner.StatusRunning, old)
	storeRuns(t, db, "recent", 5, coderunner.StatusCompleted, now.Add(-29*24*time.Hour))

	var batches []int
	r := &runs.Retention{Store: db, MaxAge: runs.DefaultRetention, Pause: 50 * time.Millisecond,
		Now: func() time.Time { return now }, Deleted: func(n int) { batches = append(batches, n) }}
	start := time.Now()
	n, err := r.Sweep(t.Context())
	if err != nil || n != 1100 {
		t.Fatalf("Sweep = %d, %v; want 1100, nil", n, err)
	}
	if want := []int{500, 500, 100}; !reflect.DeepEqual(batches, want) {
		t.Errorf("batches %v, want %v", batches, want)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("three batches took %v: no pause between them", d)
	}
	for _, id := range []string{"stuck-0", "stuck-2", "recent-0", "recent-4"} {
		if _, err := db.Run(t.Context(), id); err != nil {
			t.Errorf("run %s: %v; want it kept", id, err)
		}
	}
	if _, err := db.Run(t.Context(), "old-0"); coderunner.ErrorCode(err) != coderunner.NotFound {
		t.Errorf("run old-0: %v; want it deleted", err)
	}
	if n, err := r.Sweep(t.Context()); n != 0 || err != nil {
		t.Errorf("a second sweep = %d, %v; want 0, nil", n, err)
	}
}
