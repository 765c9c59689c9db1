// Package gqlws is a small client of GraphQL subscriptions over WebSocket,
// in both subprotocols gqlgen serves, for coderunner's own tests,
// end-to-end tests and benchmarks. Frontend code uses the graphql-ws
// package from npm instead (see examples/).
package gqlws

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The two subprotocols.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws" // subscriptions-transport-ws, Apollo's older one
)

// RunEventsQuery is the editor's subscription, as the API documents it.
const RunEventsQuery = `subscription($id: ID!, $after: Int!) {
	runEvents(runId: $id, afterSeq: $after) { runId seq type text run { status exitCode stdout } } }`

// Event is a RunEvent as RunEventsQuery selects it.
type Event struct {
	RunID string  `json:"runId"`
	Seq   int64   `json:"seq"`
	Type  string  `json:"type"`
	Text  *string `json:"text"`
	Run   *Run    `json:"run"`
}

// Run is the finished run a FINISHED event carries.
type Run struct {
	Status   string `json:"status"`
	ExitCode int    `json:"exitCode"`
	Stdout   string `json:"stdout"`
}

func (e Event) String() string {
	switch {
	case e.Text != nil:
		return fmt.Sprintf("#%d %s %q", e.Seq, e.Type, *e.Text)
	case e.Run != nil:
		return fmt.Sprintf("#%d %s %s", e.Seq, e.Type, e.Run.Status)
	}
	return fmt.Sprintf("#%d %s", e.Seq, e.Type)
}

// Message is one protocol message.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// IsData reports whether m carries a result: "next", or "data" in the
// legacy protocol.
func (m Message) IsData() bool { return m.Type == "next" || m.Type == "data" }

// Event decodes the runEvents result that a data message carries; a
// result with errors is an error.
func (m Message) Event() (Event, error) {
	var e Event
	err := m.Result("runEvents", &e)
	return e, err
}

// Result decodes the value of the root field field (runEvents,
// submissionEvents, …) of the result that a data message carries into
// out; a result with errors is an error.
func (m Message) Result(field string, out any) error {
	var p struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []json.RawMessage          `json:"errors"`
	}
	if !m.IsData() {
		return fmt.Errorf("a %q message carries no event: %s", m.Type, m.Payload)
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) > 0 {
		return fmt.Errorf("event payload %s: %v", m.Payload, err)
	}
	value, ok := p.Data[field]
	if !ok {
		return fmt.Errorf("event payload %s has no %s", m.Payload, field)
	}
	if err := json.Unmarshal(value, out); err != nil {
		return fmt.Errorf("event payload %s: %w", m.Payload, err)
	}
	return nil
}

// Conn is one WebSocket connection, initialised.
type Conn struct {
	// WS is the connection itself, for what a test does to it directly
	// (closing it abruptly, read deadlines).
	WS       *websocket.Conn
	Protocol string
	wmu      sync.Mutex // gorilla allows one writer at a time
}

// dialer keeps buffers small: benchmarks open thousands of connections.
var dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}

// Dial connects to the GraphQL endpoint at url (http:// or ws://) with
// protocol and waits for the server's connection_ack.
func Dial(ctx context.Context, url, protocol string) (*Conn, error) {
	return DialWith(ctx, url, Options{Protocol: protocol})
}

// DialAs is Dial with a session token, sent as the connection_init
// payload's authorization ("" for a guest). A refused token is an error
// carrying the server's message.
func DialAs(ctx context.Context, url, protocol, token string) (*Conn, error) {
	return DialWith(ctx, url, Options{Protocol: protocol, Token: token})
}

// Options say how DialWith connects.
type Options struct {
	Protocol string // TransportWS or LegacyWS
	Token    string // the session token connection_init carries; "" for a guest
	// From is the local address to connect from, such as 127.0.0.2 (any
	// of 127.0.0.0/8 reaches a loopback server): the server tells clients
	// apart by address, for guests' budgets and the cap on streams per
	// address. "" lets the system choose.
	From string
	// NoInit opens the WebSocket and sends nothing, as a client that never
	// sends connection_init.
	NoInit bool
}

// DialWith connects to the GraphQL endpoint at url (http:// or ws://) as o
// says and, unless o.NoInit, sends connection_init and waits for the
// server's connection_ack. The error of a refused upgrade carries the
// HTTP status (a *DialError).
func DialWith(ctx context.Context, url string, o Options) (*Conn, error) {
	init := map[string]string{}
	if o.Token != "" {
		init["authorization"] = "Bearer " + o.Token
	}
	payload, err := json.Marshal(init)
	if err != nil {
		return nil, err
	}
	d := dialer
	d.Subprotocols = []string{o.Protocol}
	if o.From != "" {
		ip := net.ParseIP(o.From)
		if ip == nil {
			return nil, fmt.Errorf("local address %q is not an IP address", o.From)
		}
		d.NetDialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext
	}
	ws, resp, err := d.DialContext(ctx, "ws"+strings.TrimPrefix(url, "http"), nil)
	if err != nil {
		if resp != nil {
			return nil, &DialError{Status: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("dial %s: %w", o.Protocol, err)
	}
	resp.Body.Close()
	c := &Conn{WS: ws, Protocol: o.Protocol}
	if ws.Subprotocol() != o.Protocol {
		ws.Close()
		return nil, fmt.Errorf("server chose subprotocol %q, want %q", ws.Subprotocol(), o.Protocol)
	}
	if o.NoInit {
		return c, nil
	}
	if err := c.Send(Message{Type: "connection_init", Payload: payload}); err != nil {
		ws.Close()
		return nil, err
	}
	if m, err := c.Next(time.Now().Add(10 * time.Second)); err != nil || m.Type != "connection_ack" {
		ws.Close()
		return nil, fmt.Errorf("after connection_init: %s %s, %v", m.Type, m.Payload, err)
	}
	return c, nil
}

// DialError is an upgrade the server refused with an HTTP status, such as
// 429 past the cap on streams per address.
type DialError struct {
	Status int
	Err    error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("websocket upgrade: HTTP %d: %v", e.Status, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Close closes the connection abruptly, as a browser tab that goes away.
func (c *Conn) Close() error { return c.WS.Close() }

// Send writes one message.
func (c *Conn) Send(m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.WS.WriteMessage(websocket.TextMessage, data)
}

// Subscribe starts an operation under id.
func (c *Conn) Subscribe(id, query string, vars map[string]any) error {
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	typ := "subscribe"
	if c.Protocol == LegacyWS {
		typ = "start"
	}
	return c.Send(Message{ID: id, Type: typ, Payload: payload})
}

// SubscribeRunEvents starts RunEventsQuery for runID after afterSeq.
func (c *Conn) SubscribeRunEvents(id, runID string, afterSeq int64) error {
	return c.Subscribe(id, RunEventsQuery, map[string]any{"id": runID, "after": afterSeq})
}

// Next returns the next message, waiting until deadline at most. It answers
// pings and skips pongs and keep-alives.
func (c *Conn) Next(deadline time.Time) (Message, error) {
	for {
		c.WS.SetReadDeadline(deadline)
		_, data, err := c.WS.ReadMessage()
		if err != nil {
			return Message{}, err
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			return Message{}, fmt.Errorf("message %q: %w", data, err)
		}
		switch m.Type {
		case "ka", "pong":
			continue
		case "ping":
			if err := c.Send(Message{Type: "pong"}); err != nil {
				return Message{}, err
			}
			continue
		}
		return m, nil
	}
}
