package broker

import "sync"

// RevokedBacklog bounds the revocations waiting for one Revoked listener;
// a listener further behind misses the newest (revocation is best-effort
// by contract), and holds up no other listener.
const RevokedBacklog = 256

// RevokedListeners hands each revoked token hash to every Revoked listener
// of one Broker. The zero value is ready to use.
type RevokedListeners struct {
	mu    sync.Mutex
	chans map[chan string]struct{}
}

// Listen adds a listener. Its channel delivers what Deliver is given from
// then on, until leave, which closes it.
func (l *RevokedListeners) Listen() (ch <-chan string, leave func()) {
	c := make(chan string, RevokedBacklog)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chans == nil {
		l.chans = make(map[chan string]struct{})
	}
	l.chans[c] = struct{}{}
	return c, sync.OnceFunc(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.chans, c)
		close(c)
	})
}

// Deliver hands hash to every listener without waiting for any.
func (l *RevokedListeners) Deliver(hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.chans {
		select {
		case c <- hash:
		default:
		}
	}
}

// Any reports whether there is a listener.
func (l *RevokedListeners) Any() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.chans) > 0
}
