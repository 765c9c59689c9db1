package redis

import (
	"fmt"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

// TestGroupLagIsTheBacklog: the consumer group's lag, which KEDA's
// redis-streams scaler reads in lag mode (XINFO GROUPS, through go-redis
// as this package does) to scale the workers (deploy/k8s), counts the
// jobs Depth counts (coderunner_queue_depth): those waiting for a worker,
// not those being run.
//
// Acknowledged jobs are deleted from the stream, and Redis 7 cannot tell
// the lag for a moment: from acknowledging the newest delivered job while
// an older one is still held until the next delivery. go-redis reads it as
// -1, which KEDA passes on. With a backlog the next delivery follows at
// once; without one there is nothing to scale for. docs/deploy.md says so.
func TestGroupLagIsTheBacklog(t *testing.T) {
	b := open(t, broker.Options{ClaimTimeout: time.Minute})
	ctx := t.Context()
	check := func(step string, unknownAllowed bool) {
		t.Helper()
		depth, err := b.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		groups, err := b.rdb.XInfoGroups(ctx, b.keys.jobs()).Result()
		if err != nil {
			t.Fatal(err)
		}
		var lag int64 = -2
		for _, g := range groups {
			if g.Name == group {
				lag = g.Lag
			}
		}
		switch {
		case lag == -1 && unknownAllowed:
			t.Logf("%s: lag unknown (-1), depth %d", step, depth)
		case lag != depth:
			t.Errorf("%s: group %q lag %d, depth %d", step, group, lag, depth)
		}
	}

	for i := range 10 {
		if err := b.Enqueue(ctx, coderunner.Job{RunID: fmt.Sprint("run-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	check("10 queued", false)
	var claims []coderunner.Claim
	for i := range 3 {
		c, err := b.Claim(ctx, fmt.Sprint("worker-", i))
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, c)
	}
	check("3 claimed, 7 waiting", false)
	if err := claims[0].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	check("the oldest claim done", false)
	if err := claims[2].Ack(ctx); err != nil {
		t.Fatal(err)
	}
	check("the newest claim done while an older one runs", true)
	next, err := b.Claim(ctx, "worker-2")
	if err != nil {
		t.Fatal(err)
	}
	check("the next delivery", false)
	for _, c := range []coderunner.Claim{claims[1], next} {
		if err := c.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 6 {
		c, err := b.Claim(ctx, "worker-0")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check("all done", false)
}
