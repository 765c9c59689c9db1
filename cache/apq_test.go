package cache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

// sharedQueries is a shared persisted-query store held in a map, as the
// Redis one holds them for all replicas.
type sharedQueries struct {
	mu      sync.Mutex
	queries map[string]string
}

func (s *sharedQueries) Get(_ context.Context, hash string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queries[hash]
	return q, ok
}

func (s *sharedQueries) Add(_ context.Context, hash, query string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[hash] = query
}

// TestQueriesBudgetSharedWrites: one replica registers at most 60 queries
// a minute in the shared store; the rest it keeps to itself, and still
// answers them.
func TestQueriesBudgetSharedWrites(t *testing.T) {
	shared := &sharedQueries{queries: map[string]string{}}
	q, err := cache.NewQueries(1<<20, shared)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		q.Add(t.Context(), fmt.Sprint("hash-", i), fmt.Sprintf("{ ageGroups { slug } } # %d", i))
	}
	q.Wait()
	if n := len(shared.queries); n != 60 {
		t.Errorf("%d queries in the shared store; want the minute's budget of 60", n)
	}
	if _, ok := q.Get(t.Context(), "hash-99"); !ok {
		t.Error("a query over the budget is not kept in process either")
	}
}
