package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"coderunner"
	"coderunner/broker"
)

// eventLog keeps each run's replay buffer and its local subscribers.
type eventLog struct {
	size int
	ttl  time.Duration

	mu   sync.Mutex
	runs map[string]*runLog
}

// runLog is one run's events. Subscribers read from events themselves
// when woken, so a slow one holds up no other and no publisher.
type runLog struct {
	seq     int64
	events  []coderunner.RunEvent // the latest `size`, in seq order
	expires time.Time             // zero until the first event
	subs    map[chan struct{}]struct{}
}

func newEventLog(opts broker.Options) eventLog {
	return eventLog{size: opts.ReplaySize, ttl: opts.ReplayTTL, runs: make(map[string]*runLog)}
}

// runLocked returns runID's log, creating it, and clears it if it expired:
// like Redis keys, an expired run starts again from seq 1.
func (l *eventLog) runLocked(runID string, now time.Time) *runLog {
	r := l.runs[runID]
	if r == nil {
		r = &runLog{subs: make(map[chan struct{}]struct{})}
		l.runs[runID] = r
	}
	if !r.expires.IsZero() && !now.Before(r.expires) {
		r.seq, r.events, r.expires = 0, nil, time.Time{}
	}
	return r
}

// Publish implements coderunner.EventLog.
func (b *Broker) Publish(_ context.Context, e coderunner.RunEvent) (coderunner.RunEvent, error) {
	l := &b.events
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.runLocked(e.RunID, now)
	r.seq++
	e.Seq = r.seq
	r.events = append(r.events, e)
	if len(r.events) > l.size {
		r.events = r.events[len(r.events)-l.size:]
	}
	r.expires = now.Add(l.ttl)
	for wake := range r.subs {
		select {
		case wake <- struct{}{}:
		default: // already woken
		}
	}
	return e, nil
}

// Replay implements coderunner.EventLog.
func (b *Broker) Replay(_ context.Context, runID string, afterSeq int64) ([]coderunner.RunEvent, error) {
	events, _ := b.events.after(runID, afterSeq)
	return slices.Clone(events), nil
}

// after returns runID's buffered events with seq > afterSeq, and whether
// the run ended at or before afterSeq (its newest event is a FINISHED the
// caller has seen). The slice is shared: elements below its length are
// never written again, but callers must not modify them.
func (l *eventLog) after(runID string, afterSeq int64) ([]coderunner.RunEvent, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.runs[runID]
	if r == nil {
		return nil, false
	}
	r = l.runLocked(runID, time.Now())
	n := len(r.events)
	if n == 0 {
		return nil, false
	}
	if newest := r.events[n-1]; newest.Seq <= afterSeq {
		return nil, newest.Type == coderunner.EventFinished
	}
	i, _ := slices.BinarySearchFunc(r.events, afterSeq+1, func(e coderunner.RunEvent, seq int64) int {
		return int(e.Seq - seq)
	})
	return r.events[i:n:n], false
}

// Subscribe implements coderunner.EventLog.
func (b *Broker) Subscribe(ctx context.Context, runID string, afterSeq int64) (<-chan coderunner.RunEvent, error) {
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	l := &b.events
	wake := make(chan struct{}, 1)
	wake <- struct{}{} // read what is buffered already
	l.mu.Lock()
	l.runLocked(runID, time.Now()).subs[wake] = struct{}{}
	l.mu.Unlock()

	ctx, stop := b.bind(ctx)
	out := make(chan coderunner.RunEvent)
	go func() {
		defer stop()
		defer close(out)
		defer l.leave(runID, wake)
		last := afterSeq
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			events, ended := l.after(runID, last)
			if ended {
				return
			}
			for _, e := range events {
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
		}
	}()
	return out, nil
}

func (l *eventLog) leave(runID string, wake chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.runs[runID]; r != nil {
		delete(r.subs, wake)
	}
}

// sweep frees the runs that expired (or never had an event) and have no
// subscribers.
func (l *eventLog) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, r := range l.runs {
		if len(r.subs) == 0 && (r.expires.IsZero() || !now.Before(r.expires)) {
			delete(l.runs, id)
		}
	}
}
