package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
)

// A subscription reads the replay buffer, then follows live events from
// the broker's one shared PubSub connection. Its goroutine keeps the last
// seq it delivered, so it drops what it has seen and, when something is
// missing, reads the buffer again ("catches up"): after a gap in the live
// seqs, when its inbox overflowed (it was slow), and whenever Redis
// confirms a SUBSCRIBE to its channel — the first one, so that events
// published between its first read and that moment are not lost, and each
// one after a reconnect, when go-redis resubscribes.

// inboxSize bounds the live events waiting for one slow subscriber; past
// it, they are dropped and it catches up from the buffer. Small, since
// every subscription allocates it: output is coalesced into chunks ~50 ms
// apart, so 16 events is most of a second behind.
const inboxSize = 16

// pingEvery keeps the PubSub connection checked while it is quiet: a ping
// that cannot be written makes go-redis reconnect.
const pingEvery = 5 * time.Second

// retryEvery paces retries of reads and of the PubSub connection while
// Redis does not answer.
const retryEvery = 250 * time.Millisecond

type subscriber struct {
	runID   string
	channel string
	inbox   chan coderunner.RunEvent
	catchUp chan struct{} // capacity 1: catching up once covers all requests
}

func (s *subscriber) requestCatchUp() {
	select {
	case s.catchUp <- struct{}{}:
	default:
	}
}

// offer hands a live event to s without ever blocking the dispatcher.
func (s *subscriber) offer(e coderunner.RunEvent) {
	select {
	case s.inbox <- e:
	default:
		s.requestCatchUp()
	}
}

// hub fans the shared PubSub connection out to local subscribers. A run's
// channel is subscribed while the run has at least one local subscriber.
type hub struct {
	b  *Broker
	ps *goredis.PubSub

	mu     sync.RWMutex
	topics map[string]map[*subscriber]struct{} // by channel

	// syncMu orders SUBSCRIBE and UNSUBSCRIBE calls, so that the last one
	// for a channel matches whether it still has subscribers; subscribed
	// is what was last asked of Redis.
	syncMu     sync.Mutex
	subscribed map[string]bool

	// revoked and contentChanged are the Broker's Revoked and
	// ContentChanged listeners; broadcasts, by channel, are their
	// channels, each subscribed while it has a listener (see
	// broadcast.go). Made by newHub, read-only after.
	revoked        broker.RevokedListeners
	contentChanged broker.ContentListeners
	broadcasts     map[string]*broadcast
}

func newHub(b *Broker) *hub {
	h := &hub{
		b:          b,
		ps:         b.rdb.Subscribe(b.done), // no channel yet: connects on first use
		topics:     make(map[string]map[*subscriber]struct{}),
		subscribed: make(map[string]bool),
	}
	h.broadcasts = h.newBroadcasts()
	return h
}

func (h *hub) close() error { return h.ps.Close() }

// Subscribe implements coderunner.EventLog.
func (b *Broker) Subscribe(ctx context.Context, runID string, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	s := &subscriber{
		runID:   runID,
		channel: b.keys.channel(runID),
		inbox:   make(chan coderunner.RunEvent, inboxSize),
		catchUp: make(chan struct{}, 1),
	}
	// Join before reading the buffer, so no event falls between the two.
	if err := b.subs.join(s); err != nil {
		b.subs.leave(s)
		return nil, err
	}
	backlog, ended, err := b.buffered(ctx, runID, afterSeq)
	if err != nil {
		b.subs.leave(s)
		return nil, err
	}
	out := make(chan coderunner.RunEvent)
	ctx, stop := b.bind(ctx)
	b.wg.Go(func() {
		defer stop()
		defer close(out)
		defer b.subs.leave(s)
		if !ended {
			b.follow(ctx, s, out, afterSeq, backlog)
		}
	})
	return out, nil
}

