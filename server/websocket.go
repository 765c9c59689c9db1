package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// websockets accepts WebSockets for gqlgen's transport with coder/websocket,
// as gqlgen's own CoderWebsocketImplementation does, and adds what that
// one leaves out:
//   - every write has a deadline (gqlgen writes with no context, and holds
//     its connection's lock meanwhile): a client that stops reading is
//     disconnected instead of pinning the connection's goroutines for ever;
//   - a first message (connection_init) is due within InitTimeout, else the
//     connection is closed with 4408, as graphql-transport-ws prescribes;
//   - under graphql-ws, whose keep-alive goes from server to client only, a
//     WebSocket ping every KeepAlive must be answered within KeepAlive
//     (graphql-transport-ws has its own, gqlgen's PingPongInterval);
//   - an operation id already running on the connection is refused with
//     4409, as graphql-transport-ws prescribes. gqlgen would start the
//     second operation under the same id and forget the first one's
//     cancel func, so that no client message could stop it;
//   - once the server shuts down, nothing is sent but the close (see
//     WriteJSON).
type websockets struct {
	options websocket.AcceptOptions
	streams *streams
	// shutdown ends when the server starts shutting down.
	shutdown context.Context
}

var _ transport.WebsocketImplementation = websockets{}

func (ws websockets) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for k, values := range opts.ResponseHeader {
		for _, v := range values {
			w.Header().Add(k, v)
		}
	}
	options := ws.options
	options.Subprotocols = slices.Concat(options.Subprotocols, opts.Subprotocols)
	conn, err := websocket.Accept(w, r, &options)
	if err != nil {
		return nil, err
	}
	c := &wsConn{conn: conn, limits: ws.streams.limits, dropped: ws.streams.dropped, refused: ws.streams.refused, shutdown: ws.shutdown, active: map[string]bool{}}
	c.mu.Lock()
	c.initTimer = time.AfterFunc(c.limits.InitTimeout, func() {
		c.countDrop(DroppedInitTimeout)
		c.WriteClose(4408, "Connection initialisation timeout")
	})
	c.mu.Unlock()
	if conn.Subprotocol() != graphqlTransportWS {
		// The request's context ends when gqlgen is done with the
		// connection, hijacked or not.
		go c.keepAlive(r.Context())
	}
	return c, nil
}

const graphqlTransportWS = "graphql-transport-ws"

// errDuplicateID ends the reading of a connection that reused a running
// operation's id.
var errDuplicateID = errors.New("operation id already in use")

// errTooManyOperations ends the reading of a connection that sent more
// operations than MaxOperationsPerConn at once.
var errTooManyOperations = errors.New("too many operations in flight")

// wsConn is one WebSocket, as gqlgen's transport uses it.
type wsConn struct {
	conn    *websocket.Conn
	limits  ConnectionLimits
	dropped func(reason string)
	refused func(limit string)
	// shutdown ends when the server starts shutting down.
	shutdown context.Context

	dropOnce atomic.Bool

	mu           sync.Mutex
	initTimer    *time.Timer
	active       map[string]bool // ids of the operations running
	readDeadline *time.Timer
	closing      bool // WriteClose started the close handshake
}

var (
	_ transport.WebsocketConn          = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter   = (*wsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*wsConn)(nil)
)

// drop closes the connection at once, and counts why.
func (c *wsConn) drop(reason string) {
	c.countDrop(reason)
	c.conn.CloseNow()
}

// countDrop counts the first reason the server closes the connection for.
func (c *wsConn) countDrop(reason string) {
	if c.dropOnce.CompareAndSwap(false, true) {
		c.dropped(reason)
	}
}

