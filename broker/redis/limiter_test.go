package redis

import (
	"fmt"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

// TestLimiterKeysExpireAndStayBounded: every key the Limiter writes has
// the TTL its contents need, so that an owner who leaves leaves nothing
// behind, and holds no more entries than the quota's numbers or Take's
// limit; a key whose attempts are all forgotten is gone.
func TestLimiterKeysExpireAndStayBounded(t *testing.T) {
	b := open(t, broker.Options{})
	ctx := t.Context()
	now := time.Date(2030, 3, 14, 10, 0, 0, 0, time.UTC)
	owner := "guest:10.0.0.1"
	q := coderunner.Quota{RunsPerMinute: 10, RunsPerDay: 100, ExecSecondsPerDay: 100, MaxActiveRuns: 20, SubmitsPerMinute: 5, SubmitsPerDay: 100}
	for i := range 30 {
		_ = b.AdmitRun(ctx, owner, fmt.Sprint("run-", i), q, now)               // 10 admitted
		_ = b.AdmitSubmission(ctx, owner, fmt.Sprint("submission-", i), q, now) // 5 admitted
	}
	if err := b.EndRun(ctx, owner, "run-0", time.Second, now); err != nil {
		t.Fatal(err)
	}
	const limit, window = 5, 15 * time.Minute
	for range 20 {
		_, _ = b.Take(ctx, "signin:name:ada", limit, window, now) // 5 taken
	}
	for range 20 { // a limit lowered keeps the newest
		_, _ = b.Take(ctx, "signin:addr:10.0.0.1", 10, window, now)
	}
	if _, err := b.Take(ctx, "signin:addr:10.0.0.1", 3, window, now); coderunner.ErrorCode(err) != coderunner.RateLimited {
		t.Fatalf("Take under a lowered limit: %v; want RATE_LIMITED", err)
	}
	forgotten, err := b.Take(ctx, "signup:addr:10.0.0.1", 1, window, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Forget(ctx, "signup:addr:10.0.0.1", forgotten); err != nil {
		t.Fatal(err)
	}

	p := b.keys.prefix
	want := map[string]struct {
		ttl     time.Duration
		entries int64 // of a sorted set
	}{
		p + "quota:day:2030-03-14:" + owner: {ttl: broker.DayUsageTTL},
		p + "quota:active:" + owner:         {ttl: time.Hour + time.Minute, entries: 14},
		p + "quota:admitted:" + owner:       {ttl: 2 * time.Minute, entries: 10},
		p + "quota:submitted:" + owner:      {ttl: 2 * time.Minute, entries: 5},
		p + "throttle:signin:name:ada":      {ttl: window + time.Minute, entries: limit},
		p + "throttle:signin:addr:10.0.0.1": {ttl: window + time.Minute, entries: 3},
	}
	keys, err := b.rdb.Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %q; want one for each of %v", keys, want)
	}
	for _, key := range keys {
		w, ok := want[key]
		if !ok {
			t.Fatalf("unexpected key %q", key)
		}
		ttl, err := b.rdb.PTTL(ctx, key).Result()
		if err != nil || ttl > w.ttl || ttl < w.ttl-10*time.Second {
			t.Errorf("%s: TTL %v, %v; want %v", key, ttl, err, w.ttl)
		}
		if w.entries == 0 {
			continue
		}
		if n, err := b.rdb.ZCard(ctx, key).Result(); err != nil || n != w.entries {
			t.Errorf("%s: %d entries, %v; want %d", key, n, err, w.entries)
		}
	}
}
