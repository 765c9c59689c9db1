package brokertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
)

func testEvents(t *testing.T, open Open) {
	// Counting goroutines needs the process to itself: before the
	// parallel subtests start.
	t.Run("SubscriptionsLeakNoGoroutine", func(t *testing.T) { testNoGoroutineLeak(t, open) })

	tests := []struct {
		name string
		test func(t *testing.T, open Open)
	}{
		{"PublishNumbersEachRun", testPublishNumbers},
		{"ConcurrentPublishersStayGapless", testConcurrentPublishers},
		{"SubscribeReplaysThenStreams", testSubscribeReplaysThenStreams},
		{"SubscribeAfterSeq", testSubscribeAfterSeq},
		{"SubscribeAheadOfRunClosesAtFinish", testSubscribeAheadOfRun},
		{"Replay", testReplay},
		{"SubscriptionEndsWithContext", testSubscriptionEndsWithContext},
		{"SubscribeRacingPublish", testSubscribeRacingPublish},
		{"SlowSubscriberLosesNothing", testSlowSubscriber},
		{"ManySubscribersOneRun", testManySubscribers},
		{"ReplayBufferIsBounded", testReplayBounded},
		{"ReplayBufferExpires", testReplayExpires},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open)
		})
	}
}

func stdout(runID, text string) coderunner.RunEvent {
	return coderunner.RunEvent{RunID: runID, Type: coderunner.EventStdout, Text: text}
}

func finished(runID string) coderunner.RunEvent {
	run := &coderunner.Run{ID: runID, Owner: "guest:192.0.2.1"}
	run.Status, run.Stdout, run.ExitCode = coderunner.StatusCompleted, "hi\n", 0
	return coderunner.RunEvent{RunID: runID, Type: coderunner.EventFinished, Run: run}
}

func publish(t testing.TB, b coderunner.EventLog, events ...coderunner.RunEvent) []coderunner.RunEvent {
	t.Helper()
	var out []coderunner.RunEvent
	for _, e := range events {
		p, err := b.Publish(context.Background(), e)
		if err != nil {
			t.Errorf("Publish(%+v): %v", e, err)
			return out
		}
		out = append(out, p)
	}
	return out
}

// publishRun publishes a whole run: QUEUED, STARTED, n STDOUT, FINISHED.
func publishRun(t testing.TB, b coderunner.EventLog, runID string, n int) {
	t.Helper()
	events := []coderunner.RunEvent{{RunID: runID, Type: coderunner.EventQueued}, {RunID: runID, Type: coderunner.EventStarted}}
	for i := range n {
		events = append(events, stdout(runID, fmt.Sprintln(i)))
	}
	publish(t, b, append(events, finished(runID))...)
}

func subscribe(t *testing.T, ctx context.Context, b coderunner.EventLog, runID string, afterSeq int64) <-chan coderunner.RunEvent {
	t.Helper()
	ch, err := b.Subscribe(ctx, runID, afterSeq)
	if err != nil {
		t.Fatalf("Subscribe(%s, %d): %v", runID, afterSeq, err)
	}
	return ch
}

