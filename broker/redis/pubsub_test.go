package redis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/redis/redistest"
)

// TestSubscriptionsShareOneConnection holds many subscriptions to many
// runs, and revocation listeners: Redis sees one PubSub connection,
// subscribed to each run's channel and to the revocations channel while
// they have subscribers, and to none once they are gone.
func TestSubscriptionsShareOneConnection(t *testing.T) {
	url := redistest.Start(t) // a server of its own, to count its clients
	b := openAt(t, url, Config{Options: broker.Options{}})
	const runs = 500
	ctx, cancel := context.WithCancel(t.Context())
	var chans []<-chan coderunner.RunEvent
	for i := range runs {
		ch, err := b.Subscribe(ctx, fmt.Sprint("run-", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	var revoked []<-chan string
	for range 2 {
		ch, err := b.Revoked(ctx)
		if err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, ch)
	}
	o, _ := goredis.ParseURL(url)
	admin := goredis.NewClient(o)
	defer admin.Close()

	waitFor(t, "one PubSub connection subscribed to every run", func() (bool, string) {
		clients, err := admin.ClientList(t.Context()).Result()
		if err != nil {
			return false, err.Error()
		}
		var pubsub []string
		for _, line := range strings.Split(strings.TrimSpace(clients), "\n") {
			if strings.Contains(line, " sub=") && !strings.Contains(line, " sub=0 ") {
				pubsub = append(pubsub, line)
			}
		}
		return len(pubsub) == 1 && strings.Contains(pubsub[0], fmt.Sprintf(" sub=%d ", runs+1)), strings.Join(pubsub, "\n")
	})

	cancel()
	for _, ch := range chans {
		waitClosed(t, ch)
	}
	for _, ch := range revoked {
		waitClosed(t, ch)
	}
	waitFor(t, "no channel subscribed", func() (bool, string) {
		channels, err := admin.PubSubChannels(t.Context(), "*").Result()
		return err == nil && len(channels) == 0, fmt.Sprint(channels, err)
	})
}

func waitClosed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	waitFor(t, "the subscription closed", func() (bool, string) {
		select {
		case _, ok := <-ch:
			return !ok, "open"
		case <-time.After(100 * time.Millisecond):
			return false, "open"
		}
	})
}

func waitFor(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, state := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %s; have:\n%s", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
