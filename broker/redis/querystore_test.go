package redis

import (
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"coderunner/broker"
	"coderunner/broker/redis/redistest"
)

var _ graphql.Cache[string] = (*QueryStore)(nil)

func TestQueryStore(t *testing.T) {
	b := open(t, broker.Options{})
	q := b.QueryStore(time.Second)
	if got, ok := q.Get(t.Context(), "abc"); ok {
		t.Fatalf("Get of an unknown hash = %q; want a miss", got)
	}
	q.Add(t.Context(), "abc", "{ ageGroups { id } }")
	// Another replica, with its own Broker, sees it.
	other := openAt(t, redistest.Shared(t), Config{Prefix: b.keys.prefix}).QueryStore(0)
	if got, ok := other.Get(t.Context(), "abc"); !ok || got != "{ ageGroups { id } }" {
		t.Fatalf("Get = %q, %v; want the stored query", got, ok)
	}
	ttl, err := b.rdb.PTTL(t.Context(), b.keys.query("abc")).Result()
	if err != nil || ttl <= 0 || ttl > time.Second {
		t.Fatalf("TTL = %v, %v; want at most 1s", ttl, err)
	}
}
