package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"coderunner"
)

// TestUpgradeKeepsProblems opens a database written before submissions
// (schema version 4): its problems read back with the default checker, not
// stopping on the first failure, and every migration since is applied.
func TestUpgradeKeepsProblems(t *testing.T) {
	const beforeSubmissions = 4
	path := filepath.Join(t.TempDir(), "coderunner.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:beforeSubmissions] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		fmt.Sprintf(`PRAGMA user_version = %d`, beforeSubmissions),
		`INSERT INTO age_groups VALUES ('a', 'A', '', 1)`,
		`INSERT INTO levels VALUES ('l', 'a', 1, 'L', '', 1)`,
		`INSERT INTO problems VALUES ('p', 'l', 1, 'P', 'Print 1.', '', '[{"input":"","output":"1\n"}]',
			'[{"input":"x","output":"1\n"}]', 1000, 64, 'print(1)')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Problems(t.Context(), []string{"p"})
	if err != nil {
		t.Fatal(err)
	}
	want := coderunner.Problem{
		ID: "p", LevelID: "l", Position: 1, Title: "P", Statement: "Print 1.",
		SampleTests: []coderunner.TestCase{{Output: "1\n"}}, HiddenTests: []coderunner.TestCase{{Input: "x", Output: "1\n"}},
		TimeLimitMs: 1000, MemoryMB: 64, ReferenceSolution: "print(1)",
		Version: 1, // content from before versions is at version 1
	}
	if !reflect.DeepEqual(got["p"], want) {
		t.Errorf("after the upgrade, Problems[p] =\n%#v\nwant\n%#v", got["p"], want)
	}
	var version int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("schema version %d (%v), want %d", version, err, len(migrations))
	}
	if _, err := s.Progress(t.Context(), "u1", nil); err != nil {
		t.Errorf("Progress after the upgrade: %v", err)
	}
}
