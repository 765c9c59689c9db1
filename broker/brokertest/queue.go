package brokertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"coderunner"
)

func testQueue(t *testing.T, open Open) {
	tests := []struct {
		name string
		test func(t *testing.T, open Open)
	}{
		{"EnqueueClaimAck", testEnqueueClaimAck},
		{"ClaimsInOrder", testClaimsInOrder},
		{"DepthCountsWaitingJobsOnly", testDepth},
		{"OldestWaiting", testOldestWaiting},
		{"QueueFull", testQueueFull},
		{"ReserveHoldsRoom", testReserveHoldsRoom},
		{"Unreserve", testUnreserve},
		{"ReservationExpires", testReservationExpires},
		{"InQueue", testInQueue},
		{"InQueueReadsTheWholeQueue", testInQueueWhole},
		{"RedeliveredAfterClaimTimeout", testRedelivered},
		{"KeptAliveClaimIsNotRedelivered", testKeepAlive},
		{"RedeliveryBeforeNewJobs", testRedeliveryFirst},
		{"AckAfterClaimLost", testAckAfterClaimLost},
		{"DeadLetter", testDeadLetter},
		{"ClaimWaitsForJob", testClaimWaits},
		{"ClaimEndsWithContext", testClaimEndsWithContext},
		{"ConcurrentConsumers", testConcurrentConsumers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open)
		})
	}
}

func job(runID string) coderunner.Job {
	return coderunner.Job{RunID: runID, EnqueuedAt: time.Now()}
}

func enqueue(t *testing.T, q coderunner.Queue, jobs ...coderunner.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := q.Enqueue(t.Context(), j); err != nil {
			t.Fatalf("Enqueue(%s): %v", j.RunID, err)
		}
	}
}

// claim claims a job within d and checks which delivery of which run it is.
func claim(t *testing.T, q coderunner.Queue, consumer string, d time.Duration, runID string, deliveries int) coderunner.Claim {
	t.Helper()
	c, err := q.Claim(withTimeout(t, d), consumer)
	if err != nil {
		t.Fatalf("Claim by %s: %v; want run %s", consumer, err, runID)
	}
	if c.Job().RunID != runID || c.Deliveries() != deliveries {
		t.Fatalf("Claim by %s = run %s delivery %d; want run %s delivery %d",
			consumer, c.Job().RunID, c.Deliveries(), runID, deliveries)
	}
	return c
}

// expectNoClaim fails t if a job can be claimed within d.
func expectNoClaim(t *testing.T, q coderunner.Queue, d time.Duration) {
	t.Helper()
	c, err := q.Claim(withTimeout(t, d), "idle")
	if err == nil {
		t.Fatalf("Claim = run %s delivery %d; want none", c.Job().RunID, c.Deliveries())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim: %v; want context.DeadlineExceeded", err)
	}
}

func expectDepth(t *testing.T, q coderunner.Queue, want int64) {
	t.Helper()
	got, err := q.Depth(t.Context())
	if err != nil || got != want {
		t.Fatalf("Depth = %d, %v; want %d", got, err, want)
	}
}

func ack(t *testing.T, c coderunner.Claim) {
	t.Helper()
	if err := c.Ack(t.Context()); err != nil {
		t.Fatalf("Ack(%s): %v", c.Job().RunID, err)
	}
}

func expectClaimLost(t *testing.T, c coderunner.Claim) {
	t.Helper()
	if err := c.KeepAlive(t.Context()); !errors.Is(err, coderunner.ErrClaimLost) {
		t.Fatalf("KeepAlive of a lost claim: %v; want ErrClaimLost", err)
	}
}

