package redis

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
)

// TestMalformedJobIsDeadLettered: an entry that is not a job (written by
// something else, or a future version) must not come back forever.
func TestMalformedJobIsDeadLettered(t *testing.T) {
	b := open(t, broker.Options{ClaimTimeout: time.Second})
	ctx := t.Context()
	if err := b.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: b.keys.jobs(), Values: []any{"job", "{not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(ctx, coderunner.Job{RunID: "run-1"}); err != nil {
		t.Fatal(err)
	}

	c, err := b.Claim(ctx, "worker-a")
	if err != nil || c.Job().RunID != "run-1" {
		t.Fatalf("Claim = %v, %v; want run-1 after the malformed entry", c, err)
	}
	dead, err := b.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || !strings.HasPrefix(dead[0].Reason, "malformed job") {
		t.Fatalf("DeadLetters = %+v, %v; want the malformed entry", dead, err)
	}
	if err := c.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Depth(ctx); err != nil || n != 0 {
		t.Fatalf("Depth = %d, %v; want 0", n, err)
	}
}

// TestExitedWorkersAreForgotten: the group forgets consumers that hold no
// claim and have had no delivery for a while (workers that exited or were
// killed), but never one that holds a claim; a forgotten worker that is
// alive after all gets its next job as before.
func TestExitedWorkersAreForgotten(t *testing.T) {
	b := open(t, broker.Options{ClaimTimeout: time.Minute})
	ctx := t.Context()
	for _, id := range []string{"run-1", "run-2"} {
		if err := b.Enqueue(ctx, coderunner.Job{RunID: id}); err != nil {
			t.Fatal(err)
		}
	}
	done, err := b.Claim(ctx, "worker-gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	held, err := b.Claim(ctx, "worker-busy")
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() []string {
		t.Helper()
		infos, err := b.rdb.XInfoConsumers(ctx, b.keys.jobs(), group).Result()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range infos {
			names = append(names, c.Name)
		}
		return names
	}
	if got := consumers(); len(got) != 2 {
		t.Fatalf("consumers %v; want worker-gone and worker-busy", got)
	}

	b.forgetAfter, b.forgetEvery = 50*time.Millisecond, 0
	time.Sleep(100 * time.Millisecond)
	waiting, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if c, err := b.Claim(waiting, "worker-new"); err == nil {
		t.Fatalf("Claim with an empty queue = %v; want the context's error", c.Job())
	}
	if got := consumers(); !slices.Equal(got, []string{"worker-busy"}) {
		t.Fatalf("consumers after forgetting %v; want only worker-busy, which holds a claim", got)
	}
	if err := held.KeepAlive(ctx); err != nil {
		t.Fatalf("KeepAlive of the claim kept: %v", err)
	}
	if err := held.Ack(ctx); err != nil {
		t.Fatal(err)
	}

	if err := b.Enqueue(ctx, coderunner.Job{RunID: "run-3"}); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Claim(ctx, "worker-gone"); err != nil || c.Job().RunID != "run-3" {
		t.Fatalf("Claim by a forgotten worker = %v, %v; want run-3", c, err)
	}
}

// TestOldestWaitingByRedisClock: the age is read from the entry's id,
// written by Redis at XADD, against Redis's clock (not the job's
// EnqueuedAt, set by the api host); and a group that was lost (a Redis
// restarted without persistence of the group, an operator's XGROUP
// DESTROY) is made again, with every entry waiting.
func TestOldestWaitingByRedisClock(t *testing.T) {
	b := open(t, broker.Options{ClaimTimeout: time.Minute, MaxWaiting: 10})
	ctx := t.Context()
	// An api host whose clock is an hour behind.
	if err := b.Enqueue(ctx, coderunner.Job{RunID: "run-1", EnqueuedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	age, err := b.OldestWaiting(ctx)
	if err != nil || age < 90*time.Millisecond || age > time.Minute {
		t.Fatalf("OldestWaiting = %v, %v; want about 100ms", age, err)
	}
	if err := b.rdb.XGroupDestroy(ctx, b.keys.jobs(), group).Err(); err != nil {
		t.Fatal(err)
	}
	if age, err := b.OldestWaiting(ctx); err != nil || age < 90*time.Millisecond || age > time.Minute {
		t.Fatalf("OldestWaiting with the group lost = %v, %v; want about 100ms", age, err)
	}
	if n, err := b.Depth(ctx); err != nil || n != 1 {
		t.Fatalf("Depth = %d, %v; want 1", n, err)
	}
}
