package brokertest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

func testControl(t *testing.T, open Open) {
	tests := []struct {
		name string
		test func(t *testing.T, open Open)
	}{
		{"SentBeforeListening", testControlSentBefore},
		{"SentWhileListening", testControlSentWhile},
		{"UnreadMessageWaitsForNextListener", testControlNextListener},
		{"UnreadMessagesExpire", testControlExpire},
		{"ListenerEndsWithContext", testControlEndsWithContext},
		{"UnreadInputIsBounded", testControlBacklog},
		{"CancelIsSentOnce", testControlCancelOnce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open)
		})
	}
}

func send(t *testing.T, b coderunner.Control, runID string, messages ...coderunner.ControlMessage) {
	t.Helper()
	for _, m := range messages {
		if err := b.SendControl(t.Context(), runID, m); err != nil {
			t.Fatalf("SendControl(%s, %+v): %v", runID, m, err)
		}
	}
}

func listen(t *testing.T, ctx context.Context, b coderunner.Control, runID string) <-chan coderunner.ControlMessage {
	t.Helper()
	ch, err := b.ControlMessages(ctx, runID)
	if err != nil {
		t.Fatalf("ControlMessages(%s): %v", runID, err)
	}
	return ch
}

func expectMessages(t *testing.T, ch <-chan coderunner.ControlMessage, want ...coderunner.ControlMessage) {
	t.Helper()
	for i, w := range want {
		m, ok := receive(t, ch, timeout)
		if !ok || m != w {
			t.Fatalf("message %d = %+v (open: %v); want %+v", i, m, ok, w)
		}
	}
}

func input(text string) coderunner.ControlMessage { return coderunner.ControlMessage{Input: text} }

var cancelRun = coderunner.ControlMessage{Cancel: true}

func testControlSentBefore(t *testing.T, open Open) {
	b := open(t, options())
	send(t, b, "run-1", input("Ada\n"), input("Lovelace\n"))
	send(t, b, "run-2", input("other\n"))
	send(t, b, "run-1", cancelRun)

	one := listen(t, t.Context(), b, "run-1")
	expectMessages(t, one, input("Ada\n"), input("Lovelace\n"), cancelRun)
	expectNothing(t, one, 200*time.Millisecond)
	expectMessages(t, listen(t, t.Context(), b, "run-2"), input("other\n"))
}

func testControlSentWhile(t *testing.T, open Open) {
	b := open(t, options())
	ch := listen(t, t.Context(), b, "run-1")
	expectNothing(t, ch, 100*time.Millisecond)
	send(t, b, "run-1", input("a"), input("b"))
	expectMessages(t, ch, input("a"), input("b"))
}

func testControlNextListener(t *testing.T, open Open) {
	b := open(t, options())
	send(t, b, "run-1", input("first"))
	ctx, cancel := context.WithCancel(t.Context())
	first := listen(t, ctx, b, "run-1")
	expectMessages(t, first, input("first"))
	cancel()
	expectClosed(t, first, timeout)

	// A worker that stopped listening (its run moved elsewhere) takes no
	// more messages: the next listener gets them, none twice.
	send(t, b, "run-1", input("second"))
	next := listen(t, t.Context(), b, "run-1")
	expectMessages(t, next, input("second"))
	expectNothing(t, next, 200*time.Millisecond)
}

func testControlExpire(t *testing.T, open Open) {
	opts := options()
	opts.ReplayTTL = 300 * time.Millisecond
	b := open(t, opts)
	send(t, b, "run-1", input("too early"))
	time.Sleep(2 * opts.ReplayTTL)
	ch := listen(t, t.Context(), b, "run-1")
	expectNothing(t, ch, 200*time.Millisecond)
	send(t, b, "run-1", input("in time"))
	expectMessages(t, ch, input("in time"))
}

func testControlEndsWithContext(t *testing.T, open Open) {
	b := open(t, options())
	ctx, cancel := context.WithCancel(t.Context())
	ch := listen(t, ctx, b, "run-1")
	cancel()
	expectClosed(t, ch, timeout)
}

// testControlBacklog: a run holds at most MaxPendingControl unread
// messages and MaxPendingControlBytes of unread input; past either,
// SendControl fails with BAD_USER_INPUT, a cancel still gets through, and
// once the program reads, more can be sent.
func testControlBacklog(t *testing.T, open Open) {
	b := open(t, options())
	refusedAt := func(runID string, m coderunner.ControlMessage) int {
		t.Helper()
		for i := 1; i <= broker.MaxPendingControl+1; i++ {
			err := b.SendControl(t.Context(), runID, m)
			if err != nil {
				if coderunner.ErrorCode(err) != coderunner.BadUserInput {
					t.Fatalf("SendControl %d: %v; want BAD_USER_INPUT", i, err)
				}
				return i
			}
		}
		return 0
	}
	if n := refusedAt("run-1", input("a")); n != broker.MaxPendingControl+1 {
		t.Errorf("small messages refused at %d; want %d", n, broker.MaxPendingControl+1)
	}
	// 16 messages of 65,000 bytes fit in 1 MiB; the 17th does not.
	if n := refusedAt("run-2", input(strings.Repeat("x", 65_000))); n != 17 {
		t.Errorf("large messages refused at %d; want 17", n)
	}
	send(t, b, "run-1", cancelRun)

	ch := listen(t, t.Context(), b, "run-1")
	for range broker.MaxPendingControl {
		expectMessages(t, ch, input("a"))
	}
	expectMessages(t, ch, cancelRun)
	send(t, b, "run-1", input("read: room again"))
	expectMessages(t, ch, input("read: room again"))
}

// testControlCancelOnce: however often a run is cancelled, concurrently or
// one after another, through CancelRun or SendControl, one cancel message
// waits for it, and exactly one CancelRun reports that it sent it. Other
// runs are not affected.
func testControlCancelOnce(t *testing.T, open Open) {
	b := open(t, options())
	var sent atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			ok, err := b.CancelRun(t.Context(), "run-1")
			if err != nil {
				t.Errorf("CancelRun: %v", err)
			}
			if ok {
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	if n := sent.Load(); n != 1 {
		t.Fatalf("%d of 50 CancelRun calls sent the cancel; want 1", n)
	}
	send(t, b, "run-1", cancelRun, cancelRun, input("after"))
	if ok, err := b.CancelRun(t.Context(), "run-1"); ok || err != nil {
		t.Fatalf("CancelRun after the cancel was sent = %v, %v; want false, nil", ok, err)
	}
	if ok, err := b.CancelRun(t.Context(), "run-2"); !ok || err != nil {
		t.Fatalf("CancelRun of another run = %v, %v; want true, nil", ok, err)
	}

	one := listen(t, t.Context(), b, "run-1")
	expectMessages(t, one, cancelRun, input("after"))
	expectNothing(t, one, 200*time.Millisecond)
	expectMessages(t, listen(t, t.Context(), b, "run-2"), cancelRun)
}
