// Package brokertest is the conformance suite every coderunner.Broker
// passes: broker/memory and broker/redis run it from their tests.
package brokertest

import (
	"context"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

// Open returns a new, empty Broker with opts and closes it when t ends.
// Brokers opened for one test must not share jobs, events, messages,
// counters, revocations or content changes.
type Open func(t *testing.T, opts broker.Options) coderunner.Broker

// Peer returns a Broker that shares all of b's state, as the Broker of
// another process on the same Redis does, and closes it when t ends: the
// suite checks through it that what one process counts or announces, every
// process sees. An implementation that serves one process returns b.
type Peer func(t *testing.T, b coderunner.Broker) coderunner.Broker

// DeadLetterLister is what the suite needs, besides coderunner.Broker, to
// see that dead-lettered jobs are kept: both implementations have it.
type DeadLetterLister interface {
	DeadLetters(ctx context.Context) ([]broker.DeadLetter, error)
}

// Run runs the whole suite. Most subtests run in parallel, each with its
// own Broker; the ones that count goroutines run alone.
func Run(t *testing.T, open Open, peer Peer) {
	t.Run("Queue", func(t *testing.T) { testQueue(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("Control", func(t *testing.T) { testControl(t, open) })
	t.Run("Limiter", func(t *testing.T) { testLimiter(t, open, peer) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, open, peer) })
	t.Run("ContentChanges", func(t *testing.T) { testContentChanges(t, open, peer) })
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := open(t, options()).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// options are the defaults of the suite: short enough timeouts to watch
// them pass, long enough for a loaded CI machine under -race.
func options() broker.Options {
	return broker.Options{
		ClaimTimeout: 500 * time.Millisecond,
		MaxWaiting:   1000,
		ReplaySize:   1000,
		ReplayTTL:    time.Minute,
	}
}

// timeout bounds every wait for something that should happen.
const timeout = 5 * time.Second

// receive returns the next value from ch, and false if ch closed; it fails
// t if neither happens within d.
func receive[T any](t *testing.T, ch <-chan T, d time.Duration) (T, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(d):
		var zero T
		t.Fatalf("nothing received within %v", d)
		return zero, false
	}
}

// expectClosed fails t unless ch closes within d without a value.
func expectClosed[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	if v, ok := receive(t, ch, d); ok {
		t.Fatalf("received %+v; want the channel closed", v)
	}
}

// drain discards what ch yields until it closes; it fails t if that takes
// longer than d.
func drain[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("channel still open after %v", d)
		}
	}
}

// expectNothing fails t if ch yields a value or closes within d.
func expectNothing[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v, ok := <-ch:
		t.Fatalf("received %+v (open: %v); want nothing yet", v, ok)
	case <-time.After(d):
	}
}

// withTimeout returns a context that ends after d or with t.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
