package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultQueryTTL is how long a persisted query is kept after it was
// last added. Losing one costs a client one retry with the full text; an
// hour bounds what registrations can make Redis hold (cache.Queries
// budgets them per replica and minute).
const DefaultQueryTTL = time.Hour

// QueryStore is gqlgen's persisted-query store (graphql.Cache[string]) in
// Redis: a query one api replica has seen is known to all. Errors are
// logged and read as misses: APQ clients then send the query again.
type QueryStore struct {
	b   *Broker
	ttl time.Duration
}

// QueryStore returns a persisted-query store on the broker's Redis,
// keeping each query ttl (DefaultQueryTTL if 0).
func (b *Broker) QueryStore(ttl time.Duration) *QueryStore {
	if ttl <= 0 {
		ttl = DefaultQueryTTL
	}
	return &QueryStore{b: b, ttl: ttl}
}

// Get returns the query stored under hash.
func (q *QueryStore) Get(ctx context.Context, hash string) (string, bool) {
	query, err := q.b.rdb.Get(ctx, q.b.keys.query(hash)).Result()
	if err != nil {
		if !errors.Is(err, goredis.Nil) {
			q.b.log.Warn("redis broker: read persisted query failed", "hash", hash, "err", err)
		}
		return "", false
	}
	return query, true
}

// Add stores query under hash. gqlgen checks the hash before calling Add.
func (q *QueryStore) Add(ctx context.Context, hash, query string) {
	if err := q.b.rdb.Set(ctx, q.b.keys.query(hash), query, q.ttl).Err(); err != nil {
		q.b.log.Warn("redis broker: store persisted query failed", "hash", hash, "err", err)
	}
}