// expectSeqs receives events from ch and checks they are runID's events
// first..last, in order, each once.
func expectSeqs(t *testing.T, ch <-chan coderunner.RunEvent, runID string, first, last int64) []coderunner.RunEvent {
	t.Helper()
	got, err := readSeqs(ch, runID, first, last)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// readSeqs is expectSeqs for goroutines other than the test's.
func readSeqs(ch <-chan coderunner.RunEvent, runID string, first, last int64) ([]coderunner.RunEvent, error) {
	var got []coderunner.RunEvent
	for seq := first; seq <= last; seq++ {
		select {
		case e, ok := <-ch:
			if !ok {
				return got, fmt.Errorf("channel closed before %s #%d; want up to #%d", runID, seq, last)
			}
			if e.RunID != runID || e.Seq != seq {
				return got, fmt.Errorf("received %s #%d; want %s #%d", e.RunID, e.Seq, runID, seq)
			}
			got = append(got, e)
		case <-time.After(timeout):
			return got, fmt.Errorf("%s #%d not received within %v", runID, seq, timeout)
		}
	}
	return got, nil
}

func seqs(events []coderunner.RunEvent) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func seqRange(first, last int64) []int64 {
	var out []int64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

func testPublishNumbers(t *testing.T, open Open) {
	b := open(t, options())
	in := []coderunner.RunEvent{
		{RunID: "run-a", Type: coderunner.EventQueued, Seq: 99}, // Seq is the broker's to set
		{RunID: "run-b", Type: coderunner.EventQueued},
		stdout("run-a", "one"),
		stdout("run-b", "uno"),
		stdout("run-a", "two"),
	}
	want := []int64{1, 1, 2, 2, 3}
	for i, e := range publish(t, b, in...) {
		if e.Seq != want[i] || e.RunID != in[i].RunID || e.Type != in[i].Type || e.Text != in[i].Text {
			t.Errorf("Publish(%+v) = %+v; want it numbered %d", in[i], e, want[i])
		}
	}
}

func testConcurrentPublishers(t *testing.T, open Open) {
	b := open(t, options())
	const publishers, each = 8, 25
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				e := publish(t, b, stdout("run-1", fmt.Sprint(p, "/", i)))
				mu.Lock()
				got = append(got, seqs(e)...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	want := seqRange(1, publishers*each)
	if !slices.Equal(got, want) {
		t.Fatalf("seqs = %v; want 1..%d, each once", got, publishers*each)
	}
	replayed, err := b.Replay(t.Context(), "run-1", 0)
	if err != nil || !slices.Equal(seqs(replayed), want) {
		t.Fatalf("Replay = %v, %v; want 1..%d in order", seqs(replayed), err, publishers*each)
	}
}

func testSubscribeReplaysThenStreams(t *testing.T, open Open) {
	b := open(t, options())
	publish(t, b,
		coderunner.RunEvent{RunID: "run-1", Type: coderunner.EventQueued},
		coderunner.RunEvent{RunID: "run-1", Type: coderunner.EventStarted})
	ch := subscribe(t, t.Context(), b, "run-1", 0)
	expectSeqs(t, ch, "run-1", 1, 2)
	expectNothing(t, ch, 100*time.Millisecond)

	publish(t, b, stdout("run-2", "not mine"), stdout("run-1", "hi\n"), finished("run-1"))
	got := expectSeqs(t, ch, "run-1", 3, 4)
	if e := got[0]; e.Type != coderunner.EventStdout || e.Text != "hi\n" {
		t.Errorf("event 3 = %+v; want STDOUT hi", e)
	}
	want := finished("run-1")
	if e := got[1]; e.Type != coderunner.EventFinished || e.Run == nil || e.Run.ID != want.Run.ID ||
		e.Run.Status != want.Run.Status || e.Run.Stdout != want.Run.Stdout || e.Run.Owner != want.Run.Owner {
		t.Errorf("event 4 = %+v (run %+v); want FINISHED with the run", e, e.Run)
	}
	expectClosed(t, ch, timeout)
}

func testSubscribeAfterSeq(t *testing.T, open Open) {
	b := open(t, options())
	publishRun(t, b, "run-1", 2) // seqs 1..5, FINISHED last
	tests := []struct {
		afterSeq int64
		first    int64 // none if past 5
	}{
		{0, 1}, {2, 3}, {4, 5},
		{5, 6}, // saw FINISHED already: closes at once
		{9, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("After", tt.afterSeq), func(t *testing.T) {
			ch := subscribe(t, t.Context(), b, "run-1", tt.afterSeq)
			expectSeqs(t, ch, "run-1", tt.first, 5)
			expectClosed(t, ch, timeout)
		})
	}
}

// testSubscribeAheadOfRun: a subscriber whose afterSeq is past the run's
// newest event (a client that went wrong, or numbering that restarted with
// Redis) is closed when the run finishes, without the FINISHED it cannot
// be given in order; it is not left open forever.
func testSubscribeAheadOfRun(t *testing.T, open Open) {
	b := open(t, options())
	publish(t, b, stdout("run-1", "a"), stdout("run-1", "b"))
	ch := subscribe(t, t.Context(), b, "run-1", 9)
	expectNothing(t, ch, 100*time.Millisecond)
	publish(t, b, finished("run-1")) // seq 3
	expectClosed(t, ch, timeout)
}

func testReplay(t *testing.T, open Open) {
	b := open(t, options())
	publishRun(t, b, "run-1", 2)
	tests := []struct {
		runID    string
		afterSeq int64
		want     []int64
	}{
		{"run-1", 0, seqRange(1, 5)},
		{"run-1", 3, seqRange(4, 5)},
		{"run-1", 5, nil},
		{"unknown", 0, nil},
	}
	for _, tt := range tests {
		got, err := b.Replay(t.Context(), tt.runID, tt.afterSeq)
		if err != nil || !slices.Equal(seqs(got), tt.want) {
			t.Errorf("Replay(%s, %d) = %v, %v; want %v", tt.runID, tt.afterSeq, seqs(got), err, tt.want)
		}
	}
}

func testSubscriptionEndsWithContext(t *testing.T, open Open) {
	b := open(t, options())
	publish(t, b, stdout("run-1", "a"))
	ctx, cancel := context.WithCancel(t.Context())
	ch := subscribe(t, ctx, b, "run-1", 0)
	expectSeqs(t, ch, "run-1", 1, 1)
	cancel()
	expectClosed(t, ch, timeout)
}

// testNoGoroutineLeak subscribes and cancels many times, reading some
// events or none, and checks that nothing is left running.
func testNoGoroutineLeak(t *testing.T, open Open) {
	b := open(t, options())
	for r := range 10 {
		publish(t, b, stdout(fmt.Sprint("run-", r), "x"))
	}
	before := settledGoroutines()
	for i := range 300 {
		ctx, cancel := context.WithCancel(t.Context())
		ch := subscribe(t, ctx, b, fmt.Sprint("run-", i%10), 0)
		if i%2 == 0 {
			receive(t, ch, timeout)
		}
		cancel()
		drain(t, ch, timeout)
	}
	deadline := time.Now().Add(timeout)
	for {
		after := runtime.NumGoroutine()
		if after <= before+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before 300 subscriptions, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledGoroutines waits for the goroutine count to stop falling (other
// tests' brokers closing) and returns it.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return m
		}
		n = m
	}
	return n
}

// testSubscribeRacingPublish subscribes again and again, at random
// afterSeq, while events are being published: each subscription must see
// the events after its afterSeq, each once, in order, across the switch
// from the replay buffer to live events.
func testSubscribeRacingPublish(t *testing.T, open Open) {
	b := open(t, options())
	const total = 400
	var published atomic.Int64
	var publisher sync.WaitGroup
	t.Cleanup(publisher.Wait)
	publisher.Go(func() {
		for i := range total {
			e := stdout("run-1", fmt.Sprint(i))
			if i == total-1 {
				e = finished("run-1")
			}
			p := publish(t, b, e)
			if len(p) == 0 {
				return
			}
			published.Store(p[0].Seq)
			time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		}
	})

	var wg sync.WaitGroup
	var subscriptions atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !t.Failed() {
				now := published.Load()
				if now == total {
					return
				}
				afterSeq := rand.Int64N(now + 1)
				// Read past what was published at subscribe time, into the
				// live events, then leave.
				want := min(now+3, total)
				ctx, cancel := context.WithCancel(t.Context())
				ch, err := b.Subscribe(ctx, "run-1", afterSeq)
				if err == nil {
					_, err = readSeqs(ch, "run-1", afterSeq+1, want)
				}
				cancel()
				if err != nil {
					t.Errorf("subscribed after #%d with #%d published: %v", afterSeq, now, err)
				}
				subscriptions.Add(1)
			}
		})
	}
	wg.Wait()
	ch := subscribe(t, t.Context(), b, "run-1", 0)
	expectSeqs(t, ch, "run-1", 1, total)
	expectClosed(t, ch, timeout)
	t.Logf("%d subscriptions raced %d events", subscriptions.Load(), total)
}

