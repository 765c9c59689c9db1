package memory

import (
	"context"

	"coderunner"
	"coderunner/broker"
)

// Revoke implements coderunner.Revocations: the one process's listeners
// are everyone.
func (b *Broker) Revoke(_ context.Context, tokenHash string) error {
	b.revoked.Deliver(tokenHash)
	return nil
}

// Revoked implements coderunner.Revocations.
func (b *Broker) Revoked(ctx context.Context) (<-chan string, error) {
	return listen(ctx, b, &b.revoked)
}

// PublishContentChange implements coderunner.ContentChanges: the one
// process's listeners are everyone.
func (b *Broker) PublishContentChange(_ context.Context, c coderunner.ContentChange) error {
	b.contentChanged.Deliver(c)
	return nil
}

// ContentChanged implements coderunner.ContentChanges.
func (b *Broker) ContentChanged(ctx context.Context) (<-chan coderunner.ContentChange, error) {
	return listen(ctx, b, &b.contentChanged)
}

// listen adds a listener to l until ctx ends or b closes.
func listen[T any](ctx context.Context, b *Broker, l *broker.Listeners[T]) (<-chan T, error) {
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	ch, leave := l.Listen()
	ctx, stop := b.bind(ctx)
	context.AfterFunc(ctx, func() {
		stop()
		leave()
	})
	return ch, nil
}
