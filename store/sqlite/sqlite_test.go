package sqlite_test

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"coderunner"
	"coderunner/store/sqlite"
	"coderunner/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) coderunner.Store {
		return open(t, filepath.Join(t.TempDir(), "coderunner.db"))
	})
}

// TestReopen checks that migrations are applied once and data survives a
// restart: the second Open finds the schema current and the content there.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "coderunner.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	g := coderunner.AgeGroup{Slug: "7-9", Title: "Explorers", Position: 1, Version: 1}
	if err := s.PutAgeGroup(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	s.Close()

	groups, err := open(t, path).AgeGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0] != g {
		t.Fatalf("after reopening, AgeGroups = %+v, want [%+v]", groups, g)
	}
}

// TestReopenAccounts checks that an account and its session survive a
// restart: signed-in users stay signed in.
func TestReopenAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coderunner.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	created := time.UnixMilli(1_800_000_000_000).UTC()
	u := coderunner.User{
		ID: "u-ada", Name: "Ada", Role: coderunner.RoleEditor, CreatedAt: created,
		Quota: coderunner.QuotaOverride{RunsPerDay: new(0)},
	}
	sess := coderunner.Session{TokenHash: "hash", UserID: u.ID, CreatedAt: created, ExpiresAt: created.Add(time.Hour)}
	if err := s.CreateUser(t.Context(), u, "password hash"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	gotUser, hash, err := s.UserByName(t.Context(), "ada")
	if err != nil || !reflect.DeepEqual(gotUser, u) || hash != "password hash" {
		t.Errorf("after reopening, UserByName = %+v, %q, %v; want %+v, %q", gotUser, hash, err, u, "password hash")
	}
	gotSession, err := s.Session(t.Context(), sess.TokenHash)
	if err != nil || gotSession != sess {
		t.Errorf("after reopening, Session = %+v, %v; want %+v", gotSession, err, sess)
	}
}

// BenchmarkRunsAsTheyGrow: see storetest.BenchRunsAsTheyGrow; the
// baseline for the MongoDB store's.
func BenchmarkRunsAsTheyGrow(b *testing.B) {
	storetest.BenchRunsAsTheyGrow(b, func(b *testing.B) coderunner.Store {
		return open(b, filepath.Join(b.TempDir(), "coderunner.db"))
	}, 100, 500)
}
