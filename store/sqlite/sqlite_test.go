package sqlite_test

import (
	"path/filepath"
	"testing"

	"coderunner"
	"coderunner/store/sqlite"
	"coderunner/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
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
	g := coderunner.AgeGroup{Slug: "7-9", Title: "Explorers", Position: 1}
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