func testEnqueueClaimAck(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	want := job("run-1")
	enqueue(t, b, want)
	expectDepth(t, b, 1)

	c := claim(t, b, "worker-a", timeout, "run-1", 1)
	if got := c.Job(); !got.EnqueuedAt.Equal(want.EnqueuedAt) {
		t.Errorf("EnqueuedAt = %v; want %v", got.EnqueuedAt, want.EnqueuedAt)
	}
	expectDepth(t, b, 0)
	if err := c.KeepAlive(t.Context()); err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	ack(t, c)
	ack(t, c) // a second Ack changes nothing
	expectClaimLost(t, c)
	// Acknowledged for good: not delivered again once the claim would
	// have timed out.
	expectNoClaim(t, b, 2*opts.ClaimTimeout)
	expectDepth(t, b, 0)
}

func testClaimsInOrder(t *testing.T, open Open) {
	b := open(t, options())
	enqueue(t, b, job("run-1"), job("run-2"), job("run-3"))
	for _, id := range []string{"run-1", "run-2", "run-3"} {
		ack(t, claim(t, b, "worker-a", timeout, id, 1))
	}
}

func testDepth(t *testing.T, open Open) {
	b := open(t, options())
	expectDepth(t, b, 0)
	enqueue(t, b, job("run-1"), job("run-2"), job("run-3"))
	expectDepth(t, b, 3)
	c := claim(t, b, "worker-a", timeout, "run-1", 1)
	expectDepth(t, b, 2) // the claimed job is not waiting
	ack(t, c)
	expectDepth(t, b, 2)
}

func expectOldest(t *testing.T, q coderunner.Queue, atLeast, atMost time.Duration) {
	t.Helper()
	got, err := q.OldestWaiting(t.Context())
	if err != nil || got < atLeast || got > atMost {
		t.Fatalf("OldestWaiting = %v, %v; want between %v and %v", got, err, atLeast, atMost)
	}
}

// testOldestWaiting: the age of the oldest job Depth counts, by the
// broker's clock (whole milliseconds for Redis, hence the slack).
func testOldestWaiting(t *testing.T, open Open) {
	const gap, slack = 300 * time.Millisecond, 20 * time.Millisecond
	opts := options()
	b := open(t, opts)
	expectOldest(t, b, 0, 0)
	first := time.Now()
	enqueue(t, b, job("run-1"))
	time.Sleep(gap)
	second := time.Now()
	enqueue(t, b, job("run-2"))
	expectOldest(t, b, gap-slack, time.Since(first)+slack) // run-1's

	c := claim(t, b, "worker-a", timeout, "run-1", 1)
	expectOldest(t, b, 0, time.Since(second)+slack) // run-2's: a claimed job does not wait
	ack(t, c)
	c = claim(t, b, "worker-a", timeout, "run-2", 1)
	expectOldest(t, b, 0, 0)
	// A claim that timed out waits to be delivered again, but is no
	// waiting job (as for Depth).
	time.Sleep(opts.ClaimTimeout + 100*time.Millisecond)
	expectDepth(t, b, 0)
	expectOldest(t, b, 0, 0)
	claim(t, b, "worker-b", timeout, "run-2", 2)
	ack(t, c)
	expectOldest(t, b, 0, 0)
}

func testQueueFull(t *testing.T, open Open) {
	opts := options()
	opts.MaxWaiting = 2
	b := open(t, opts)
	enqueue(t, b, job("run-1"), job("run-2"))

	expectFull := func() {
		t.Helper()
		err := b.Enqueue(t.Context(), job("run-x"))
		if code := coderunner.ErrorCode(err); code != coderunner.QueueFull {
			t.Fatalf("Enqueue past MaxWaiting: %v (code %s); want QUEUE_FULL", err, code)
		}
	}
	expectFull()
	expectDepth(t, b, 2)

	// A claimed job no longer waits, so there is room for one more.
	c := claim(t, b, "worker-a", timeout, "run-1", 1)
	enqueue(t, b, job("run-3"))
	expectFull()
	ack(t, c)
	expectFull()
	expectDepth(t, b, 2)
}

func expectFull(t *testing.T, what string, err error) {
	t.Helper()
	if code := coderunner.ErrorCode(err); code != coderunner.QueueFull {
		t.Fatalf("%s: %v (code %s); want QUEUE_FULL", what, err, code)
	}
}

