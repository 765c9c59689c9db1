package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker"
)

// controlPoll bounds one blocking pop of control messages: how long a
// listener may outlive its context.
const controlPoll = time.Second

// SendControl implements coderunner.Control: the message waits in the
// run's list, for ReplayTTL after the last one, until a worker pops it.
func (b *Broker) SendControl(ctx context.Context, runID string, m coderunner.ControlMessage) error {
	_, err := b.sendControl(ctx, runID, m)
	return err
}

// CancelRun implements coderunner.Control: a key beside the run's list
// remembers the cancel for ReplayTTL.
func (b *Broker) CancelRun(ctx context.Context, runID string) (bool, error) {
	return b.sendControl(ctx, runID, coderunner.ControlMessage{Cancel: true})
}

func (b *Broker) sendControl(ctx context.Context, runID string, m coderunner.ControlMessage) (bool, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("redis broker: encode control message: %w", err)
	}
	maxMessages, maxBytes := broker.MaxPendingControl, broker.MaxPendingControlBytes
	if m.Cancel {
		maxMessages, maxBytes = math.MaxInt32, math.MaxInt32
	}
	sent, err := sendControlScript.Run(ctx, b.rdb, []string{b.keys.control(runID), b.keys.cancelled(runID)},
		payload, b.opts.ReplayTTL.Milliseconds(), maxMessages, maxBytes, m.Cancel).Int()
	switch {
	case errors.Is(err, goredis.Nil):
		return false, broker.ErrControlBacklog(runID)
	case err != nil:
		return false, fmt.Errorf("redis broker: send control message to run %s: %w", runID, err)
	}
	return sent == 1, nil
}

// ControlMessages implements coderunner.Control. The listener pops on a
// connection of its own, since a blocking pop holds it.
func (b *Broker) ControlMessages(ctx context.Context, runID string) (<-chan coderunner.ControlMessage, error) {
	if err := b.Ping(ctx); err != nil {
		return nil, err
	}
	out := make(chan coderunner.ControlMessage)
	ctx, stop := b.bind(ctx)
	b.wg.Go(func() {
		defer stop()
		defer close(out)
		conn := b.rdb.Conn()
		defer func() { conn.Close() }()
		key := b.keys.control(runID)
		for ctx.Err() == nil {
			res, err := conn.BLPop(context.WithoutCancel(ctx), controlPoll, key).Result()
			switch {
			case errors.Is(err, goredis.Nil):
				continue // nothing within controlPoll
			case err != nil:
				if ctx.Err() == nil {
					b.log.Warn("redis broker: reading control messages failed; retrying", "run", runID, "err", err)
					sleep(ctx, retryEvery)
				}
				// A dedicated connection that failed stays failed (go-redis
				// does not redial it, as it does pooled ones): take another.
				conn.Close()
				conn = b.rdb.Conn()
				continue
			}
			var m coderunner.ControlMessage
			if err := json.Unmarshal([]byte(res[1]), &m); err != nil {
				b.log.Error("redis broker: dropping a malformed control message", "run", runID, "err", err)
				continue
			}
			select {
			case out <- m:
			case <-ctx.Done():
				b.putBack(key, res[1])
				return
			}
		}
	})
	return out, nil
}

// putBack returns a message popped for a listener that has gone, at the
// head of the list, for whoever listens next.
func (b *Broker) putBack(key, payload string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.LPush(ctx, key, payload)
		p.PExpire(ctx, key, b.opts.ReplayTTL)
		return nil
	})
	if err != nil {
		b.log.Warn("redis broker: a control message popped for a listener that left is lost", "key", key, "err", err)
	}
}
