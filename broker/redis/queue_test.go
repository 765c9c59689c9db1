package redis

import (
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