func (c *wsConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	var m struct{ ID, Type string }
	c.mu.Lock()
	c.initTimer.Stop()
	c.mu.Unlock()
	if json.Unmarshal(data, &m) == nil && (m.Type == "subscribe" || m.Type == "start") {
		c.mu.Lock()
		running, inFlight := c.active[m.ID], len(c.active)
		if !running && (c.limits.MaxOperationsPerConn <= 0 || inFlight < c.limits.MaxOperationsPerConn) {
			c.active[m.ID] = true
		}
		c.mu.Unlock()
		switch {
		case running:
			c.refused(RefusedDuplicateID)
			// A close reason holds 123 bytes at most.
			c.WriteClose(4409, "Subscriber for "+truncate(m.ID, 64)+" already exists")
			return int(typ), nil, errDuplicateID
		case c.limits.MaxOperationsPerConn > 0 && inFlight >= c.limits.MaxOperationsPerConn:
			c.refused(RefusedOperationsPerConn)
			c.WriteClose(4429, fmt.Sprintf("too many operations in flight on this connection (at most %d)", c.limits.MaxOperationsPerConn))
			return int(typ), nil, errTooManyOperations
		}
	}
	return int(typ), bytes.NewReader(data), nil
}

// errShuttingDown is what a message written after the server began
// shutting down fails with.
var errShuttingDown = errors.New("server shutting down: message not sent")

// WriteJSON sends one message, none once the server is shutting down.
// Shutting down cancels every operation, and gqlgen then tells the client
// of each — "complete", or the error of one that was starting — as if its
// run were over; the client must instead see its connection close, and
// subscribe again on another replica with afterSeq (an event dropped here
// comes again there).
func (c *wsConn) WriteJSON(v any) error {
	if c.shutdown.Err() != nil {
		return errShuttingDown
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if id, typ := idAndType(v); typ == "complete" || typ == "error" {
		// The operation is over and its id may be used again, as soon
		// as the client can know it.
		c.mu.Lock()
		delete(c.active, id)
		c.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.limits.WriteTimeout)
	defer cancel()
	// On a timeout coder/websocket closes the connection: gqlgen's read
	// loop then ends, and with it the connection's subscriptions.
	err = c.conn.Write(ctx, websocket.MessageText, data)
	if err != nil && ctx.Err() != nil {
		c.drop(DroppedWriteTimeout)
	}
	return err
}

// idAndType reads the ID and Type fields of a message gqlgen writes (its
// types are unexported), without encoding it again.
func idAndType(v any) (id, typ string) {
	m := reflect.Indirect(reflect.ValueOf(v))
	if m.Kind() != reflect.Struct {
		return "", ""
	}
	if f := m.FieldByName("ID"); f.Kind() == reflect.String {
		id = f.String()
	}
	if f := m.FieldByName("Type"); f.Kind() == reflect.String {
		typ = f.String()
	}
	return id, typ
}

// WriteClose starts the close handshake in the background, as gqlgen's
// adapter does: coder/websocket waits up to 5 s for the peer's answer.
func (c *wsConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.initTimer.Stop()
	c.stopReadDeadlineLocked()
	if c.closing {
		return nil
	}
	c.closing = true
	go c.conn.Close(websocket.StatusCode(code), reason)
	return nil
}

func (c *wsConn) Close() error {
	c.mu.Lock()
	c.initTimer.Stop()
	c.stopReadDeadlineLocked()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return nil // the handshake closes the connection when it ends
	}
	return c.conn.CloseNow()
}

func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

func (c *wsConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

// SetReadDeadline is how gqlgen's graphql-transport-ws keep-alive waits
// for a pong.
func (c *wsConn) SetReadDeadline(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopReadDeadlineLocked()
	if !deadline.IsZero() {
		c.readDeadline = time.AfterFunc(time.Until(deadline), func() { c.drop(DroppedPingTimeout) })
	}
	return nil
}

func (c *wsConn) stopReadDeadlineLocked() {
	if c.readDeadline != nil {
		c.readDeadline.Stop()
		c.readDeadline = nil
	}
}

// keepAlive pings the peer every KeepAlive until ctx ends, and drops it
// if a pong takes longer than KeepAlive. A browser answers pings by
// itself; coder/websocket reads pongs in gqlgen's read loop.
func (c *wsConn) keepAlive(ctx context.Context) {
	t := time.NewTicker(c.limits.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, c.limits.KeepAlive)
		err := c.conn.Ping(pingCtx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				c.drop(DroppedPingTimeout)
			}
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
