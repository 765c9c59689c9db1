package memory

import (
	"fmt"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T, opts broker.Options) coderunner.Broker {
		b := New(opts)
		t.Cleanup(func() { b.Close() })
		return b
	}, func(_ *testing.T, b coderunner.Broker) coderunner.Broker {
		return b // one process, one Broker
	})
}

// TestSweepFreesExpiredRuns checks that replay buffers and control queues
// of past runs are freed, not only hidden, once they expire.
func TestSweepFreesExpiredRuns(t *testing.T) {
	b := New(broker.Options{ReplayTTL: 100 * time.Millisecond})
	t.Cleanup(func() { b.Close() })
	for i := range 100 {
		id := fmt.Sprint("run-", i)
		if _, err := b.Publish(t.Context(), coderunner.RunEvent{RunID: id, Type: coderunner.EventQueued}); err != nil {
			t.Fatal(err)
		}
		if err := b.SendControl(t.Context(), id, coderunner.ControlMessage{Input: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.events.mu.Lock()
		runs := len(b.events.runs)
		b.events.mu.Unlock()
		b.control.mu.Lock()
		queues := len(b.control.runs)
		b.control.mu.Unlock()
		if runs == 0 && queues == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d replay buffers and %d control queues left after they expired", runs, queues)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSweepFreesLimiterState checks that the Limiter's entries are freed
// when Redis would expire their keys: the logs of short windows soon, the
// day's counters after two days.
func TestSweepFreesLimiterState(t *testing.T) {
	b := New(broker.Options{})
	t.Cleanup(func() { b.Close() })
	ctx := t.Context()
	now := time.Now()
	q := coderunner.Quota{RunsPerMinute: 10, RunsPerDay: 10, ExecSecondsPerDay: 10, MaxActiveRuns: 10, SubmitsPerMinute: 10, SubmitsPerDay: 10}
	for _, owner := range []string{"user-1", "guest:10.0.0.1"} {
		if err := b.AdmitRun(ctx, owner, "run-1", q, now); err != nil {
			t.Fatal(err)
		}
		if err := b.AdmitSubmission(ctx, owner, "sub-1", q, now); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Take(ctx, "signin:"+owner, 5, time.Minute, now); err != nil {
			t.Fatal(err)
		}
	}
	left := func() [4]int {
		l := &b.limits
		l.mu.Lock()
		defer l.mu.Unlock()
		return [4]int{len(l.days), len(l.active), len(l.admitted), len(l.attempts)}
	}
	for _, step := range []struct {
		after time.Duration
		want  [4]int // days, active sets, admission logs, attempt logs
	}{
		{0, [4]int{2, 2, 4, 2}}, // a log of runs and one of submissions each
		{2*time.Minute + time.Second, [4]int{2, 2, 0, 0}},
		{coderunner.MaxActiveRunLife + time.Minute + time.Second, [4]int{2, 0, 0, 0}},
		{broker.DayUsageTTL + time.Second, [4]int{0, 0, 0, 0}},
	} {
		b.limits.sweep(time.Now().Add(step.after))
		if got := left(); got != step.want {
			t.Fatalf("%v later, %v entries left (days, active sets, admission logs, attempt logs); want %v", step.after, got, step.want)
		}
	}
}