func reserve(t *testing.T, q coderunner.Queue, runIDs ...string) {
	t.Helper()
	for _, id := range runIDs {
		if err := q.Reserve(t.Context(), id); err != nil {
			t.Fatalf("Reserve(%s): %v", id, err)
		}
	}
}

// testReserveHoldsRoom: a reserved room counts as a waiting job for
// everyone else, and is its own run's job's.
func testReserveHoldsRoom(t *testing.T, open Open) {
	opts := options()
	opts.MaxWaiting = 2
	b := open(t, opts)
	reserve(t, b, "run-1", "run-1") // reserving again renews, it takes no second room
	enqueue(t, b, job("run-2"))
	expectFull(t, "Reserve with the last room reserved", b.Reserve(t.Context(), "run-3"))
	expectFull(t, "Enqueue with the last room reserved", b.Enqueue(t.Context(), job("run-3")))
	expectDepth(t, b, 1) // a room is not a waiting job

	enqueue(t, b, job("run-1")) // into its room
	expectDepth(t, b, 2)
	expectFull(t, "Reserve with the queue full", b.Reserve(t.Context(), "run-3"))
	// The room was taken: a claim makes room for exactly one more.
	ack(t, claim(t, b, "worker-a", timeout, "run-2", 1))
	reserve(t, b, "run-3")
	expectFull(t, "Enqueue after the room freed by a claim was reserved", b.Enqueue(t.Context(), job("run-4")))
}

func testUnreserve(t *testing.T, open Open) {
	opts := options()
	opts.MaxWaiting = 1
	b := open(t, opts)
	reserve(t, b, "run-1")
	expectFull(t, "Enqueue with the room reserved", b.Enqueue(t.Context(), job("run-2")))
	if err := b.Unreserve(t.Context(), "run-1"); err != nil {
		t.Fatalf("Unreserve: %v", err)
	}
	if err := b.Unreserve(t.Context(), "run-never-reserved"); err != nil {
		t.Fatalf("Unreserve of a run without a room: %v", err)
	}
	enqueue(t, b, job("run-2"))
}

// testReservationExpires: the room of a reserver that never came back
// frees itself; its run's job then needs room like any other.
func testReservationExpires(t *testing.T, open Open) {
	opts := options()
	opts.MaxWaiting = 1
	opts.ReserveTTL = 300 * time.Millisecond
	b := open(t, opts)
	reserve(t, b, "run-1")
	expectFull(t, "Reserve with the room reserved", b.Reserve(t.Context(), "run-2"))
	time.Sleep(opts.ReserveTTL + 200*time.Millisecond)
	reserve(t, b, "run-2")
	expectFull(t, "Enqueue after its room expired and was taken", b.Enqueue(t.Context(), job("run-1")))
	enqueue(t, b, job("run-2"))
}

func expectInQueue(t *testing.T, q coderunner.Queue, runIDs []string, want ...string) {
	t.Helper()
	got, err := q.InQueue(t.Context(), runIDs)
	if err != nil {
		t.Fatalf("InQueue: %v", err)
	}
	wantSet := make(map[string]bool)
	for _, id := range want {
		wantSet[id] = true
	}
	if !maps.Equal(got, wantSet) {
		t.Fatalf("InQueue(%v) = %v; want %v", runIDs, got, wantSet)
	}
}

// testInQueue: a job is in the queue while it waits and while it is
// claimed, until it is acknowledged or dead-lettered.
func testInQueue(t *testing.T, open Open) {
	b := open(t, options())
	ids := []string{"run-1", "run-2", "run-3", "run-never-queued"}
	expectInQueue(t, b, ids)
	enqueue(t, b, job("run-1"), job("run-2"), job("run-3"))
	reserve(t, b, "run-never-queued") // a room is no job
	expectInQueue(t, b, ids, "run-1", "run-2", "run-3")
	c1 := claim(t, b, "worker-a", timeout, "run-1", 1)
	c2 := claim(t, b, "worker-a", timeout, "run-2", 1)
	expectInQueue(t, b, ids, "run-1", "run-2", "run-3")
	ack(t, c1)
	if err := c2.DeadLetter(t.Context(), "test"); err != nil {
		t.Fatal(err)
	}
	expectInQueue(t, b, ids, "run-3")
	expectInQueue(t, b, nil)
}

