package memory

import "context"

// Revoke implements coderunner.Revocations: the one process's listeners
// are everyone.
func (b *Broker) Revoke(_ context.Context, tokenHash string) error {
	b.revoked.Deliver(tokenHash)
	return nil
}

// Revoked implements coderunner.Revocations.
func (b *Broker) Revoked(ctx context.Context) (<-chan string, error) {
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	ch, leave := b.revoked.Listen()
	ctx, stop := b.bind(ctx)
	context.AfterFunc(ctx, func() {
		stop()
		leave()
	})
	return ch, nil
}
