package executor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// pool keeps size containers started and waiting, so that a run takes one
// that is already past the ~180 ms a container start costs.
//
// It has one filler goroutine per slot. A filler starts a container, then
// blocks handing it over on an unbuffered channel; once a run takes it, the
// filler starts the next — in jail mode, once the run has given it back
// retired; a container given back for reuse is handed over again. So
// exactly size containers are ever held ready, in use (jail mode) or in
// the making, with no bookkeeping.
type pool struct {
	ready chan *warmContainer
	// failed carries a filler's error to a run that is waiting, so that a
	// broken engine fails runs at once instead of at their deadlines.
	failed  chan error
	discard func(*warmContainer)
	cancel  context.CancelFunc
	done    sync.WaitGroup
	// waiting counts the containers started and waiting to be taken.
	waiting atomic.Int32
}

// Backoff between failed starts, doubling up to the maximum.
const (
	minFillBackoff = 250 * time.Millisecond
	maxFillBackoff = 5 * time.Second
)

// startPool starts size fillers; start is told which slot (0 to size-1) a
// container is for.
func startPool(size int, start func(ctx context.Context, slot int) (*warmContainer, error), discard func(*warmContainer), log *slog.Logger) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pool{ready: make(chan *warmContainer), failed: make(chan error), discard: discard, cancel: cancel}
	for slot := range size {
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			p.fill(ctx, func(ctx context.Context) (*warmContainer, error) { return start(ctx, slot) }, log)
		}()
	}
	return p
}

func (p *pool) fill(ctx context.Context, start func(context.Context) (*warmContainer, error), log *slog.Logger) {
	backoff := minFillBackoff
	for ctx.Err() == nil {
		c, err := start(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("start sandbox container", "err", err)
			select {
			case p.failed <- err:
			default:
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, maxFillBackoff)
			continue
		}
		backoff = minFillBackoff
		p.serve(ctx, c)
	}
}

// serve hands c to runs until it is retired: once in container mode, in
// jail mode again after each run that gives it back for reuse.
func (p *pool) serve(ctx context.Context, c *warmContainer) {
	for {
		p.waiting.Add(1)
		select {
		case p.ready <- c:
		case <-ctx.Done():
			p.waiting.Add(-1)
			p.discard(c)
			return
		}
		p.waiting.Add(-1)
		if c.back == nil {
			return
		}
		// Wait for the run even when the pool is closing: a container
		// given back is this slot's to remove, and a run ends within its
		// wall-time limit.
		if reusable := <-c.back; !reusable {
			return
		}
		if ctx.Err() != nil {
			p.discard(c)
			return
		}
	}
}

// release ends a run's hold on c: in jail mode it goes back to its slot,
// to serve again if reusable; a container not reusable must have been
// discarded already.
func (p *pool) release(c *warmContainer, reusable bool) {
	if c.back != nil {
		c.back <- reusable
	}
}

// get takes a ready container, waiting for one if need be. Containers that
// died while they waited are discarded on the way.
func (p *pool) get(ctx context.Context) (*warmContainer, error) {
	for {
		select {
		case c := <-p.ready:
			if c.waiting() {
				return c, nil
			}
			p.discard(c)
			p.release(c, false)
		case err := <-p.failed:
			return nil, fmt.Errorf("no sandbox container could be started: %w", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// close stops the fillers; each discards the container it holds.
func (p *pool) close() {
	p.cancel()
	p.done.Wait()
}
