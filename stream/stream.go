// Package stream delivers the events of a run or a submission — a stream
// in the broker's EventLog, keyed by its id — to a subscriber, in order and
// each once, and makes sure that the subscriber sees the stream end with
// FINISHED even when the broker lost it. runs.Service and
// submissions.Service follow their streams with it; the store is asked
// through the functions they pass.
package stream

import (
	"context"
	"slices"
	"time"

	"coderunner"
)

// Ending tells whether the stream's run or submission has finished,
// according to the store, and if so returns its FINISHED event numbered
// last+1.
type Ending func(ctx context.Context, last int64) (coderunner.RunEvent, bool)

// Follow passes a live stream's events on, through pass, until FINISHED,
// and makes sure the subscription ends with FINISHED once the run or
// submission has finished even when the broker never delivers it: its
// publish failed for longer than it was retried, Redis lost the events, or
// the process holding the in-memory broker restarted. It asks ending when
// the broker closes the subscription without FINISHED, and whenever no
// event came for every: finished at two such checks in a row, the stream
// is ended from the store. A chatty stream costs no store read.
func Follow(ctx context.Context, live <-chan coderunner.RunEvent, afterSeq int64, every time.Duration, ending Ending, pass func(coderunner.RunEvent) coderunner.RunEvent) <-chan coderunner.RunEvent {
	out := make(chan coderunner.RunEvent)
	go func() {
		defer close(out)
		last := afterSeq
		quiet := time.NewTimer(every)
		defer quiet.Stop()
		finishedBefore := false
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-live:
				if !ok {
					if ctx.Err() == nil {
						if end, finished := ending(ctx, last); finished {
							send(ctx, out, end)
						}
					}
					return
				}
				send(ctx, out, pass(e))
				if last = e.Seq; e.Type == coderunner.EventFinished {
					return
				}
				quiet.Reset(every)
				finishedBefore = false
			case <-quiet.C:
				end, finished := ending(ctx, last)
				if finished && finishedBefore {
					send(ctx, out, end)
					return
				}
				finishedBefore = finished
				quiet.Reset(every)
			}
		}
	}()
	return out
}

func send(ctx context.Context, out chan<- coderunner.RunEvent, e coderunner.RunEvent) {
	select {
	case out <- e:
	case <-ctx.Done():
	}
}

// Finished returns the events after afterSeq of a stream whose run or
// submission has finished: from the replay buffer if it holds all of them,
// else rebuilt by fromStore (see Number). A client that has seen FINISHED
// (afterSeq is its seq) gets nothing more.
func Finished(ctx context.Context, log coderunner.EventLog, id string, afterSeq int64, fromStore func() []coderunner.RunEvent) ([]coderunner.RunEvent, error) {
	// Read from the event at afterSeq, to tell whether it was FINISHED.
	events, err := log.Replay(ctx, id, max(afterSeq-1, 0))
	if err != nil {
		return nil, err
	}
	if afterSeq > 0 && len(events) > 0 && events[0].Seq == afterSeq {
		if events[0].Type == coderunner.EventFinished {
			return nil, nil
		}
		events = events[1:]
	}
	// Nothing counts after FINISHED (a worker that lost a race with a
	// cancel may still have published output).
	if i := slices.IndexFunc(events, isFinished); i >= 0 {
		events = events[:i+1]
	}
	if n := len(events); n == 0 || events[0].Seq != afterSeq+1 || events[n-1].Type != coderunner.EventFinished {
		events = Number(id, fromStore(), afterSeq)
	}
	return events, nil
}

func isFinished(e coderunner.RunEvent) bool { return e.Type == coderunner.EventFinished }

// Number gives the events of a stream rebuilt from the store, ending with
// FINISHED, their id and seqs 1, 2, 3, …, and returns those after
// afterSeq. Whatever seq the client saw last, it gets the FINISHED.
func Number(id string, all []coderunner.RunEvent, afterSeq int64) []coderunner.RunEvent {
	var out []coderunner.RunEvent
	for i, e := range all {
		e.RunID, e.Seq = id, int64(i+1)
		if e.Type == coderunner.EventFinished {
			e.Seq = max(e.Seq, afterSeq+1)
		}
		if e.Seq > afterSeq {
			out = append(out, e)
		}
	}
	return out
}
