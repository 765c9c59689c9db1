package runs_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/broker/redis"
	"coderunner/broker/redis/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// brokerKind opens a Broker of one kind for a test that runs against both:
// what the runs service leaves in the broker is only worth measuring in
// the one that production runs on.
type brokerKind struct {
	name string
	open func(t *testing.T, opts broker.Options) (coderunner.Broker, *redisKeys)
}

// redisKeys reads the keys a Redis broker holds under its prefix.
type redisKeys struct {
	rdb    *goredis.Client
	prefix string
}

var brokerKinds = []brokerKind{
	{"memory", func(t *testing.T, opts broker.Options) (coderunner.Broker, *redisKeys) {
		b := memory.New(opts)
		t.Cleanup(func() { b.Close() })
		return b, nil
	}},
	{"redis", func(t *testing.T, opts broker.Options) (coderunner.Broker, *redisKeys) {
		url := redistest.Shared(t)
		prefix := fmt.Sprintf("runs%d:", prefixes.Add(1))
		b, err := redis.Open(url, redis.Config{Options: opts, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		o, err := goredis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		rdb := goredis.NewClient(o)
		t.Cleanup(func() { rdb.Close() })
		return b, &redisKeys{rdb, prefix}
	}},
}

var prefixes atomic.Int64

// list returns the keys under the prefix that match pattern (after it).
func (k *redisKeys) list(t *testing.T, pattern string) []string {
	t.Helper()
	keys, err := k.rdb.Keys(t.Context(), k.prefix+pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// bytes is the memory Redis uses for keys (MEMORY USAGE, all samples).
func (k *redisKeys) bytes(t *testing.T, keys []string) int64 {
	t.Helper()
	var n int64
	for _, key := range keys {
		used, err := k.rdb.MemoryUsage(t.Context(), key, 0).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		n += used
	}
	return n
}
