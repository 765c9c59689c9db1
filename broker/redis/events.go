package redis

import (
	"context"
	"encoding/json"
	"fmt"

	"coderunner"
)

// envelope is an event as stored in the replay buffer and published: the
// script that numbers it wraps the event's JSON with its seq.
type envelope struct {
	Seq   int64               `json:"seq"`
	Event coderunner.RunEvent `json:"event"`
}

func decodeEvent(s string) (coderunner.RunEvent, error) {
	var env envelope
	if err := json.Unmarshal([]byte(s), &env); err != nil {
		return coderunner.RunEvent{}, fmt.Errorf("redis broker: decode event: %w", err)
	}
	env.Event.Seq = env.Seq
	return env.Event, nil
}

// Publish implements coderunner.EventLog.
func (b *Broker) Publish(ctx context.Context, e coderunner.RunEvent) (coderunner.RunEvent, error) {
	e.Seq = 0 // the script numbers it
	payload, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("redis broker: encode event: %w", err)
	}
	seq, err := publishScript.Run(ctx, b.rdb,
		[]string{b.keys.seq(e.RunID), b.keys.events(e.RunID)},
		payload, b.opts.ReplaySize, b.opts.ReplayTTL.Milliseconds(), b.keys.channel(e.RunID)).Int64()
	if err != nil {
		return e, fmt.Errorf("redis broker: publish %s of run %s: %w", e.Type, e.RunID, err)
	}
	e.Seq = seq
	return e, nil
}

// Replay implements coderunner.EventLog.
func (b *Broker) Replay(ctx context.Context, runID string, afterSeq int64) ([]coderunner.RunEvent, error) {
	events, _, err := b.buffered(ctx, runID, afterSeq)
	return events, err
}

// buffered returns runID's buffered events with seq > afterSeq, and
// whether the run ended at or before afterSeq (its newest event is a
// FINISHED the caller has seen).
func (b *Broker) buffered(ctx context.Context, runID string, afterSeq int64) ([]coderunner.RunEvent, bool, error) {
	raw, err := replayScript.Run(ctx, b.rdb,
		[]string{b.keys.seq(runID), b.keys.events(runID)}, afterSeq).StringSlice()
	if err != nil {
		return nil, false, fmt.Errorf("redis broker: read events of run %s: %w", runID, err)
	}
	var events []coderunner.RunEvent
	ended := false
	for _, s := range raw {
		e, err := decodeEvent(s)
		if err != nil {
			return nil, false, err
		}
		if e.Seq > afterSeq {
			events = append(events, e)
		} else {
			ended = e.Type == coderunner.EventFinished
		}
	}
	return events, ended, nil
}
