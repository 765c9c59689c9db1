package cache_test

import (
	"strings"
	"testing"

	"coderunner/cache"
)

// TestQueriesStoresOnlyDocuments: a registered query is kept only when it
// is a GraphQL document of at most 16 KiB; anything else is left out, and
// its hash stays unknown.
func TestQueriesStoresOnlyDocuments(t *testing.T) {
	tests := []struct {
		name  string
		query string
		kept  bool
	}{
		{"a query", `query Levels($g: String!) { levels(ageGroup: $g) { id title } }`, true},
		{"just under the cap", "{ " + strings.Repeat("a ", (16<<10)/2-3) + "}", true},
		{"over the cap", "{ " + strings.Repeat("a ", 16<<10) + "}", false},
		{"not GraphQL", "SELECT * FROM problems", false},
		{"unbalanced", "{ levels(ageGroup: \"7-9\") { id ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := cache.NewQueries(1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			q.Add(t.Context(), "hash", tt.query)
			q.Wait()
			if _, ok := q.Get(t.Context(), "hash"); ok != tt.kept {
				t.Errorf("stored = %v; want %v", ok, tt.kept)
			}
		})
	}
}
