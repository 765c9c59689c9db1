// Package memory is the in-process coderunner.Broker: the embedded default
// of `coderunner serve`, where api and worker share one process. It keeps
// the Redis broker's semantics — claim timeouts and redelivery, bounded
// replay buffers that expire, quota counters kept as long as Redis keeps
// them — so the code above it behaves the same in both modes, and it
// passes the same suite (broker/brokertest).
package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"coderunner"
	"coderunner/broker"
)

var _ coderunner.Broker = (*Broker)(nil)

// errClosed is returned by calls made after Close.
var errClosed = errors.New("memory broker: closed")

// Broker is an in-process coderunner.Broker. Create it with New.
type Broker struct {
	queue   queue
	events  eventLog
	control controlQueues
	limits  limits
	revoked broker.RevokedListeners
	// contentChanged are the ContentChanged listeners.
	contentChanged broker.ContentListeners

	// done ends blocked calls, subscriptions and the sweeper on Close.
	done      context.Context
	close     context.CancelFunc
	sweeperWG sync.WaitGroup
}

// New returns a Broker; Close stops it.
func New(opts broker.Options) *Broker {
	opts = opts.WithDefaults()
	done, cancel := context.WithCancel(context.Background())
	b := &Broker{
		queue:   newQueue(opts),
		events:  newEventLog(opts),
		control: newControlQueues(opts),
		limits:  newLimits(),
		done:    done,
		close:   cancel,
	}
	b.sweeperWG.Go(b.sweep)
	return b
}

// Ping fails only once the broker is closed.
func (b *Broker) Ping(context.Context) error {
	if b.done.Err() != nil {
		return errClosed
	}
	return nil
}

// Close ends blocked Claims, subscriptions and control listeners.
func (b *Broker) Close() error {
	b.close()
	b.sweeperWG.Wait()
	return nil
}

// bind returns a context that also ends when the broker closes.
func (b *Broker) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.done, cancel)
	return ctx, func() { stop(); cancel() }
}

// sweep drops expired replay buffers, control queues and Limiter state,
// so that memory does not grow with every run and owner ever seen. Expired
// data is already hidden from readers when they look, or no longer counts;
// this only frees it.
func (b *Broker) sweep() {
	every := min(max(b.events.ttl/2, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.done.Done():
			return
		case now := <-t.C:
			b.events.sweep(now)
			b.control.sweep(now)
			b.limits.sweep(now)
		}
	}
}
