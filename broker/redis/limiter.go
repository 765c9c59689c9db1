package redis

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
)

// The Limiter's keys, each with a TTL renewed by every write, so that an
// owner who stops using the service leaves nothing behind:
//
//   - quota:day:<date>:<owner>, a hash of the runs ("runs") and the
//     submissions ("submits") admitted and the CPU ms charged ("cpu") that
//     day (UTC), kept broker.DayUsageTTL;
//   - quota:active:<owner>, a sorted set of the active runs' and
//     submissions' IDs by the ms of their admission, kept a minute past
//     MaxActiveRunLife;
//   - quota:admitted:<owner> and quota:submitted:<owner>, the admissions
//     of runs and of submissions in the last minute, for RunsPerMinute and
//     SubmitsPerMinute: sorted sets of unique tokens by ms, kept a minute
//     past the window;
//   - throttle:<key>, the attempts Take counted in the window and Forget
//     has not removed: a sorted set of their tokens by ms, kept a minute
//     past the window and holding at most limit of them.
//
// The sorted sets are trimmed to their window by every write, and only
// grow while a quota or limit allows it, so each is bounded by a quota's
// number or Take's limit.

// AdmitRun implements coderunner.Limiter.
func (b *Broker) AdmitRun(ctx context.Context, key, runID string, q coderunner.Quota, now time.Time) error {
	return b.admit(ctx, broker.Runs, key, runID, q, now)
}

// AdmitSubmission implements coderunner.Limiter.
func (b *Broker) AdmitSubmission(ctx context.Context, key, submissionID string, q coderunner.Quota, now time.Time) error {
	return b.admit(ctx, broker.Submissions, key, submissionID, q, now)
}

// admit counts id, of kind k, against owner's quota by admitScript, or
// refuses it and counts nothing.
func (b *Broker) admit(ctx context.Context, k broker.Kind, owner, id string, q coderunner.Quota, now time.Time) error {
	perDay, perMinute := k.Limits(q)
	res, err := admitScript.Run(ctx, b.rdb,
		[]string{b.keys.quotaDay(owner, now), b.keys.activeRuns(owner), b.keys.admissions(k.Log, owner)},
		now.UnixMilli(), id, rand.Text(), k.Counter,
		perDay, q.ExecSecondsPerDay*1000, q.MaxActiveRuns, perMinute,
		coderunner.MaxActiveRunLife.Milliseconds(), broker.PerMinuteWindow.Milliseconds(),
		broker.DayUsageTTL.Milliseconds(),
		broker.LogTTL(coderunner.MaxActiveRunLife).Milliseconds(),
		broker.LogTTL(broker.PerMinuteWindow).Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("redis broker: admit %s %s of %s: %w", k.Counter, id, owner, err)
	}
	switch res[0] {
	case "ok":
		return nil
	case "day":
		return k.ErrPerDay(q, now)
	case "cpu":
		return broker.ErrExecPerDay(q, now)
	case "active":
		return broker.ErrActiveRuns(q)
	case "minute":
		if oldest, ok := res[1].(int64); ok {
			return k.ErrPerMinute(q, time.UnixMilli(oldest), now)
		}
	}
	return fmt.Errorf("redis broker: admit %s %s of %s: unexpected reply %v", k.Counter, id, owner, res)
}

// EndRun implements coderunner.Limiter, for runs and submissions alike.
// CPU time is charged in whole milliseconds.
func (b *Broker) EndRun(ctx context.Context, key, runID string, cpu time.Duration, now time.Time) error {
	err := endRunScript.Run(ctx, b.rdb,
		[]string{b.keys.activeRuns(key), b.keys.quotaDay(key, now)},
		now.UnixMilli(), runID, cpu.Milliseconds(),
		coderunner.MaxActiveRunLife.Milliseconds(), broker.DayUsageTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redis broker: end run %s of %s: %w", runID, key, err)
	}
	return nil
}

// Usage implements coderunner.Limiter.
func (b *Broker) Usage(ctx context.Context, key string, now time.Time) (coderunner.Usage, error) {
	var day *goredis.SliceCmd
	var active *goredis.IntCmd
	_, err := b.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		day = p.HMGet(ctx, b.keys.quotaDay(key, now), broker.Runs.Counter, broker.Submissions.Counter, "cpu")
		active = p.ZCount(ctx, b.keys.activeRuns(key), exclusive(now.Add(-coderunner.MaxActiveRunLife)), "+inf")
		return nil
	})
	if err != nil {
		return coderunner.Usage{}, fmt.Errorf("redis broker: usage of %s: %w", key, err)
	}
	var counts struct {
		Runs    int   `redis:"runs"`
		Submits int   `redis:"submits"`
		CPU     int64 `redis:"cpu"`
	}
	if err := day.Scan(&counts); err != nil {
		return coderunner.Usage{}, fmt.Errorf("redis broker: usage of %s: %w", key, err)
	}
	return coderunner.Usage{
		RunsToday:    counts.Runs,
		SubmitsToday: counts.Submits,
		ExecToday:    time.Duration(counts.CPU) * time.Millisecond,
		ActiveRuns:   int(active.Val()),
	}, nil
}

// Take implements coderunner.Limiter: takeScript checks and counts in one
// step, under a new random token.
func (b *Broker) Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (string, error) {
	token := rand.Text()
	res, err := takeScript.Run(ctx, b.rdb, []string{b.keys.throttle(key)},
		now.UnixMilli(), token, max(limit, 0), window.Milliseconds(),
		broker.LogTTL(window).Milliseconds()).Slice()
	if err != nil {
		return "", fmt.Errorf("redis broker: take an attempt of %s: %w", key, err)
	}
	switch res[0] {
	case "ok":
		return token, nil
	case "full":
		if oldest, ok := res[1].(int64); ok {
			return "", broker.ErrThrottled(time.UnixMilli(oldest), window, now)
		}
	}
	return "", fmt.Errorf("redis broker: take an attempt of %s: unexpected reply %v", key, res)
}

// Forget implements coderunner.Limiter. Redis deletes the key with its
// last attempt.
func (b *Broker) Forget(ctx context.Context, key, token string) error {
	if err := b.rdb.ZRem(ctx, b.keys.throttle(key), token).Err(); err != nil {
		return fmt.Errorf("redis broker: forget an attempt of %s: %w", key, err)
	}
	return nil
}

// exclusive is a sorted-set score bound that excludes t itself.
func exclusive(t time.Time) string { return fmt.Sprint("(", t.UnixMilli()) }
