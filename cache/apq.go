package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// Queries is gqlgen's persisted-query store (graphql.Cache[string]): query
// text by SHA-256 hash, in process and, when there are several api
// replicas, in a shared store behind it (Redis), so that a query one replica
// was sent is known to all. Losing an entry is harmless — the client is
// told PERSISTED_QUERY_NOT_FOUND and sends the text again — so ristretto's
// buffered, droppable Set is fine here.
type Queries struct {
	entries      *ristretto.Cache[string, string]
	shared       QueryStore // nil: this process only
	hits, misses atomic.Uint64

	// Writes to the shared store are budgeted (see sharedWritesPerMinute).
	mu           sync.Mutex
	window       time.Time // start of the current minute
	sharedWrites int       // in that minute
}

// sharedWritesPerMinute bounds how many queries one replica registers in
// the shared store a minute: an app has a few dozen, and a client sending
// endless variants (a comment changes the hash) must not fill Redis, which
// also holds the run queue. Past the budget a query is kept in process
// only; other replicas then ask for its text once.
const sharedWritesPerMinute = 60

// QueryStore is a persisted-query store shared by api replicas.
type QueryStore interface {
	Get(ctx context.Context, hash string) (string, bool)
	Add(ctx context.Context, hash, query string)
}

// NewQueries returns a persisted-query store of at most maxBytes in
// process, in front of shared if it is not nil.
func NewQueries(maxBytes int64, shared QueryStore) (*Queries, error) {
	entries, err := newCache[string](maxBytes)
	if err != nil {
		return nil, err
	}
	return &Queries{entries: entries, shared: shared}, nil
}

// Get returns the query stored under hash.
func (q *Queries) Get(ctx context.Context, hash string) (string, bool) {
	query, ok := q.entries.Get(hash)
	if !ok && q.shared != nil {
		if query, ok = q.shared.Get(ctx, hash); ok {
			q.entries.Set(hash, query, int64(len(hash)+len(query)))
		}
	}
	if ok {
		q.hits.Add(1)
	} else {
		q.misses.Add(1)
	}
	return query, ok
}

// maxPersistedQuery bounds what one client can make every replica store:
// gqlgen adds a query before it parses it. A longer query still runs; it
// is just sent in full each time.
const maxPersistedQuery = 16 << 10

// Add stores query under hash, if it is a GraphQL document: gqlgen checks
// the hash, but calls Add before it parses the query, and text that is not
// a query has no business in every replica's store. (Parsing twice costs
// only at registration; gqlgen then fails the request with its own error.)
func (q *Queries) Add(ctx context.Context, hash, query string) {
	if len(query) > maxPersistedQuery {
		return
	}
	if _, err := parser.ParseQuery(&ast.Source{Input: query}); err != nil {
		return
	}
	q.entries.Set(hash, query, int64(len(hash)+len(query)))
	if q.shared != nil && q.takeSharedWrite(time.Now()) {
		q.shared.Add(ctx, hash, query)
	}
}

// takeSharedWrite reports whether the minute's budget of shared writes
// has room, and if so takes one.
func (q *Queries) takeSharedWrite(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(q.window) >= time.Minute {
		q.window, q.sharedWrites = now, 0
	}
	if q.sharedWrites >= sharedWritesPerMinute {
		return false
	}
	q.sharedWrites++
	return true
}

// Stats returns how many look-ups found their query and how many did not.
func (q *Queries) Stats() (hits, misses uint64) { return q.hits.Load(), q.misses.Load() }

// Wait blocks until queued writes are applied (for tests).
func (q *Queries) Wait() { q.entries.Wait() }
