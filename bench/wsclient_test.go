package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"coderunner/internal/gqlws"
)

// wsClient speaks graphql-transport-ws over one WebSocket, as the editor
// does: one connection, one subscription per run.
type wsClient struct{ *gqlws.Conn }

type event = gqlws.Event

// dialWS opens a connection to baseURL's /graphql.
func dialWS(ctx context.Context, baseURL string) (*wsClient, error) {
	c, err := gqlws.Dial(ctx, baseURL+"/graphql", gqlws.TransportWS)
	if err != nil {
		return nil, err
	}
	return &wsClient{c}, nil
}

func (c *wsClient) close() error { return c.Close() }

// subscribe starts runEvents(runID, afterSeq) under the subscription id id.
func (c *wsClient) subscribe(id, runID string, afterSeq int64) error {
	return c.SubscribeRunEvents(id, runID, afterSeq)
}

// next returns the next message, waiting until deadline at most.
func (c *wsClient) next(deadline time.Time) (gqlws.Message, error) { return c.Next(deadline) }

// nextEvent returns the next message of a subscription: its type
// ("next", "complete") and, for next, the event.
func (c *wsClient) nextEvent(deadline time.Time) (id, typ string, e event, err error) {
	m, err := c.Next(deadline)
	if err != nil {
		return "", "", event{}, err
	}
	switch m.Type {
	case "next":
		e, err := m.Event()
		return m.ID, m.Type, e, err
	case "complete":
		return m.ID, m.Type, event{}, nil
	}
	return m.ID, m.Type, event{}, fmt.Errorf("unexpected message %s %s", m.Type, m.Payload)
}

// errNotHi is what followRun reports for a run that did not print "hi".
var errNotHi = errors.New(`the run did not complete with stdout "hi\n"`)

// followRun reads subscription id until it completes and returns when its
// FINISHED event arrived. It checks that seqs follow each other and that
// the run completed printing "hi".
func (c *wsClient) followRun(id string, timeout time.Duration) (finishedAt time.Time, err error) {
	deadline := time.Now().Add(timeout)
	var last int64
	for {
		mid, typ, e, err := c.nextEvent(deadline)
		if err != nil {
			return time.Time{}, err
		}
		if mid != id {
			return time.Time{}, fmt.Errorf("message for subscription %q while following %q", mid, id)
		}
		if typ == "complete" {
			if finishedAt.IsZero() {
				return time.Time{}, errors.New("subscription completed without FINISHED")
			}
			return finishedAt, nil
		}
		if e.Seq != last+1 {
			return time.Time{}, fmt.Errorf("event seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		if e.Type == "FINISHED" {
			finishedAt = time.Now()
			if e.Run == nil || e.Run.Status != "COMPLETED" || e.Run.Stdout != "hi\n" {
				return time.Time{}, fmt.Errorf("%w: %+v", errNotHi, e.Run)
			}
		}
	}
}
