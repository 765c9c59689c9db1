package broker

import (
	"sync"

	"coderunner"
)

// ListenerBacklog bounds the messages waiting for one listener of a
// broadcast (Revoked, ContentChanged); a listener further behind misses the
// newest (those deliveries are best-effort by contract), and holds up no
// other listener.
const ListenerBacklog = 256

// RevokedBacklog bounds the revocations waiting for one Revoked listener.
const RevokedBacklog = ListenerBacklog

// Listeners hands each message to every listener of one Broker's
// broadcast. The zero value is ready to use.
type Listeners[T any] struct {
	mu    sync.Mutex
	chans map[chan T]struct{}
}

// RevokedListeners are a Broker's Revoked listeners.
type RevokedListeners = Listeners[string]

// ContentListeners are a Broker's ContentChanged listeners.
type ContentListeners = Listeners[coderunner.ContentChange]

// Listen adds a listener. Its channel delivers what Deliver is given from
// then on, until leave, which closes it.
func (l *Listeners[T]) Listen() (ch <-chan T, leave func()) {
	c := make(chan T, ListenerBacklog)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chans == nil {
		l.chans = make(map[chan T]struct{})
	}
	l.chans[c] = struct{}{}
	return c, sync.OnceFunc(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.chans, c)
		close(c)
	})
}

// Deliver hands m to every listener without waiting for any.
func (l *Listeners[T]) Deliver(m T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.chans {
		select {
		case c <- m:
		default:
		}
	}
}

// Any reports whether there is a listener.
func (l *Listeners[T]) Any() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.chans) > 0
}