func testSlowSubscriber(t *testing.T, open Open) {
	b := open(t, options())
	ch := subscribe(t, t.Context(), b, "run-1", 0)
	const n = 500
	publishRun(t, b, "run-1", n) // while the subscriber reads nothing
	expectSeqs(t, ch, "run-1", 1, n+3)
	expectClosed(t, ch, timeout)
}

func testManySubscribers(t *testing.T, open Open) {
	b := open(t, options())
	const subscribers, n = 20, 50
	var chans []<-chan coderunner.RunEvent
	for range subscribers {
		chans = append(chans, subscribe(t, t.Context(), b, "run-1", 0))
	}
	var publisher sync.WaitGroup
	t.Cleanup(publisher.Wait)
	publisher.Go(func() { publishRun(t, b, "run-1", n) })
	for _, ch := range chans {
		expectSeqs(t, ch, "run-1", 1, n+3)
		expectClosed(t, ch, timeout)
	}
}

func testReplayBounded(t *testing.T, open Open) {
	opts := options()
	opts.ReplaySize = 5
	b := open(t, opts)
	for i := range 8 {
		publish(t, b, stdout("run-1", fmt.Sprint(i)))
	}
	got, err := b.Replay(t.Context(), "run-1", 0)
	if err != nil || !slices.Equal(seqs(got), seqRange(4, 8)) {
		t.Fatalf("Replay = %v, %v; want the latest 5: 4..8", seqs(got), err)
	}
	ch := subscribe(t, t.Context(), b, "run-1", 0)
	expectSeqs(t, ch, "run-1", 4, 8)
	if e := publish(t, b, finished("run-1")); len(e) == 1 && e[0].Seq != 9 {
		t.Fatalf("next event numbered %d; want 9: dropping old events does not renumber", e[0].Seq)
	}
	expectSeqs(t, ch, "run-1", 9, 9)
	expectClosed(t, ch, timeout)
}

func testReplayExpires(t *testing.T, open Open) {
	opts := options()
	opts.ReplayTTL = time.Second
	b := open(t, opts)
	publish(t, b, stdout("run-1", "a"))
	time.Sleep(600 * time.Millisecond)
	publish(t, b, stdout("run-1", "b")) // keeps the buffer another TTL
	time.Sleep(600 * time.Millisecond)
	got, err := b.Replay(t.Context(), "run-1", 0)
	if err != nil || !slices.Equal(seqs(got), []int64{1, 2}) {
		t.Fatalf("Replay %v after the first event = %v, %v; want 1, 2 (a TTL after the last event)",
			1200*time.Millisecond, seqs(got), err)
	}
	time.Sleep(opts.ReplayTTL)
	got, err = b.Replay(t.Context(), "run-1", 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Replay a TTL after the last event = %v, %v; want nothing", seqs(got), err)
	}
}