// testInQueueWhole: runs at the back of a long queue are found too.
func testInQueueWhole(t *testing.T, open Open) {
	opts := options()
	opts.MaxWaiting = 1200
	b := open(t, opts)
	var ids []string
	for i := range 1200 {
		id := fmt.Sprint("run-", i)
		enqueue(t, b, job(id))
		ids = append(ids, id)
	}
	expectInQueue(t, b, []string{"run-0", "run-1199", "run-1200"}, "run-0", "run-1199")
	got, err := b.InQueue(t.Context(), ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("InQueue of all %d queued runs found %d, %v", len(ids), len(got), err)
	}
}

func testRedelivered(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	enqueue(t, b, job("run-1"))
	first := claim(t, b, "worker-a", timeout, "run-1", 1)
	claimedAt := time.Now()

	// worker-a vanishes: no KeepAlive, no Ack.
	second := claim(t, b, "worker-b", timeout, "run-1", 2)
	if waited := time.Since(claimedAt); waited < opts.ClaimTimeout-50*time.Millisecond {
		t.Errorf("redelivered after %v; want no sooner than the claim timeout %v", waited, opts.ClaimTimeout)
	}
	expectClaimLost(t, first)
	if err := second.KeepAlive(t.Context()); err != nil {
		t.Fatalf("KeepAlive of the new claim: %v", err)
	}
	ack(t, second)
	expectDepth(t, b, 0)
}

func testKeepAlive(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	enqueue(t, b, job("run-1"))
	c := claim(t, b, "worker-a", timeout, "run-1", 1)

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(opts.ClaimTimeout / 5)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := c.KeepAlive(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("KeepAlive: %v", err)
				}
			}
		}
	})
	expectNoClaim(t, b, 4*opts.ClaimTimeout)
	stop()
	wg.Wait()

	// Once worker-a stops renewing, the job goes to worker-b.
	ack(t, claim(t, b, "worker-b", timeout, "run-1", 2))
}

func testRedeliveryFirst(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	enqueue(t, b, job("run-1"))
	claim(t, b, "worker-a", timeout, "run-1", 1) // and vanish
	enqueue(t, b, job("run-2"))
	time.Sleep(opts.ClaimTimeout + 100*time.Millisecond)

	ack(t, claim(t, b, "worker-b", timeout, "run-1", 2))
	ack(t, claim(t, b, "worker-b", timeout, "run-2", 1))
}

func testAckAfterClaimLost(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	enqueue(t, b, job("run-1"))
	slow := claim(t, b, "worker-a", timeout, "run-1", 1)
	again := claim(t, b, "worker-b", timeout, "run-1", 2)

	// The slow worker stored the result after all: its Ack ends the job,
	// and the other delivery learns that it no longer holds it.
	ack(t, slow)
	expectClaimLost(t, again)
	ack(t, again)
	expectDepth(t, b, 0)
	expectNoClaim(t, b, 2*opts.ClaimTimeout)
}

