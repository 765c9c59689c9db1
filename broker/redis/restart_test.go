package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/redis/redistest"
)

// recoverWithin bounds how long the broker may fail after Redis is back.
const recoverWithin = 10 * time.Second

// eventually retries f until it succeeds or recoverWithin passes.
func eventually(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(recoverWithin)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still fails %v after Redis came back: %v", what, recoverWithin, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRecoversFromRestart restarts Redis (losing all its data) under a
// Broker that is in use: it works again without being recreated.
func TestRecoversFromRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	b := openAt(t, srv.URL(), Config{Options: broker.Options{ClaimTimeout: time.Second}})
	ctx := t.Context()

	// In use before: the consumer group exists, a subscription is live.
	if err := b.Enqueue(ctx, coderunner.Job{RunID: "before"}); err != nil {
		t.Fatal(err)
	}
	c, err := b.Claim(ctx, "worker-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	live, err := b.Subscribe(ctx, "run-live", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, coderunner.RunEvent{RunID: "run-live", Type: coderunner.EventQueued}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, live, 1)
	listening, err := b.ControlMessages(ctx, "run-live")
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := b.Revoked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := b.ContentChanged(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	eventually(t, "Ping", b.Ping)
	eventually(t, "Depth", func(ctx context.Context) error {
		_, err := b.Depth(ctx)
		return err
	})
	eventually(t, "Claim with nothing queued", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := b.Claim(ctx, "worker-a"); !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("claim: %v; want context.DeadlineExceeded", err)
		}
		return nil
	})
	eventually(t, "Enqueue, Claim and Ack", func(ctx context.Context) error {
		if err := b.Enqueue(ctx, coderunner.Job{RunID: "after"}); err != nil {
			return err
		}
		c, err := b.Claim(ctx, "worker-a")
		if err != nil {
			return err
		}
		if c.Job().RunID != "after" || c.Deliveries() != 1 {
			t.Fatalf("claimed %s delivery %d; want after, 1", c.Job().RunID, c.Deliveries())
		}
		return c.Ack(ctx)
	})

	// The subscription made before the restart follows the run again.
	// Redis lost the run's seq counter too, so it starts from 1 again:
	// the subscriber, at 1, takes #2.
	for range 2 {
		eventually(t, "Publish", func(ctx context.Context) error {
			_, err := b.Publish(ctx, coderunner.RunEvent{RunID: "run-live", Type: coderunner.EventStdout, Text: "after"})
			return err
		})
	}
	expectEvent(t, live, 2)

	// So does the control listener of a run that went on meanwhile.
	eventually(t, "SendControl", func(ctx context.Context) error {
		return b.SendControl(ctx, "run-live", coderunner.ControlMessage{Input: "still there?"})
	})
	select {
	case m := <-listening:
		if m.Input != "still there?" {
			t.Fatalf("control message %+v; want the one sent after the restart", m)
		}
	case <-time.After(recoverWithin):
		t.Fatalf("a listener from before the restart got no message within %v", recoverWithin)
	}

	// So does a revocation listener, once its Broker has resubscribed:
	// what is revoked before is lost, hence the retries.
	eventually(t, "Revoke reaching a listener from before the restart", func(ctx context.Context) error {
		if err := b.Revoke(ctx, "hash"); err != nil {
			return err
		}
		select {
		case h := <-revoked:
			if h != "hash" {
				t.Fatalf("revoked %q; want hash", h)
			}
			return nil
		case <-time.After(200 * time.Millisecond):
			return errors.New("not delivered")
		}
	})

	// And a content change listener.
	change := coderunner.ContentChange{Problems: []string{"hello-world"}}
	eventually(t, "PublishContentChange reaching a listener from before the restart", func(ctx context.Context) error {
		if err := b.PublishContentChange(ctx, change); err != nil {
			return err
		}
		select {
		case c := <-changed:
			if len(c.Problems) != 1 || c.Problems[0] != "hello-world" {
				t.Fatalf("content change %+v; want %+v", c, change)
			}
			return nil
		case <-time.After(200 * time.Millisecond):
			return errors.New("not delivered")
		}
	})

	eventually(t, "Subscribe", func(ctx context.Context) error {
		ch, err := b.Subscribe(ctx, "run-new", 0)
		if err != nil {
			return err
		}
		if _, err := b.Publish(ctx, coderunner.RunEvent{RunID: "run-new", Type: coderunner.EventQueued}); err != nil {
			return err
		}
		expectEvent(t, ch, 1)
		return nil
	})
	eventually(t, "SendControl and ControlMessages", func(ctx context.Context) error {
		if err := b.SendControl(ctx, "run-new", coderunner.ControlMessage{Input: "x"}); err != nil {
			return err
		}
		ch, err := b.ControlMessages(ctx, "run-new")
		if err != nil {
			return err
		}
		select {
		case m := <-ch:
			if m.Input != "x" {
				t.Fatalf("control message %+v; want input x", m)
			}
			return nil
		case <-time.After(5 * time.Second):
			t.Fatal("control message not received")
			return nil
		}
	})
}

func expectEvent(t *testing.T, ch <-chan coderunner.RunEvent, seq int64) {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok || e.Seq != seq {
			t.Fatalf("received #%d (open: %v); want #%d", e.Seq, ok, seq)
		}
	case <-time.After(recoverWithin):
		t.Fatalf("event #%d not received within %v", seq, recoverWithin)
	}
}
