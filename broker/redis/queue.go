package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
)

// Reserve implements coderunner.Queue.
func (b *Broker) Reserve(ctx context.Context, runID string) error {
	err := b.withGroup(ctx, func() error {
		return reserveScript.Run(ctx, b.rdb, []string{b.keys.jobs(), b.keys.reserved()},
			group, b.opts.MaxWaiting, runID, b.opts.ReserveTTL.Milliseconds()).Err()
	})
	switch {
	case errors.Is(err, goredis.Nil):
		return broker.ErrQueueFull(b.opts.MaxWaiting)
	case err != nil:
		return fmt.Errorf("redis broker: reserve room for run %s: %w", runID, err)
	}
	return nil
}

// Unreserve implements coderunner.Queue.
func (b *Broker) Unreserve(ctx context.Context, runID string) error {
	if err := b.rdb.ZRem(ctx, b.keys.reserved(), runID).Err(); err != nil {
		return fmt.Errorf("redis broker: give back room of run %s: %w", runID, err)
	}
	return nil
}

// Enqueue implements coderunner.Queue.
func (b *Broker) Enqueue(ctx context.Context, job coderunner.Job) error {
	payload, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("redis broker: encode job: %w", err)
	}
	err = b.withGroup(ctx, func() error {
		return enqueueScript.Run(ctx, b.rdb, []string{b.keys.jobs(), b.keys.reserved()},
			group, b.opts.MaxWaiting, payload, job.ID()).Err()
	})
	switch {
	case errors.Is(err, goredis.Nil):
		return broker.ErrQueueFull(b.opts.MaxWaiting)
	case err != nil:
		return fmt.Errorf("redis broker: enqueue run %s: %w", job.ID(), err)
	}
	return nil
}

