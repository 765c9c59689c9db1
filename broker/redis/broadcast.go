package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"coderunner"
	"coderunner/broker"
)

// Revocations and content changes are broadcasts: each travels on one
// channel (keys.revoked, keys.contentChanged), which each Broker's hub
// subscribes on its one PubSub connection while the Broker has listeners
// for it, and resubscribes after a reconnect like any other. What is
// published while a Broker is not subscribed, during an outage, is lost to
// it: delivery is best-effort by contract.

// confirmWithin bounds how long a new listener waits for Redis to confirm
// the subscription to its broadcast's channel.
const confirmWithin = 10 * time.Second

// broadcast is one channel whose every message goes to every listener of
// every Broker.
type broadcast struct {
	what    string // for messages: "session revocations"
	any     func() bool
	deliver func(payload string)
	// confirmation, guarded by hub.mu, is made with each SUBSCRIBE to the
	// channel and closed when Redis confirms it.
	confirmation chan struct{}
}

// newBroadcasts returns h's broadcasts by channel.
func (h *hub) newBroadcasts() map[string]*broadcast {
	return map[string]*broadcast{
		h.b.keys.revoked(): {what: "session revocations", any: h.revoked.Any, deliver: h.revoked.Deliver},
		h.b.keys.contentChanged(): {what: "content changes", any: h.contentChanged.Any, deliver: func(payload string) {
			var c coderunner.ContentChange
			if err := json.Unmarshal([]byte(payload), &c); err != nil {
				h.b.log.Error("redis broker: dropping a malformed content change", "err", err)
				return
			}
			h.contentChanged.Deliver(c)
		}},
	}
}

// Revoke implements coderunner.Revocations.
func (b *Broker) Revoke(ctx context.Context, tokenHash string) error {
	if err := b.rdb.Publish(ctx, b.keys.revoked(), tokenHash).Err(); err != nil {
		return fmt.Errorf("redis broker: publish a session revocation: %w", err)
	}
	return nil
}

// Revoked implements coderunner.Revocations. It returns once Redis has
// confirmed the subscription, so that a revocation published after it
// returns, by any Broker, is delivered.
func (b *Broker) Revoked(ctx context.Context) (<-chan string, error) {
	return listen(ctx, b, b.keys.revoked(), &b.subs.revoked)
}

// PublishContentChange implements coderunner.ContentChanges.
func (b *Broker) PublishContentChange(ctx context.Context, c coderunner.ContentChange) error {
	payload, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("redis broker: encode a content change: %w", err)
	}
	if err := b.rdb.Publish(ctx, b.keys.contentChanged(), payload).Err(); err != nil {
		return fmt.Errorf("redis broker: publish a content change: %w", err)
	}
	return nil
}

// ContentChanged implements coderunner.ContentChanges. Like Revoked, it
// returns once Redis has confirmed the subscription.
func (b *Broker) ContentChanged(ctx context.Context) (<-chan coderunner.ContentChange, error) {
	return listen(ctx, b, b.keys.contentChanged(), &b.subs.contentChanged)
}

// listen adds a listener of channel's broadcast to l until ctx ends or b
// closes, once Redis has confirmed the subscription.
func listen[T any](ctx context.Context, b *Broker, channel string, l *broker.Listeners[T]) (<-chan T, error) {
	h := b.subs
	bc := h.broadcasts[channel]
	ch, leave := l.Listen()
	unlisten := func() {
		leave()
		h.unsubscribe(channel)
	}
	if err := h.sync(channel); err != nil {
		unlisten()
		return nil, fmt.Errorf("redis broker: subscribe to %s: %w", bc.what, err)
	}
	if err := h.waitConfirmed(ctx, bc); err != nil {
		unlisten()
		return nil, err
	}
	ctx, stop := b.bind(ctx)
	context.AfterFunc(ctx, func() {
		stop()
		unlisten()
	})
	return ch, nil
}

// expectConfirmation is called as bc's channel is subscribed: until Redis
// confirms it, new listeners wait.
func (h *hub) expectConfirmation(bc *broadcast) {
	h.mu.Lock()
	defer h.mu.Unlock()
	bc.confirmation = make(chan struct{})
}

// confirmed is called when Redis confirms a subscription to bc's channel.
func (h *hub) confirmed(bc *broadcast) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-bc.confirmation: // already: a resubscription after a reconnect
	default:
		close(bc.confirmation)
	}
}

// waitConfirmed waits until Redis has confirmed the latest subscription to
// bc's channel.
func (h *hub) waitConfirmed(ctx context.Context, bc *broadcast) error {
	h.mu.RLock()
	confirmed := bc.confirmation
	h.mu.RUnlock()
	t := time.NewTimer(confirmWithin)
	defer t.Stop()
	select {
	case <-confirmed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.b.done.Done():
		return errors.New("redis broker: closed")
	case <-t.C:
		return fmt.Errorf("redis broker: Redis did not confirm the subscription to %s within %v", bc.what, confirmWithin)
	}
}
