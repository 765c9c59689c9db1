package brokertest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"coderunner"
)

func testContentChanges(t *testing.T, open Open, peer Peer) {
	tests := []struct {
		name string
		test func(t *testing.T, open Open, peer Peer)
	}{
		{"DeliveredToEveryProcess", testContentChangedEverywhere},
		{"InOrderOfEachPublisher", testContentChangedInOrder},
		{"ListenerEndsWithContext", testContentChangedEndsWithContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open, peer)
		})
	}
}

func listenContent(t *testing.T, ctx context.Context, b coderunner.ContentChanges) <-chan coderunner.ContentChange {
	t.Helper()
	ch, err := b.ContentChanged(ctx)
	if err != nil {
		t.Fatalf("ContentChanged: %v", err)
	}
	return ch
}

func publishContent(t *testing.T, b coderunner.ContentChanges, changes ...coderunner.ContentChange) {
	t.Helper()
	for _, c := range changes {
		if err := b.PublishContentChange(t.Context(), c); err != nil {
			t.Fatalf("PublishContentChange(%+v): %v", c, err)
		}
	}
}

func expectContent(t *testing.T, ch <-chan coderunner.ContentChange, want ...coderunner.ContentChange) {
	t.Helper()
	for i, w := range want {
		if c, ok := receive(t, ch, timeout); !ok || !reflect.DeepEqual(c, w) {
			t.Fatalf("content change %d = %+v (open: %v); want %+v", i, c, ok, w)
		}
	}
}

// testContentChangedEverywhere: a change published by any process reaches
// every listener of every process from the moment its ContentChanged
// returned, whole, and none of an unrelated Broker.
func testContentChangedEverywhere(t *testing.T, open Open, peer Peer) {
	b := open(t, options())
	p := peer(t, b)
	here, there := listenContent(t, t.Context(), b), listenContent(t, t.Context(), p)
	unrelated := listenContent(t, t.Context(), open(t, options()))

	problem := coderunner.ContentChange{Problems: []string{"hello-world"}, Levels: []string{"explorers-1", "explorers-2"}}
	group := coderunner.ContentChange{AgeGroups: []string{"7-9"}}
	publishContent(t, b, problem)
	publishContent(t, p, group)
	expectContent(t, here, problem, group)
	expectContent(t, there, problem, group)

	late := listenContent(t, t.Context(), p)
	level := coderunner.ContentChange{Levels: []string{"explorers-1"}}
	publishContent(t, b, level)
	for _, ch := range []<-chan coderunner.ContentChange{late, here, there} {
		expectContent(t, ch, level)
	}
	expectNothing(t, unrelated, 200*time.Millisecond)
}

// testContentChangedInOrder: the changes of one publisher arrive in the
// order it published them, at every process.
func testContentChangedInOrder(t *testing.T, open Open, peer Peer) {
	b := open(t, options())
	p := peer(t, b)
	here, there := listenContent(t, t.Context(), b), listenContent(t, t.Context(), p)
	var changes []coderunner.ContentChange
	for i := range 100 {
		changes = append(changes, coderunner.ContentChange{Problems: []string{fmt.Sprint("problem-", i)}})
	}
	publishContent(t, b, changes...)
	expectContent(t, here, changes...)
	expectContent(t, there, changes...)
}

func testContentChangedEndsWithContext(t *testing.T, open Open, _ Peer) {
	b := open(t, options())
	testListenerEndsWithContext(t, b.ContentChanged, b.PublishContentChange, coderunner.ContentChange{Levels: []string{"explorers-1"}})
}
