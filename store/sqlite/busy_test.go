package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"coderunner"
)

// holdWriteLock takes the database's write lock from another connection,
// as a long write by another process would, until the returned func.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
	}
}

// TestWritesFailFastWhenBusy floods a real SQLite file with writes while
// another connection holds its write lock: each write gives up within a
// short bound with INTERNAL and a message that says to try again, rather
// than hold its caller for seconds with an uncoded driver error; once the
// lock is free, writes succeed again.
func TestWritesFailFastWhenBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coderunner.db")
	s := open(t, path)
	ctx := t.Context()
	run := coderunner.Run{ID: "run-1", Owner: "guest:192.0.2.1", Language: "python", CreatedAt: time.Now()}
	run.Status = coderunner.StatusQueued
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func(i int) error
	}{
		{"CreateRun", func(i int) error {
			r := run
			r.ID = fmt.Sprintf("run-flood-%d", i)
			return s.CreateRun(ctx, r)
		}},
		{"UpdateRun", func(int) error {
			r := run
			r.Status = coderunner.StatusRunning
			_, err := s.UpdateRun(ctx, r)
			return err
		}},
		{"PutAgeGroup", func(i int) error {
			return s.PutAgeGroup(ctx, coderunner.AgeGroup{Slug: fmt.Sprintf("g%d", i), Title: "G", Position: i})
		}},
		{"PutLevel (a transaction)", func(i int) error {
			return s.PutLevel(ctx, coderunner.Level{ID: fmt.Sprintf("l%d", i), AgeGroup: "none", Title: "L"})
		}},
	}

	release := holdWriteLock(t, path)
	const flood, bound = 10, 3 * time.Second
	began := time.Now()
	var wg sync.WaitGroup
	for _, w := range writes {
		for i := range flood {
			wg.Go(func() {
				err := w.write(i)
				var coded *coderunner.Error
				if !errors.As(err, &coded) || coded.Code != coderunner.Internal || !errors.Is(err, coderunner.ErrBusy) {
					t.Errorf("%s while the lock is held: %v; want INTERNAL, coderunner.ErrBusy", w.name, err)
				}
			})
		}
	}
	wg.Wait()
	if took := time.Since(began); took > bound {
		t.Errorf("%d writes took %v to give up; want within %v", flood*len(writes), took, bound)
	}
	release()

	for _, w := range writes[:3] {
		if err := w.write(flood); err != nil {
			t.Errorf("%s after the lock is free: %v", w.name, err)
		}
	}
}