func testDeadLetter(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	dl, ok := b.(DeadLetterLister)
	if !ok {
		t.Fatalf("%T has no DeadLetters method", b)
	}
	enqueue(t, b, job("run-1"), job("run-2"))
	c := claim(t, b, "worker-a", timeout, "run-1", 1)
	before := time.Now()
	if err := c.DeadLetter(t.Context(), "too many deliveries"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if err := c.DeadLetter(t.Context(), "again"); err != nil {
		t.Fatalf("second DeadLetter: %v", err)
	}
	expectClaimLost(t, c)

	dead, err := dl.DeadLetters(t.Context())
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(dead) != 1 {
		t.Fatalf("DeadLetters = %+v; want one", dead)
	}
	d := dead[0]
	if d.Job.RunID != "run-1" || d.Reason != "too many deliveries" || d.Deliveries != 1 ||
		d.At.Before(before.Add(-time.Second)) || d.At.After(time.Now().Add(time.Second)) {
		t.Errorf("DeadLetters[0] = %+v; want run-1, its reason, 1 delivery, at about %v", d, before)
	}

	// Gone from the queue for good; the other job is unaffected.
	expectDepth(t, b, 1)
	ack(t, claim(t, b, "worker-a", timeout, "run-2", 1))
	expectNoClaim(t, b, 2*opts.ClaimTimeout)
}

func testClaimWaits(t *testing.T, open Open) {
	b := open(t, options())
	claimed := make(chan coderunner.Claim, 1)
	go func() {
		c, err := b.Claim(withTimeout(t, timeout), "worker-a")
		if err != nil {
			t.Errorf("Claim: %v", err)
		}
		claimed <- c
	}()
	expectNothing(t, claimed, 200*time.Millisecond)
	enqueue(t, b, job("run-1"))
	c, _ := receive(t, claimed, 2*time.Second)
	if c == nil || c.Job().RunID != "run-1" {
		t.Fatalf("Claim = %v; want run-1", c)
	}
	ack(t, c)
}

func testClaimEndsWithContext(t *testing.T, open Open) {
	opts := options()
	b := open(t, opts)
	tests := []struct {
		name string
		ctx  func() context.Context
		want error
	}{
		{"Cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx
		}, context.Canceled},
		{"DeadlineExceeded", func() context.Context {
			return withTimeout(t, 100*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for i, tt := range tests {
		start := time.Now()
		c, err := b.Claim(tt.ctx(), "worker-a")
		if !errors.Is(err, tt.want) {
			t.Fatalf("%s: Claim = %v, %v; want %v", tt.name, c, err, tt.want)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: Claim returned %v after its context ended; want promptly", tt.name, took)
		}
		// A job enqueued after the abandoned Claim is neither lost nor
		// held back for a claim timeout.
		runID := fmt.Sprint("run-", i)
		enqueue(t, b, job(runID))
		start = time.Now()
		ack(t, claim(t, b, "worker-b", timeout, runID, 1))
		if took := time.Since(start); took >= opts.ClaimTimeout {
			t.Errorf("%s: the next job took %v to claim; want well under the claim timeout", tt.name, took)
		}
	}
}

func testConcurrentConsumers(t *testing.T, open Open) {
	opts := options()
	opts.ClaimTimeout = 10 * time.Second // no redelivery: each job once
	b := open(t, opts)
	const jobs, consumers = 60, 4
	for i := range jobs {
		enqueue(t, b, job(fmt.Sprint("run-", i)))
	}

	ctx, done := context.WithCancel(withTimeout(t, 20*time.Second))
	defer done()
	var mu sync.Mutex
	seen := make(map[string]int)
	acked := 0
	holding := make(map[string]string) // run -> consumer, while claimed
	var wg sync.WaitGroup
	for i := range consumers {
		name := fmt.Sprint("worker-", i)
		wg.Go(func() {
			for {
				c, err := b.Claim(ctx, name)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("%s: Claim: %v", name, err)
					}
					return
				}
				id := c.Job().RunID
				mu.Lock()
				if other, ok := holding[id]; ok {
					t.Errorf("%s claimed %s while %s held it", name, id, other)
				}
				holding[id] = name
				seen[id]++
				mu.Unlock()

				time.Sleep(time.Millisecond) // hold it a little
				mu.Lock()
				delete(holding, id)
				mu.Unlock()
				if err := c.Ack(t.Context()); err != nil {
					t.Errorf("%s: Ack(%s): %v", name, id, err)
				}
				mu.Lock()
				if acked++; acked == jobs {
					done()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Fatalf("%d of %d jobs were delivered", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s was delivered %d times; want once", id, n)
		}
	}
	expectDepth(t, b, 0)
}