// Depth implements coderunner.Queue.
func (b *Broker) Depth(ctx context.Context) (int64, error) {
	var n int64
	err := b.withGroup(ctx, func() (err error) {
		n, err = depthScript.Run(ctx, b.rdb, []string{b.keys.jobs()}, group).Int64()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("redis broker: queue depth: %w", err)
	}
	return n, nil
}

// OldestWaiting implements coderunner.Queue. The jobs not yet delivered
// to the group are the entries after its last-delivered-id, and an entry's
// id starts with the Redis server's time of its XADD: the age is Redis's
// time now minus that, both read in one script, so that the clocks of the
// api and worker hosts do not enter into it. It costs XINFO GROUPS (one
// group) and an XRANGE of one entry.
func (b *Broker) OldestWaiting(ctx context.Context) (time.Duration, error) {
	var ms int64
	err := b.withGroup(ctx, func() (err error) {
		ms, err = oldestWaitingScript.Run(ctx, b.rdb, []string{b.keys.jobs()}, group).Int64()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("redis broker: oldest waiting job: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// inQueuePage is how many stream entries one read of InQueue returns.
const inQueuePage = 500

// InQueue implements coderunner.Queue. The stream holds exactly the jobs
// waiting or claimed (Ack and DeadLetter delete entries), so it is read
// whole, a page at a time; it is bounded by MaxWaiting and the claims.
// An index by run ID would save the reads but must be kept in step with
// every script that adds or deletes an entry.
func (b *Broker) InQueue(ctx context.Context, runIDs []string) (map[string]bool, error) {
	wanted := make(map[string]bool, len(runIDs))
	for _, id := range runIDs {
		wanted[id] = true
	}
	found := make(map[string]bool)
	for start := "-"; ; {
		entries, err := b.rdb.XRangeN(ctx, b.keys.jobs(), start, "+", inQueuePage).Result()
		if err != nil {
			return nil, fmt.Errorf("redis broker: read the queue: %w", err)
		}
		for _, e := range entries {
			var job coderunner.Job
			payload, _ := e.Values["job"].(string)
			if json.Unmarshal([]byte(payload), &job) == nil && wanted[job.ID()] {
				found[job.ID()] = true
			}
		}
		if len(entries) < inQueuePage {
			return found, nil
		}
		start = "(" + entries[len(entries)-1].ID
	}
}

// Claim implements coderunner.Queue: timed-out claims first, then new jobs.
func (b *Broker) Claim(ctx context.Context, consumer string) (coderunner.Claim, error) {
	ctx, stop := b.bind(ctx)
	defer stop()
	b.forgetGoneConsumers(ctx)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var c *claim
		err := b.withGroup(ctx, func() (err error) {
			if c, err = b.reclaim(ctx, consumer); c == nil && err == nil {
				c, err = b.readNew(ctx, consumer)
			}
			return err
		})
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			return nil, fmt.Errorf("redis broker: claim: %w", err)
		case c != nil:
			return c, nil
		}
	}
}

// forgetGoneConsumers runs forgetScript if it has not run for forgetEvery.
// It is housekeeping: a failure is logged and Claim goes on.
func (b *Broker) forgetGoneConsumers(ctx context.Context) {
	b.forgotMu.Lock()
	due := time.Since(b.forgotAt) >= b.forgetEvery
	if due {
		b.forgotAt = time.Now()
	}
	b.forgotMu.Unlock()
	if !due {
		return
	}
	err := b.withGroup(ctx, func() error {
		n, err := forgetScript.Run(ctx, b.rdb, []string{b.keys.jobs()}, group, b.forgetAfter.Milliseconds()).Int()
		if n > 0 {
			b.log.Info("redis broker: forgot consumers that hold no job", "consumers", n, "idle", b.forgetAfter)
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		b.log.Warn("redis broker: forgetting idle consumers failed", "err", err)
	}
}

// reclaim takes over a claim that timed out, if there is one.
func (b *Broker) reclaim(ctx context.Context, consumer string) (*claim, error) {
	res, err := reclaimScript.Run(ctx, b.rdb, []string{b.keys.jobs()},
		group, consumer, b.opts.ClaimTimeout.Milliseconds()).Slice()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	id, _ := res[0].(string)
	fields, _ := res[1].([]any)
	deliveries, _ := res[2].(int64)
	return b.newClaim(ctx, consumer, id, fieldValue(fields, "job"), int(deliveries))
}

// readNew waits up to claimPoll for a new job. The read blocks a
// connection and go-redis cannot interrupt it, so it runs in its own
// goroutine: Claim returns as soon as ctx ends, and a job the abandoned
// read still gets is handed back at once (release) rather than sitting
// claimed by nobody until its claim times out.
func (b *Broker) readNew(ctx context.Context, consumer string) (*claim, error) {
	type result struct {
		streams []goredis.XStream
		err     error
	}
	got := make(chan result)
	b.wg.Go(func() {
		streams, err := b.rdb.XReadGroup(context.WithoutCancel(ctx), &goredis.XReadGroupArgs{
			Group: group, Consumer: consumer, Streams: []string{b.keys.jobs(), ">"},
			Count: 1, Block: b.claimPoll,
		}).Result()
		select {
		case got <- result{streams, err}:
		case <-ctx.Done():
			for _, s := range streams {
				for _, m := range s.Messages {
					b.release(consumer, m.ID)
				}
			}
		}
	})
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch {
	case errors.Is(r.err, goredis.Nil):
		return nil, nil // nothing new within claimPoll
	case r.err != nil:
		return nil, r.err
	case len(r.streams) == 0 || len(r.streams[0].Messages) == 0:
		return nil, nil
	}
	m := r.streams[0].Messages[0]
	job, _ := m.Values["job"].(string)
	return b.newClaim(ctx, consumer, m.ID, job, 1)
}

// release hands a job that was read for a Claim nobody waits for any more
// back to the queue: idle as long as a timed-out claim, so the next Claim
// takes it over, and with its delivery count undone.
func (b *Broker) release(consumer, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := b.rdb.Do(ctx, "XCLAIM", b.keys.jobs(), group, consumer, 0, id,
		"IDLE", b.opts.ClaimTimeout.Milliseconds(), "RETRYCOUNT", 0, "JUSTID").Err()
	if err != nil {
		b.log.Warn("redis broker: hand back an unwanted job; it is delivered again after the claim timeout",
			"id", id, "err", err)
	}
}

// newClaim decodes a delivered job. One that cannot be decoded would be
// delivered again forever: it is dead-lettered instead, and Claim goes on
// (newClaim returns no claim and no error).
func (b *Broker) newClaim(ctx context.Context, consumer, id, payload string, deliveries int) (*claim, error) {
	c := &claim{b: b, consumer: consumer, id: id, payload: payload, deliveries: deliveries}
	if err := json.Unmarshal([]byte(payload), &c.job); err != nil {
		b.log.Error("redis broker: malformed job: dead-lettering it", "id", id, "payload", payload, "err", err)
		return nil, c.DeadLetter(ctx, "malformed job: "+err.Error())
	}
	return c, nil
}

func fieldValue(fields []any, name string) string {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == name {
			s, _ := fields[i+1].(string)
			return s
		}
	}
	return ""
}

// claim is one delivery of a job: its consumer and delivery count tell it
// from a later delivery of the same entry.
type claim struct {
	b          *Broker
	consumer   string
	id         string // stream entry id
	payload    string // job JSON, as stored
	job        coderunner.Job
	deliveries int
}

func (c *claim) Job() coderunner.Job { return c.job }
func (c *claim) Deliveries() int     { return c.deliveries }

func (c *claim) KeepAlive(ctx context.Context) error {
	kept, err := keepAliveScript.Run(ctx, c.b.rdb, []string{c.b.keys.jobs()},
		group, c.consumer, c.id, c.deliveries).Int()
	switch {
	case isNoGroup(err) || err == nil && kept == 0:
		return coderunner.ErrClaimLost
	case err != nil:
		return fmt.Errorf("redis broker: keep claim of run %s alive: %w", c.job.ID(), err)
	}
	return nil
}

func (c *claim) Ack(ctx context.Context) error {
	err := ackScript.Run(ctx, c.b.rdb, []string{c.b.keys.jobs()}, group, c.id).Err()
	if err != nil && !isNoGroup(err) { // no group: the job is gone already
		return fmt.Errorf("redis broker: acknowledge run %s: %w", c.job.ID(), err)
	}
	return nil
}

func (c *claim) DeadLetter(ctx context.Context, reason string) error {
	err := deadLetterScript.Run(ctx, c.b.rdb, []string{c.b.keys.jobs(), c.b.keys.deadJobs()},
		group, c.id, c.payload, reason, c.deliveries, broker.MaxDeadLetters).Err()
	if err != nil && !isNoGroup(err) {
		return fmt.Errorf("redis broker: dead-letter run %s: %w", c.job.ID(), err)
	}
	return nil
}

// DeadLetters lists the dead-lettered jobs, oldest first.
func (b *Broker) DeadLetters(ctx context.Context) ([]broker.DeadLetter, error) {
	entries, err := b.rdb.XRange(ctx, b.keys.deadJobs(), "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("redis broker: list dead letters: %w", err)
	}
	out := make([]broker.DeadLetter, 0, len(entries))
	for _, e := range entries {
		d := broker.DeadLetter{At: entryTime(e.ID)}
		payload, _ := e.Values["job"].(string)
		_ = json.Unmarshal([]byte(payload), &d.Job) // a malformed job keeps its zero Job
		d.Reason, _ = e.Values["reason"].(string)
		deliveries, _ := e.Values["deliveries"].(string)
		d.Deliveries, _ = strconv.Atoi(deliveries)
		out = append(out, d)
	}
	return out, nil
}

// entryTime is when a stream entry was added: its id starts with the
// Unix time in milliseconds.
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}