// follow delivers backlog, then live events and catch-ups, until FINISHED
// or ctx ends.
func (b *Broker) follow(ctx context.Context, s *subscriber, out chan<- coderunner.RunEvent, last int64, backlog []coderunner.RunEvent) {
	var retry <-chan time.Time // set while a catch-up failed
	for {
		// backlog holds only seqs after last: buffered reads after last,
		// and live events that are exactly the next.
		for _, e := range backlog {
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
			last = e.Seq
			if e.Type == coderunner.EventFinished {
				return
			}
		}
		backlog = nil

		catchUp := false
		select {
		case <-ctx.Done():
			return
		case e := <-s.inbox:
			switch {
			case e.Seq == last+1:
				backlog = []coderunner.RunEvent{e}
			case e.Seq > last+1:
				catchUp = true // missed some: the buffer has them
			case e.Type == coderunner.EventFinished:
				// The run ended at or before the seq the subscriber
				// gave (its numbering restarted, or the subscriber
				// was ahead): as when Subscribe finds it buffered, the
				// subscription closes without it.
				return
			}
		case <-s.catchUp:
			catchUp = true
		case <-retry:
			catchUp = true
		}
		if !catchUp {
			continue
		}
		events, ended, err := b.buffered(ctx, s.runID, last)
		switch {
		case err != nil && ctx.Err() == nil:
			b.log.Warn("redis broker: catching up a subscription failed; retrying", "run", s.runID, "err", err)
			retry = time.After(retryEvery)
		case ended:
			return
		default:
			retry, backlog = nil, events
		}
	}
}

// join adds s and subscribes its channel if s is the first subscriber.
func (h *hub) join(s *subscriber) error {
	h.mu.Lock()
	subs := h.topics[s.channel]
	if subs == nil {
		subs = make(map[*subscriber]struct{})
		h.topics[s.channel] = subs
	}
	subs[s] = struct{}{}
	h.mu.Unlock()
	return h.sync(s.channel)
}

// leave removes s and unsubscribes its channel if s was the last.
func (h *hub) leave(s *subscriber) {
	h.mu.Lock()
	subs := h.topics[s.channel]
	delete(subs, s)
	if len(subs) == 0 {
		delete(h.topics, s.channel)
	}
	h.mu.Unlock()
	h.unsubscribe(s.channel)
}

// unsubscribe unsubscribes channel if it has no subscribers left.
func (h *hub) unsubscribe(channel string) {
	if err := h.sync(channel); err != nil && h.b.done.Err() == nil {
		h.b.log.Warn("redis broker: unsubscribe failed; go-redis drops the channel when it reconnects",
			"channel", channel, "err", err)
	}
}

// wanted reports whether channel has local listeners: subscribers of a
// run, or listeners of a broadcast.
func (h *hub) wanted(channel string) bool {
	if bc := h.broadcasts[channel]; bc != nil {
		return bc.any()
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.topics[channel]
	return ok
}

// sync makes channel's subscription match whether it has subscribers.
// go-redis records the change even when the command fails (Redis down),
// and its reconnect subscribes what it recorded.
func (h *hub) sync(channel string) error {
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	want := h.wanted(channel)
	if want == h.subscribed[channel] {
		return nil
	}
	if want {
		h.subscribed[channel] = true
		if bc := h.broadcasts[channel]; bc != nil {
			h.expectConfirmation(bc)
		}
		return h.ps.Subscribe(h.b.done, channel)
	}
	delete(h.subscribed, channel)
	return h.ps.Unsubscribe(h.b.done, channel)
}

// receive reads the PubSub connection until the broker closes. It reads
// with Receive rather than go-redis's Channel, which drops messages when a
// reader is slow; here nothing blocks the loop, and what a slow
// subscriber misses it catches up from the buffer.
func (h *hub) receive() {
	for {
		msg, err := h.ps.Receive(h.b.done)
		if err != nil {
			if h.b.done.Err() != nil || errors.Is(err, goredis.ErrClosed) {
				return
			}
			// go-redis reconnects (and resubscribes) on the next call.
			h.b.log.Warn("redis broker: PubSub connection lost; reconnecting", "err", err)
			if !sleep(h.b.done, retryEvery) {
				return
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				h.each(m.Channel, (*subscriber).requestCatchUp)
				if bc := h.broadcasts[m.Channel]; bc != nil {
					h.confirmed(bc)
				}
			}
		case *goredis.Message:
			if bc := h.broadcasts[m.Channel]; bc != nil {
				bc.deliver(m.Payload)
				continue
			}
			e, err := decodeEvent(m.Payload)
			if err != nil {
				h.b.log.Error("redis broker: dropping a malformed live event", "channel", m.Channel, "err", err)
				continue
			}
			h.each(m.Channel, func(s *subscriber) { s.offer(e) })
		}
	}
}

func (h *hub) each(channel string, f func(*subscriber)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.topics[channel] {
		f(s)
	}
}

// ping checks the PubSub connection while it is quiet.
func (h *hub) ping() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-h.b.done.Done():
			return
		case <-t.C:
			_ = h.ps.Ping(h.b.done) // a failed write reconnects; nothing else to do
		}
	}
}
