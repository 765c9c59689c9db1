package cache

import (
	"context"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// Queries is gqlgen's persisted-query store (graphql.Cache[string]): query
// text by SHA-256 hash. Losing an entry is harmless — the client is told
// PERSISTED_QUERY_NOT_FOUND and sends the text again — so ristretto's
// buffered, droppable Set is fine here.
type Queries struct {
	entries      *ristretto.Cache[string, string]
	hits, misses atomic.Uint64
}

// NewQueries returns a persisted-query store of at most maxBytes.
func NewQueries(maxBytes int64) (*Queries, error) {
	entries, err := newCache[string](maxBytes)
	if err != nil {
		return nil, err
	}
	return &Queries{entries: entries}, nil
}

// Get returns the query stored under hash.
func (q *Queries) Get(_ context.Context, hash string) (string, bool) {
	query, ok := q.entries.Get(hash)
	if ok {
		q.hits.Add(1)
	} else {
		q.misses.Add(1)
	}
	return query, ok
}

// Add stores query under hash. gqlgen checks the hash before calling Add.
func (q *Queries) Add(_ context.Context, hash, query string) {
	q.entries.Set(hash, query, int64(len(hash)+len(query)))
}

// Stats returns how many look-ups found their query and how many did not.
func (q *Queries) Stats() (hits, misses uint64) { return q.hits.Load(), q.misses.Load() }

// Wait blocks until queued writes are applied (for tests).
func (q *Queries) Wait() { q.entries.Wait() }
