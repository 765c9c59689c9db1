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
