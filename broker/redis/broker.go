// Package redis is the coderunner.Broker for several processes: api and
// worker replicas that share one Redis.
//
//   - Queue: a Stream with a consumer group. Claims are stream deliveries;
//     a claim that is not kept alive is taken over by XAUTOCLAIM once it
//     has been idle for the claim timeout. Acknowledged jobs are deleted
//     from the stream, so its length is waiting + claimed jobs. Rooms
//     reserved for jobs to come are a sorted set beside it.
//   - Events: a per-run sequence counter and a capped list (the replay
//     buffer), written together with the PUBLISH by one Lua script, so a
//     reader of the list and a subscriber of the channel never disagree.
//     Each Broker holds one PubSub connection for all its subscriptions.
//   - Control: a per-run list, popped by the worker that runs the run.
//   - Limiter: per owner, a hash of the day's counters and sorted sets of
//     the active runs and submissions and of the last minute's admissions
//     of each, checked and updated together by one Lua script; per
//     throttled key, a sorted set of the attempts Take counted, checked
//     and added to by another. Every key expires (see limiter.go).
//   - Revocations and ContentChanges: one channel each, on the same
//     PubSub connection.
//
// Keys start with a prefix (default "coderunner:"), so that several
// deployments or tests can share one Redis. The Broker works on a Redis
// without persistence: after a restart it recreates what it needs and
// resubscribes, and loses what only Redis held (queued jobs among it).
// Production runs Redis with AOF and noeviction: see docs/redis.md.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
)

var _ coderunner.Broker = (*Broker)(nil)

// group is the consumer group of the workers.
const group = "workers"

// Config configures a Broker.
type Config struct {
	broker.Options
	// Prefix starts every key and channel name. Default "coderunner:".
	Prefix string
	// Log receives what goes wrong in the background (reconnects,
	// retries). Default slog.Default().
	Log *slog.Logger
}

// Broker is a coderunner.Broker on Redis. Create it with Open.
type Broker struct {
	rdb  *goredis.Client
	opts broker.Options
	keys keys
	log  *slog.Logger
	subs *hub

	// claimPoll bounds one blocking read of new jobs, so that a waiting
	// Claim also looks for timed-out claims this often.
	claimPoll time.Duration
	// Consumers without a claim and without a delivery for forgetAfter
	// are deleted from the group, looked for at most every forgetEvery,
	// so that the names of exited workers do not pile up.
	forgetAfter, forgetEvery time.Duration
	forgotMu                 sync.Mutex
	forgotAt                 time.Time

	// done ends background work on Close; wg waits for it.
	done  context.Context
	close context.CancelFunc
	wg    sync.WaitGroup
}

// Open returns a Broker on the Redis at url (redis://[:password@]host:port/db;
// go-redis options such as pool_size go in the query). It does not wait for
// Redis: calls fail until it answers, and the Broker recovers by itself
// when it does. Close releases it.
//
// The connection pool must hold, besides ordinary commands, one blocking
// connection per concurrent Claim and per control listener: go-redis's
// default (10 per CPU) covers a worker with one run per CPU.
func Open(url string, cfg Config) (*Broker, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis broker: %w", err)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "coderunner:"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	opts := cfg.Options.WithDefaults()
	done, cancel := context.WithCancel(context.Background())
	b := &Broker{
		rdb:         goredis.NewClient(o),
		opts:        opts,
		keys:        keys{cfg.Prefix},
		log:         cfg.Log,
		claimPoll:   min(max(opts.ClaimTimeout/4, 10*time.Millisecond), 2*time.Second),
		forgetAfter: time.Hour,
		forgetEvery: time.Minute,
		done:        done,
		close:       cancel,
	}
	b.subs = newHub(b)
	b.wg.Go(b.subs.receive)
	b.wg.Go(b.subs.ping)
	return b, nil
}

// Ping implements coderunner.Broker.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis broker: ping: %w", err)
	}
	return nil
}

// Close ends subscriptions, control listeners and blocked Claims, and
// closes the connections.
func (b *Broker) Close() error {
	b.close()
	err := errors.Join(b.subs.close(), b.rdb.Close())
	b.wg.Wait()
	return err
}

// bind returns a context that also ends when the broker closes.
func (b *Broker) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.done, cancel)
	return ctx, func() { stop(); cancel() }
}

// keys names the Redis keys and channels.
type keys struct{ prefix string }

func (k keys) jobs() string     { return k.prefix + "jobs" }
func (k keys) deadJobs() string { return k.prefix + "jobs:dead" }
func (k keys) reserved() string { return k.prefix + "jobs:reserved" }

func (k keys) seq(runID string) string     { return k.prefix + "run:" + runID + ":seq" }
func (k keys) events(runID string) string  { return k.prefix + "run:" + runID + ":events" }
func (k keys) channel(runID string) string { return k.prefix + "run:" + runID + ":live" }
func (k keys) control(runID string) string { return k.prefix + "run:" + runID + ":control" }
func (k keys) cancelled(runID string) string {
	return k.prefix + "run:" + runID + ":cancelled"
}

func (k keys) query(hash string) string { return k.prefix + "apq:" + hash }

// The Limiter's keys end with the owner's or throttled key, which may hold
// any character (':' and '.' in "guest:<ip>"), after a fixed part: so no
// two of them can be the same. See limiter.go.

func (k keys) quotaDay(owner string, now time.Time) string {
	return k.prefix + "quota:day:" + coderunner.DayStart(now).Format(time.DateOnly) + ":" + owner
}
func (k keys) activeRuns(owner string) string      { return k.prefix + "quota:active:" + owner }
func (k keys) admissions(log, owner string) string { return k.prefix + "quota:" + log + ":" + owner }
func (k keys) throttle(key string) string          { return k.prefix + "throttle:" + key }

// revoked is the channel of session revocations.
func (k keys) revoked() string { return k.prefix + "sessions:revoked" }

// contentChanged is the channel of content changes.
func (k keys) contentChanged() string { return k.prefix + "content:changed" }

// ensureGroup creates the stream and its consumer group if either is
// missing: at first use, and after a Redis restart lost them.
func (b *Broker) ensureGroup(ctx context.Context) error {
	err := b.rdb.XGroupCreateMkStream(ctx, b.keys.jobs(), group, "0").Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("redis broker: create consumer group: %w", err)
	}
	return nil
}

// isNoGroup reports a missing stream or consumer group. Scripts report it
// inside their own error text, hence Contains.
func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// withGroup runs f, and once more after recreating the consumer group if
// f found it missing.
func (b *Broker) withGroup(ctx context.Context, f func() error) error {
	err := f()
	if isNoGroup(err) {
		if err = b.ensureGroup(ctx); err == nil {
			err = f()
		}
	}
	return err
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
