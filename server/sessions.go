package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"coderunner"
)

// sessionRecheck is how often the sessions that hold connections open are
// looked up in the store, in case a revocation message was lost.
const sessionRecheck = time.Minute

// errSessionEnded is the cause of a held context whose session was
// signed out or expired.
var errSessionEnded = errors.New("session ended")

// sessionWatch ends the subscriptions a session authorised when it ends:
// at its expiry, at once when any replica announces its revocation, and
// at the latest one sessionRecheck after a revocation message was lost.
type sessionWatch struct {
	mu    sync.Mutex
	holds map[string]map[*hold]struct{} // by token hash
}

type hold struct{ cancel context.CancelCauseFunc }

func newSessionWatch() *sessionWatch {
	return &sessionWatch{holds: map[string]map[*hold]struct{}{}}
}

// hold returns a context that ends with ctx, at expires, or when the
// session is revoked; release forgets it (call it when done).
func (w *sessionWatch) hold(ctx context.Context, tokenHash string, expires time.Time) (context.Context, func()) {
	ctx, cancelDeadline := context.WithDeadline(ctx, expires)
	ctx, cancel := context.WithCancelCause(ctx)
	h := &hold{cancel: cancel}
	w.mu.Lock()
	if w.holds[tokenHash] == nil {
		w.holds[tokenHash] = map[*hold]struct{}{}
	}
	w.holds[tokenHash][h] = struct{}{}
	w.mu.Unlock()
	return ctx, func() {
		w.mu.Lock()
		delete(w.holds[tokenHash], h)
		if len(w.holds[tokenHash]) == 0 {
			delete(w.holds, tokenHash)
		}
		w.mu.Unlock()
		cancel(nil)
		cancelDeadline()
	}
}

// end ends every hold of a session, after signOutGrace: a WebSocket that
// sent signOut itself gets its answer before it closes.
func (w *sessionWatch) end(tokenHash string) {
	time.AfterFunc(signOutGrace, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for h := range w.holds[tokenHash] {
			h.cancel(errSessionEnded)
		}
	})
}

// signOutGrace is how long connections of a signed-out session stay open.
const signOutGrace = 250 * time.Millisecond

func (w *sessionWatch) held() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	hashes := make([]string, 0, len(w.holds))
	for hash := range w.holds {
		hashes = append(hashes, hash)
	}
	return hashes
}

// run ends holds as revocations arrive, and every sessionRecheck those
// whose session the store no longer has, until ctx ends. The store checks
// run apart, so that a slow store does not hold up revocations.
func (w *sessionWatch) run(ctx context.Context, revocations coderunner.Revocations, valid func(context.Context, string) bool, log *slog.Logger) {
	go w.recheck(ctx, valid)
	listen(ctx, revocations.Revoked, w.end, "signed-out sessions", log)
}

// listen hands each message of a broadcast (subscribe) to handle until ctx
// ends, subscribing again, every second until it works, whenever the
// channel closes or subscribing fails.
func listen[T any](ctx context.Context, subscribe func(context.Context) (<-chan T, error), handle func(T), what string, log *slog.Logger) {
	var messages <-chan T
	for ctx.Err() == nil {
		if messages == nil {
			ch, err := subscribe(ctx)
			if err != nil {
				log.Warn("listen for "+what+"; retrying", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				continue
			}
			messages = ch
		}
		select {
		case <-ctx.Done():
			return
		case m, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			handle(m)
		}
	}
}

// recheck ends, every sessionRecheck, the holds whose session is gone.
func (w *sessionWatch) recheck(ctx context.Context, valid func(context.Context, string) bool) {
	t := time.NewTicker(sessionRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, hash := range w.held() {
			checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if !valid(checkCtx, hash) {
				w.end(hash)
			}
			cancel()
		}
	}
}
