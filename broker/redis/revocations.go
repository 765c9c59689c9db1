package redis

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Revocations travel on one channel (keys.revoked), which each Broker's
// hub subscribes on its one PubSub connection while the Broker has
// Revoked listeners, and resubscribes after a reconnect like any other.
// What is published while a Broker is not subscribed, during an outage, is
// lost to it: delivery is best-effort by contract.

// confirmWithin bounds how long Revoked waits for Redis to confirm the
// subscription to the revocations channel.
const confirmWithin = 10 * time.Second

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
	h := b.subs
	ch, leave := h.revoked.Listen()
	unlisten := func() {
		leave()
		h.unsubscribe(b.keys.revoked())
	}
	if err := h.sync(b.keys.revoked()); err != nil {
		unlisten()
		return nil, fmt.Errorf("redis broker: subscribe to session revocations: %w", err)
	}
	if err := h.waitRevokedConfirmed(ctx); err != nil {
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

// expectRevokedConfirmation is called as the revocations channel is
// subscribed: until Redis confirms it, Revoked waits.
func (h *hub) expectRevokedConfirmation() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revokedConfirmation = make(chan struct{})
}

// revokedConfirmed is called when Redis confirms a subscription to the
// revocations channel.
func (h *hub) revokedConfirmed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.revokedConfirmation: // already: a resubscription after a reconnect
	default:
		close(h.revokedConfirmation)
	}
}

// waitRevokedConfirmed waits until Redis has confirmed the latest
// subscription to the revocations channel.
func (h *hub) waitRevokedConfirmed(ctx context.Context) error {
	h.mu.RLock()
	confirmed := h.revokedConfirmation
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
		return fmt.Errorf("redis broker: Redis did not confirm the subscription to session revocations within %v", confirmWithin)
	}
}
