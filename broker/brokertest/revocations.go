package brokertest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
)

func testRevocations(t *testing.T, open Open, peer Peer) {
	tests := []struct {
		name string
		test func(t *testing.T, open Open, peer Peer)
	}{
		{"DeliveredToEveryProcess", testRevokedEverywhere},
		{"ListenerEndsWithContext", testRevokedEndsWithContext},
		{"SlowListenerHoldsUpNoOther", testRevokedSlowListener},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open, peer)
		})
	}
}

func listenRevoked(t *testing.T, ctx context.Context, b coderunner.Revocations) <-chan string {
	t.Helper()
	ch, err := b.Revoked(ctx)
	if err != nil {
		t.Fatalf("Revoked: %v", err)
	}
	return ch
}

func revoke(t *testing.T, b coderunner.Revocations, hashes ...string) {
	t.Helper()
	for _, h := range hashes {
		if err := b.Revoke(t.Context(), h); err != nil {
			t.Fatalf("Revoke(%s): %v", h, err)
		}
	}
}

func expectRevoked(t *testing.T, ch <-chan string, want ...string) {
	t.Helper()
	for i, w := range want {
		if h, ok := receive(t, ch, timeout); !ok || h != w {
			t.Fatalf("revocation %d = %q (open: %v); want %q", i, h, ok, w)
		}
	}
}

// testRevokedEverywhere: a revocation by any process reaches every
// listener of every process from the moment its Revoked returned, and
// none of an unrelated Broker.
func testRevokedEverywhere(t *testing.T, open Open, peer Peer) {
	b := open(t, options())
	p := peer(t, b)
	here, there := listenRevoked(t, t.Context(), b), listenRevoked(t, t.Context(), p)
	unrelated := listenRevoked(t, t.Context(), open(t, options()))

	revoke(t, b, "hash-1")
	revoke(t, p, "hash-2")
	expectRevoked(t, here, "hash-1", "hash-2")
	expectRevoked(t, there, "hash-1", "hash-2")

	late := listenRevoked(t, t.Context(), p)
	revoke(t, b, "hash-3")
	expectRevoked(t, late, "hash-3")
	expectRevoked(t, here, "hash-3")
	expectRevoked(t, there, "hash-3")
	expectNothing(t, unrelated, 200*time.Millisecond)
}

func testRevokedEndsWithContext(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	testListenerEndsWithContext(t, b.Revoked, b.Revoke, "hash-1")
}

// testListenerEndsWithContext: a listener of a broadcast (listen) closes
// when its ctx ends, and another goes on receiving what publish sends.
func testListenerEndsWithContext[T any](t *testing.T, listen func(context.Context) (<-chan T, error),
	publish func(context.Context, T) error, m T) {
	ctx, cancel := context.WithCancel(t.Context())
	ending, err := listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staying, err := listen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	expectClosed(t, ending, timeout)
	if err := publish(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got, ok := receive(t, staying, timeout); !ok || !reflect.DeepEqual(got, m) {
		t.Fatalf("received %+v (open: %v); want %+v", got, ok, m)
	}
}

// testRevokedSlowListener: a listener that does not read holds
// broker.RevokedBacklog revocations, the first, and loses the rest, while
// another keeps receiving each one.
func testRevokedSlowListener(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	stuck := listenRevoked(t, t.Context(), b)
	reader := listenRevoked(t, t.Context(), b)
	var hashes []string
	for i := range broker.RevokedBacklog + 50 {
		h := fmt.Sprint("hash-", i)
		revoke(t, b, h)
		expectRevoked(t, reader, h)
		hashes = append(hashes, h)
	}
	expectRevoked(t, stuck, hashes[:broker.RevokedBacklog]...)
	expectNothing(t, stuck, 200*time.Millisecond)
}
