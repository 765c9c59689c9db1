package memory

import (
	"context"
	"sync"
	"time"

	"coderunner"
	"coderunner/broker"
)

// controlQueues holds each run's unread control messages until a listener
// takes them or they expire.
type controlQueues struct {
	ttl time.Duration

	mu   sync.Mutex
	runs map[string]*controlQueue
}

type controlQueue struct {
	messages  []coderunner.ControlMessage
	expires   time.Time
	listeners int
	// cancelledUntil: a cancel was sent, and another is not until then.
	cancelledUntil time.Time
	// wake is closed (and replaced) when a message arrives.
	wake chan struct{}
}

func newControlQueues(opts broker.Options) controlQueues {
	return controlQueues{ttl: opts.ReplayTTL, runs: make(map[string]*controlQueue)}
}

// queueLocked returns runID's queue, creating it, and empties it if its
// messages expired.
func (c *controlQueues) queueLocked(runID string, now time.Time) *controlQueue {
	q := c.runs[runID]
	if q == nil {
		q = &controlQueue{wake: make(chan struct{})}
		c.runs[runID] = q
	}
	if len(q.messages) > 0 && !now.Before(q.expires) {
		q.messages = nil
	}
	return q
}

// SendControl implements coderunner.Control.
func (b *Broker) SendControl(_ context.Context, runID string, m coderunner.ControlMessage) error {
	_, err := b.control.send(runID, m)
	return err
}

// CancelRun implements coderunner.Control.
func (b *Broker) CancelRun(_ context.Context, runID string) (bool, error) {
	return b.control.send(runID, coderunner.ControlMessage{Cancel: true})
}

// send queues m for runID, and reports false for a cancel already sent.
func (c *controlQueues) send(runID string, m coderunner.ControlMessage) (bool, error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queueLocked(runID, now)
	if m.Cancel {
		if now.Before(q.cancelledUntil) {
			return false, nil
		}
		q.cancelledUntil = now.Add(c.ttl)
	} else {
		bytes := len(m.Input)
		for _, p := range q.messages {
			bytes += len(p.Input)
		}
		if len(q.messages) >= broker.MaxPendingControl || bytes > broker.MaxPendingControlBytes {
			return false, broker.ErrControlBacklog(runID)
		}
	}
	q.messages = append(q.messages, m)
	q.expires = now.Add(c.ttl)
	q.wakeListenersLocked()
	return true, nil
}

// ControlMessages implements coderunner.Control.
func (b *Broker) ControlMessages(ctx context.Context, runID string) (<-chan coderunner.ControlMessage, error) {
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	c := &b.control
	c.mu.Lock()
	c.queueLocked(runID, time.Now()).listeners++
	c.mu.Unlock()

	ctx, stop := b.bind(ctx)
	out := make(chan coderunner.ControlMessage)
	go func() {
		defer stop()
		defer close(out)
		defer c.leave(runID)
		for {
			m, wake, ok := c.take(runID)
			if !ok {
				select {
				case <-ctx.Done():
					return
				case <-wake:
					continue
				}
			}
			select {
			case out <- m:
			case <-ctx.Done():
				c.putBack(runID, m) // for whoever listens next
				return
			}
		}
	}()
	return out, nil
}

// take pops runID's first message; without one, it returns the channel
// that closes when one arrives.
func (c *controlQueues) take(runID string) (coderunner.ControlMessage, <-chan struct{}, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queueLocked(runID, time.Now())
	if len(q.messages) == 0 {
		return coderunner.ControlMessage{}, q.wake, false
	}
	m := q.messages[0]
	q.messages = q.messages[1:]
	return m, nil, true
}

func (c *controlQueues) putBack(runID string, m coderunner.ControlMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queueLocked(runID, time.Now())
	q.messages = append([]coderunner.ControlMessage{m}, q.messages...)
	q.expires = time.Now().Add(c.ttl)
	q.wakeListenersLocked()
}

func (q *controlQueue) wakeListenersLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

func (c *controlQueues) leave(runID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs[runID].listeners--
}

// sweep frees the queues that nobody listens to and that hold no message
// still to deliver nor a recent cancel.
func (c *controlQueues) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, q := range c.runs {
		if q.listeners == 0 && (len(q.messages) == 0 || !now.Before(q.expires)) && !now.Before(q.cancelledUntil) {
			delete(c.runs, id)
		}
	}
}
