package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// runEventsQuery is the editor's subscription, as in issue 4.
const runEventsQuery = `subscription($id: ID!, $after: Int!) {
	runEvents(runId: $id, afterSeq: $after) { runId seq type text run { status exitCode stdout } } }`

// wsClient speaks graphql-transport-ws over one WebSocket, as the editor
// does: one connection, one subscription per run.
type wsClient struct {
	conn *websocket.Conn
	wmu  sync.Mutex // gorilla allows one writer at a time
}

// wsMessage is a graphql-transport-ws message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// event is a RunEvent as a client receives it.
type event struct {
	RunID string  `json:"runId"`
	Seq   int64   `json:"seq"`
	Type  string  `json:"type"`
	Text  *string `json:"text"`
	Run   *struct {
		Status   string `json:"status"`
		ExitCode int    `json:"exitCode"`
		Stdout   string `json:"stdout"`
	} `json:"run"`
}

var dialer = websocket.Dialer{
	Subprotocols:     []string{"graphql-transport-ws"},
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
}

// dialWS opens a connection to baseURL's /graphql and waits for the
// server's connection_ack.
func dialWS(ctx context.Context, baseURL string) (*wsClient, error) {
	conn, resp, err := dialer.DialContext(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/graphql", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	resp.Body.Close()
	if conn.Subprotocol() != "graphql-transport-ws" {
		conn.Close()
		return nil, fmt.Errorf("server chose subprotocol %q", conn.Subprotocol())
	}
	c := &wsClient{conn: conn}
	if err := c.write(wsMessage{Type: "connection_init", Payload: json.RawMessage(`{}`)}); err != nil {
		conn.Close()
		return nil, err
	}
	m, err := c.next(time.Now().Add(10 * time.Second))
	if err != nil || m.Type != "connection_ack" {
		conn.Close()
		return nil, fmt.Errorf("after connection_init: %+v, %v", m, err)
	}
	return c, nil
}

func (c *wsClient) close() error { return c.conn.Close() }

func (c *wsClient) write(m wsMessage) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, data)
}

// subscribe starts runEvents(runID, afterSeq) under the subscription id id.
func (c *wsClient) subscribe(id, runID string, afterSeq int64) error {
	payload, err := json.Marshal(map[string]any{
		"query":     runEventsQuery,
		"variables": map[string]any{"id": runID, "after": afterSeq},
	})
	if err != nil {
		return err
	}
	return c.write(wsMessage{ID: id, Type: "subscribe", Payload: payload})
}

// next returns the next message other than a ping (which it answers) or a
// pong, waiting until deadline at most.
func (c *wsClient) next(deadline time.Time) (wsMessage, error) {
	for {
		c.conn.SetReadDeadline(deadline)
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return wsMessage{}, err
		}
		var m wsMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return wsMessage{}, fmt.Errorf("message %q: %w", data, err)
		}
		switch m.Type {
		case "ping":
			if err := c.write(wsMessage{Type: "pong"}); err != nil {
				return wsMessage{}, err
			}
			continue
		case "pong":
			continue
		}
		return m, nil
	}
}

// eventMessage is a graphql-transport-ws message that carries a runEvents
// result, decoded in one pass.
type eventMessage struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Payload struct {
		Data struct {
			RunEvents event `json:"runEvents"`
		} `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	} `json:"payload"`
}

// nextEvent returns the next message of a subscription: its type
// ("next", "complete") and, for next, the event. It answers pings, skips
// pongs, and turns an error message into an error.
func (c *wsClient) nextEvent(deadline time.Time) (id, typ string, e event, err error) {
	for {
		c.conn.SetReadDeadline(deadline)
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return "", "", event{}, err
		}
		var m eventMessage
		if err := json.Unmarshal(data, &m); err != nil {
			// An error message's payload is a list: not an event.
			return "", "", event{}, fmt.Errorf("message %s: %w", data, err)
		}
		switch m.Type {
		case "ping":
			if err := c.write(wsMessage{Type: "pong"}); err != nil {
				return "", "", event{}, err
			}
			continue
		case "pong":
			continue
		case "next":
			if len(m.Payload.Errors) > 0 {
				return m.ID, m.Type, event{}, fmt.Errorf("event with errors: %s", data)
			}
			return m.ID, m.Type, m.Payload.Data.RunEvents, nil
		case "complete":
			return m.ID, m.Type, event{}, nil
		}
		return m.ID, m.Type, event{}, fmt.Errorf("unexpected message %s", data)
	}
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
