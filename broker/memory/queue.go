package memory

import (
	"context"
	"sync"
	"time"

	"coderunner"
	"coderunner/broker"
)

// queue is a FIFO of jobs with claims that time out: a claimed job stays
// in claimed until it is acknowledged or dead-lettered, and one whose
// deadline passes is handed to the next Claim before any waiting job.
type queue struct {
	timeout    time.Duration
	maxWaiting int64
	reserveTTL time.Duration

	mu      sync.Mutex
	waiting []*entry
	// reserved holds the rooms taken by Reserve: run ID → when the room
	// frees itself. It counts towards maxWaiting with waiting.
	reserved map[string]time.Time
	claimed  map[*entry]struct{}
	dead     []broker.DeadLetter
	// wake is closed (and replaced) when a job is enqueued, so that
	// blocked Claims look again.
	wake chan struct{}
}

// entry is one job in the queue.
type entry struct {
	job        coderunner.Job
	enqueued   time.Time // when Enqueue added it, by this process's clock
	deliveries int
	deadline   time.Time // of the current claim
	done       bool      // acknowledged or dead-lettered
}

func newQueue(opts broker.Options) queue {
	return queue{
		timeout:    opts.ClaimTimeout,
		maxWaiting: opts.MaxWaiting,
		reserveTTL: opts.ReserveTTL,
		reserved:   make(map[string]time.Time),
		claimed:    make(map[*entry]struct{}),
		wake:       make(chan struct{}),
	}
}

// Reserve implements coderunner.Queue.
func (b *Broker) Reserve(_ context.Context, runID string) error {
	q := &b.queue
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropExpiredLocked(now)
	if _, ok := q.reserved[runID]; !ok && q.fullLocked() {
		return broker.ErrQueueFull(q.maxWaiting)
	}
	q.reserved[runID] = now.Add(q.reserveTTL)
	return nil
}

// Unreserve implements coderunner.Queue.
func (b *Broker) Unreserve(_ context.Context, runID string) error {
	b.queue.mu.Lock()
	defer b.queue.mu.Unlock()
	delete(b.queue.reserved, runID)
	return nil
}

// dropExpiredLocked frees the rooms whose reservers never came back. The
// map stays small without a sweeper: Reserve adds no room past maxWaiting.
func (q *queue) dropExpiredLocked(now time.Time) {
	for id, expires := range q.reserved {
		if !now.Before(expires) {
			delete(q.reserved, id)
		}
	}
}

// fullLocked reports whether waiting jobs and reserved rooms fill the queue.
func (q *queue) fullLocked() bool {
	return int64(len(q.waiting)+len(q.reserved)) >= q.maxWaiting
}

// Enqueue implements coderunner.Queue.
func (b *Broker) Enqueue(_ context.Context, job coderunner.Job) error {
	q := &b.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropExpiredLocked(time.Now())
	if _, ok := q.reserved[job.ID()]; ok {
		delete(q.reserved, job.ID()) // its room becomes the job's
	} else if q.fullLocked() {
		return broker.ErrQueueFull(q.maxWaiting)
	}
	q.waiting = append(q.waiting, &entry{job: job, enqueued: time.Now()})
	close(q.wake)
	q.wake = make(chan struct{})
	return nil
}

// Depth implements coderunner.Queue.
func (b *Broker) Depth(context.Context) (int64, error) {
	b.queue.mu.Lock()
	defer b.queue.mu.Unlock()
	return int64(len(b.queue.waiting)), nil
}

// OldestWaiting implements coderunner.Queue: the waiting jobs are in the
// order they were enqueued, and claimed ones leave the list.
func (b *Broker) OldestWaiting(context.Context) (time.Duration, error) {
	b.queue.mu.Lock()
	defer b.queue.mu.Unlock()
	if len(b.queue.waiting) == 0 {
		return 0, nil
	}
	return time.Since(b.queue.waiting[0].enqueued), nil
}

// InQueue implements coderunner.Queue.
func (b *Broker) InQueue(_ context.Context, runIDs []string) (map[string]bool, error) {
	q := &b.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	held := make(map[string]bool, len(q.waiting)+len(q.claimed))
	for _, e := range q.waiting {
		held[e.job.ID()] = true
	}
	for e := range q.claimed {
		held[e.job.ID()] = true
	}
	found := make(map[string]bool)
	for _, id := range runIDs {
		if held[id] {
			found[id] = true
		}
	}
	return found, nil
}

// Claim implements coderunner.Queue. The consumer name does not matter in
// one process: a claim is identified by its delivery.
func (b *Broker) Claim(ctx context.Context, _ string) (coderunner.Claim, error) {
	ctx, stop := b.bind(ctx)
	defer stop()
	q := &b.queue
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		e, next := q.takeLocked(time.Now())
		wake := q.wake
		q.mu.Unlock()
		if e != nil {
			return &claim{q: q, e: e, delivery: e.deliveries}, nil
		}
		waitForJob(ctx, wake, next)
	}
}

// waitForJob waits until wake closes (a job was enqueued), the earliest
// claim times out at next (if not zero), or ctx ends.
func waitForJob(ctx context.Context, wake <-chan struct{}, next time.Time) {
	var expiry <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		expiry = t.C
	}
	select {
	case <-ctx.Done():
	case <-wake:
	case <-expiry:
	}
}

// takeLocked claims the job whose claim timed out first, else the oldest
// waiting job. With neither, it returns when the earliest claim times out
// (zero if none is claimed).
func (q *queue) takeLocked(now time.Time) (*entry, time.Time) {
	var expired *entry
	var next time.Time
	for e := range q.claimed {
		if next.IsZero() || e.deadline.Before(next) {
			next = e.deadline
		}
		if !e.deadline.After(now) && (expired == nil || e.deadline.Before(expired.deadline)) {
			expired = e
		}
	}
	e := expired
	if e == nil {
		if len(q.waiting) == 0 {
			return nil, next
		}
		e = q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		q.claimed[e] = struct{}{}
	}
	e.deliveries++
	e.deadline = now.Add(q.timeout)
	return e, time.Time{}
}

// DeadLetters lists the dead-lettered jobs, oldest first.
func (b *Broker) DeadLetters(context.Context) ([]broker.DeadLetter, error) {
	b.queue.mu.Lock()
	defer b.queue.mu.Unlock()
	return append([]broker.DeadLetter(nil), b.queue.dead...), nil
}

// claim is one delivery of a job.
type claim struct {
	q        *queue
	e        *entry
	delivery int // e.deliveries when this claim was made
}

func (c *claim) Job() coderunner.Job { return c.e.job } // never changes
func (c *claim) Deliveries() int     { return c.delivery }

func (c *claim) KeepAlive(context.Context) error {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	if c.e.done || c.e.deliveries != c.delivery {
		return coderunner.ErrClaimLost
	}
	c.e.deadline = time.Now().Add(c.q.timeout)
	return nil
}

func (c *claim) Ack(context.Context) error {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	c.q.finishLocked(c.e)
	return nil
}

func (c *claim) DeadLetter(_ context.Context, reason string) error {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	if c.e.done {
		return nil
	}
	c.q.finishLocked(c.e)
	if len(c.q.dead) == broker.MaxDeadLetters {
		c.q.dead = c.q.dead[1:]
	}
	c.q.dead = append(c.q.dead, broker.DeadLetter{
		Job: c.e.job, Reason: reason, Deliveries: c.delivery, At: time.Now(),
	})
	return nil
}

func (q *queue) finishLocked(e *entry) {
	e.done = true
	delete(q.claimed, e)
}
