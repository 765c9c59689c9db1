package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"coderunner"
	"coderunner/internal/gqlws"
	"coderunner/server"
)

var protocols = []string{gqlws.TransportWS, gqlws.LegacyWS}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isTimeout reports whether err is a read that timed out, as opposed to a
// connection that ended.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestHTTPTimeouts: plain requests are bounded by the HTTP server's
// timeouts, and streams are not cut by them.
func TestHTTPTimeouts(t *testing.T) {
	timeouts := server.Timeouts{ReadHeader: time.Second, Read: time.Second, Write: time.Second, Idle: time.Second}
	ts := newServer(t, options{timeouts: &timeouts})

	t.Run("a body sent too slowly", func(t *testing.T) {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(conn); isTimeout(err) {
			t.Fatal("the connection is still open 5 s into a body that never ends")
		}
	})
	t.Run("an idle kept-alive connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := r.ReadByte(); isTimeout(err) {
			t.Fatal("an idle connection is still open after 5 s")
		}
	})
	t.Run("streams outlive them", func(t *testing.T) {
		id := ts.startRun(t, `{language: "python", code: "print('hi')"}`)
		var conns []*wsClient
		for _, protocol := range protocols {
			c := dialWS(t, ts, protocol)
			c.subscribe("1", runEventsQuery, map[string]any{"id": id, "after": 0})
			c.read() // QUEUED
			conns = append(conns, c)
		}
		sse := openSSE(t, ts, id)
		time.Sleep(2500 * time.Millisecond) // past Read, Write and Idle
		ts.work(t, "hi\n")
		for _, c := range conns {
			checkEvents(t, c.events(), id, "STARTED", "STDOUT", "FINISHED")
		}
		checkEvents(t, sse.events(t), id, "QUEUED", "STARTED", "STDOUT", "FINISHED")
	})
}

// sseStream is a runEvents subscription over SSE.
type sseStream struct {
	resp    *http.Response
	scanner *bufio.Scanner
}

func openSSE(t *testing.T, ts *testServer, runID string) *sseStream {
	t.Helper()
	body := mustJSON(map[string]any{"query": runEventsQuery, "variables": map[string]any{"id": runID, "after": 0}})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, scanner: bufio.NewScanner(resp.Body)}
}

// first returns the first event's data.
func (s *sseStream) first() string {
	for s.scanner.Scan() {
		if data, ok := strings.CutPrefix(s.scanner.Text(), "data: "); ok && data != "" {
			return data
		}
	}
	return fmt.Sprintf("end of stream: %v", s.scanner.Err())
}

// rest returns every line until the end of the stream but keep-alives
// and blank lines, and the error that ended it (nil: the end of the body).
func (s *sseStream) rest() ([]string, error) {
	var saw []string
	for s.scanner.Scan() {
		if line := s.scanner.Text(); line != "" && !strings.HasPrefix(line, ":") {
			saw = append(saw, line)
		}
	}
	return saw, s.scanner.Err()
}

// events reads events until the stream completes.
func (s *sseStream) events(t *testing.T) []event {
	t.Helper()
	var got []event
	for s.scanner.Scan() {
		line := s.scanner.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "" {
			var p struct{ Data struct{ RunEvents event } }
			if err := json.Unmarshal([]byte(data), &p); err != nil {
				t.Fatalf("SSE data %q: %v", data, err)
			}
			got = append(got, p.Data.RunEvents)
		}
		if line == "event: complete" {
			break
		}
	}
	return got
}

// TestSlowReaderIsDropped follows a run, then stops reading while the run
// prints megabytes: the server must give up on the client instead of
// holding its subscription (and the goroutines behind it) open for ever.
func TestSlowReaderIsDropped(t *testing.T) {
	for _, transport := range append(protocols, "sse") {
		t.Run(transport, func(t *testing.T) {
			ts := newServer(t, options{connections: server.ConnectionLimits{WriteTimeout: 500 * time.Millisecond, KeepAlive: time.Minute}})
			id := ts.startRun(t, `{language: "python", code: "print('x' * 10**7)"}`)
			if transport == "sse" {
				sse := openSSE(t, ts, id)
				if !sse.scanner.Scan() { // the stream's opening comment
					t.Fatal("no SSE stream")
				}
			} else {
				c := dialWS(t, ts, transport)
				c.subscribe("1", runEventsQuery, map[string]any{"id": id, "after": 0})
				c.read() // QUEUED; and never read again
			}
			waitFor(t, 5*time.Second, "no subscription started", func() bool { return ts.subscriptions.Load() == 1 })

			claim, err := ts.broker.Claim(t.Context(), "test-worker")
			if err != nil {
				t.Fatal(err)
			}
			defer claim.Ack(t.Context())
			chunk := strings.Repeat("x", 64<<10)
			for range 400 { // 25 MiB, more than any socket buffers
				if _, err := ts.broker.Publish(t.Context(), coderunner.RunEvent{RunID: id, Type: coderunner.EventStdout, Text: chunk}); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, 20*time.Second, "the subscription of a client that stopped reading is still running", func() bool {
				return ts.subscriptions.Load() == 0
			})
			// The drop is counted once the timed-out write returns, which
			// may be after the closed connection has ended the subscription.
			waitFor(t, 5*time.Second, "no drop counted", func() bool { return ts.dropped.get(server.DroppedWriteTimeout) > 0 })
			if n := ts.dropped.get(server.DroppedWriteTimeout); n != 1 {
				t.Errorf("%d drops for %s counted, want 1", n, server.DroppedWriteTimeout)
			}
		})
	}
}

// TestInitTimeout: a WebSocket that never sends connection_init is closed
// with 4408, as graphql-transport-ws prescribes.
func TestInitTimeout(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			ts := newServer(t, options{connections: server.ConnectionLimits{InitTimeout: 300 * time.Millisecond}})
			ws := dialRaw(t, ts, protocol, nil)
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err := ws.ReadMessage()
			if !websocket.IsCloseError(err, 4408) {
				t.Fatalf("read: %v, want a close with 4408 after 300 ms", err)
			}
			if n := ts.dropped.get(server.DroppedInitTimeout); n != 1 {
				t.Errorf("%d drops for %s counted, want 1", n, server.DroppedInitTimeout)
			}
		})
	}
}

// dialRaw opens a WebSocket with header and sends nothing.
func dialRaw(t *testing.T, ts *testServer, protocol string, header http.Header) *websocket.Conn {
	t.Helper()
	ws, err := dialRawErr(t, ts, protocol, header)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func dialRawErr(t *testing.T, ts *testServer, protocol string, header http.Header) (*websocket.Conn, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.DialContext(t.Context(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/graphql", header)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, &refusal{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
		}
		return nil, err
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	return ws, nil
}

// refusal is a WebSocket handshake the server answered with an HTTP error.
type refusal struct {
	status     int
	retryAfter string
	body       string
}

func (r *refusal) Error() string { return http.StatusText(r.status) + ": " + r.body }

// TestKeepAliveDropsSilentClients: on both subprotocols a client that
// stops answering pings is dropped, and one that answers is kept.
func TestKeepAliveDropsSilentClients(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			ts := newServer(t, options{connections: server.ConnectionLimits{KeepAlive: time.Second}})
			id := ts.startRun(t, `{language: "python", code: "print('hi')"}`)
			silent := dialWS(t, ts, protocol)
			silent.subscribe("1", runEventsQuery, map[string]any{"id": id, "after": 0})

			alive := dialWS(t, ts, protocol)
			alive.subscribe("1", runEventsQuery, map[string]any{"id": id, "after": 0})
			got := make(chan []event, 1)
			go func() {
				var events []event
				for { // Next answers pings
					m, err := alive.Next(time.Now().Add(10 * time.Second))
					if err != nil || m.Type == "complete" {
						got <- events
						return
					}
					if e, err := m.Event(); err == nil {
						events = append(events, e)
					}
				}
			}()

			waitFor(t, 5*time.Second, "a client that never reads is still connected", func() bool {
				return ts.dropped.get(server.DroppedPingTimeout) == 1
			})
			time.Sleep(time.Second) // several pings more
			ts.work(t, "hi\n")
			checkEvents(t, <-got, id, "QUEUED", "STARTED", "STDOUT", "FINISHED")
			if n := ts.dropped.get(server.DroppedPingTimeout); n != 1 {
				t.Errorf("%d clients dropped, want only the silent one", n)
			}
		})
	}
}

// TestStreamsPerAddress: an address holds at most MaxStreamsPerAddr
// WebSockets and SSE streams; behind a trusted proxy, the address is the
// client's.
func TestStreamsPerAddress(t *testing.T) {
	ts := newServer(t, options{
		connections: server.ConnectionLimits{MaxStreamsPerAddr: 2},
		trusted:     []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	first := dialRaw(t, ts, gqlws.TransportWS, from("198.51.100.1"))
	dialRaw(t, ts, gqlws.LegacyWS, from("198.51.100.1"))

	_, err := dialRawErr(t, ts, gqlws.TransportWS, from("198.51.100.1"))
	var r *refusal
	if !errors.As(err, &r) || r.status != http.StatusTooManyRequests || r.retryAfter == "" {
		t.Fatalf("third WebSocket: %v, want 429 with Retry-After", err)
	}
	checkRateLimited(t, r.body)

	body := mustJSON(map[string]any{"query": runEventsQuery, "variables": map[string]any{"id": "any", "after": 0}})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sseBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third stream over SSE: status %d, want 429", resp.StatusCode)
	}
	checkRateLimited(t, string(sseBody))

	dialRaw(t, ts, gqlws.TransportWS, from("198.51.100.2")) // another client
	if n := ts.refused.get(server.RefusedStreamsPerAddr); n != 2 {
		t.Errorf("%d refusals counted, want 2", n)
	}

	first.Close()
	waitFor(t, 5*time.Second, "a closed WebSocket still counts against its address", func() bool {
		ws, err := dialRawErr(t, ts, gqlws.TransportWS, from("198.51.100.1"))
		if err == nil {
			ws.Close()
		}
		return err == nil
	})
}

// checkRateLimited checks that body is a GraphQL response with one
// RATE_LIMITED error carrying retryAfterMs.
func checkRateLimited(t *testing.T, body string) {
	t.Helper()
	var out gqlResponse
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Errors) != 1 ||
		out.codes()[0] != string(coderunner.RateLimited) || out.Errors[0].Extensions["retryAfterMs"] == nil {
		t.Errorf("body %s (%v), want one RATE_LIMITED error with retryAfterMs", body, err)
	}
}

// TestSubscriptionCaps: a connection runs at most MaxSubscriptionsPerConn
// subscriptions, and a caller at most MaxSubscriptionsPerCaller; past
// them a subscription is refused RATE_LIMITED, and a slot frees when a
// subscription completes.
func TestSubscriptionCaps(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			ts := newServer(t, options{connections: server.ConnectionLimits{MaxSubscriptionsPerConn: 2, MaxSubscriptionsPerCaller: 3}})
			id := ts.startRun(t, `{language: "python", code: "input()"}`)
			vars := map[string]any{"id": id, "after": 0}
			admitted := func(c *wsClient, opID string) {
				t.Helper()
				c.subscribe(opID, runEventsQuery, vars)
				// A refusal is a data message too: only an event is an
				// admission.
				m := c.read()
				if e, err := m.Event(); err != nil || m.ID != opID || e.Type != "QUEUED" {
					t.Fatalf("subscription %s: %s %s %s, want its QUEUED event", opID, m.ID, m.Type, m.Payload)
				}
			}
			refused := func(c *wsClient, opID string) {
				t.Helper()
				c.subscribe(opID, runEventsQuery, vars)
				m := c.read()
				if m.ID != opID {
					t.Fatalf("subscription %s: %+v", opID, m)
				}
				checkRateLimited(t, string(m.Payload))
				if m := c.read(); m.Type != "complete" || m.ID != opID {
					t.Errorf("after the refusal: %+v, want complete", m)
				}
			}
			a := dialWS(t, ts, protocol)
			admitted(a, "a1")
			admitted(a, "a2")
			refused(a, "a3")
			stop := map[string]string{gqlws.TransportWS: "complete", gqlws.LegacyWS: "stop"}[protocol]
			if err := a.Send(gqlws.Message{ID: "a1", Type: stop}); err != nil {
				t.Fatal(err)
			}
			if m := a.read(); m.Type != "complete" || m.ID != "a1" {
				t.Fatalf("after stopping a1: %+v, want complete", m)
			}
			admitted(a, "a4")

			b := dialWS(t, ts, protocol)
			admitted(b, "b1")
			refused(b, "b2") // the caller's fourth
			if n, m := ts.refused.get(server.RefusedSubscriptionsPerConn), ts.refused.get(server.RefusedSubscriptionsPerCaller); n != 1 || m != 1 {
				t.Errorf("refusals counted: %d per connection, %d per caller; want 1 and 1", n, m)
			}
		})
	}
}

// TestDuplicateSubscriptionID: an id already running on the connection
// closes it with 4409; an id whose operation completed may be used again.
func TestDuplicateSubscriptionID(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			ts := newServer(t, options{})
			finished := ts.startRun(t, `{language: "python", code: "print('hi')"}`)
			ts.work(t, "hi\n")
			c := dialWS(t, ts, protocol)
			for range 2 {
				c.subscribe("x", runEventsQuery, map[string]any{"id": finished, "after": 0})
				checkEvents(t, c.events(), finished, "QUEUED", "STARTED", "STDOUT", "FINISHED")
			}

			running := ts.startRun(t, `{language: "python", code: "input()"}`)
			c.subscribe("1", runEventsQuery, map[string]any{"id": running, "after": 0})
			c.read() // QUEUED
			c.subscribe("1", runEventsQuery, map[string]any{"id": running, "after": 0})
			for {
				_, err := c.Next(time.Now().Add(5 * time.Second))
				if err == nil {
					continue
				}
				if !websocket.IsCloseError(err, 4409) {
					t.Fatalf("after a duplicate id: %v, want a close with 4409", err)
				}
				break
			}
			if n := ts.refused.get(server.RefusedDuplicateID); n != 1 {
				t.Errorf("%d duplicate ids counted, want 1", n)
			}
			waitFor(t, 5*time.Second, "the connection's subscriptions still run", func() bool { return ts.subscriptions.Load() == 0 })
		})
	}
}

// TestOperationsPerConnection: a WebSocket may not hold more operations of
// any kind in flight than its cap (each is a goroutine and a response held
// until the client reads it): past it the connection is closed with 4429.
func TestOperationsPerConnection(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			ts := newServer(t, options{connections: server.ConnectionLimits{MaxOperationsPerConn: 3}})
			id := ts.startRun(t, `{language: "python", code: "input()"}`)
			c := dialWS(t, ts, protocol)
			for _, opID := range []string{"1", "2", "3"} {
				c.subscribe(opID, runEventsQuery, map[string]any{"id": id, "after": 0})
				if m := c.read(); !m.IsData() || m.ID != opID {
					t.Fatalf("operation %s: %+v, want its QUEUED event", opID, m)
				}
			}
			c.subscribe("4", `{ ageGroups { slug } }`, nil)
			for {
				_, err := c.Next(time.Now().Add(5 * time.Second))
				if err == nil {
					continue
				}
				if !websocket.IsCloseError(err, 4429) {
					t.Fatalf("a 4th operation in flight: %v, want a close with 4429", err)
				}
				break
			}
			if n := ts.refused.get(server.RefusedOperationsPerConn); n != 1 {
				t.Errorf("%d refusals counted, want 1", n)
			}
		})
	}
}

// TestHealthHidesAndQuietsFailures: a failing dependency answers
// "unavailable", never its error (which names internal addresses), and is
// logged when it fails and when it recovers, not on every probe.
func TestHealthHidesAndQuietsFailures(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	checks := map[string]server.Check{"redis": func(context.Context) error {
		if failing.Load() {
			return errors.New("dial tcp 10.0.0.5:6379: connect: connection refused")
		}
		return nil
	}}
	var logs bytes.Buffer
	var mu sync.Mutex
	mux := http.NewServeMux()
	server.HealthRoutes(mux, checks, nil, slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil)))
	hs := httptest.NewServer(mux)
	defer hs.Close()
	probe := func(path string) (int, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for range 5 {
		for _, path := range []string{"/readyz", "/health/redis"} {
			status, body := probe(path)
			if status != http.StatusServiceUnavailable || strings.Contains(body, "10.0.0.5") || !strings.Contains(body, `"redis":"unavailable"`) {
				t.Fatalf("%s: %d %s, want 503 with redis unavailable and no detail", path, status, body)
			}
		}
	}
	failing.Store(false)
	for range 3 {
		if status, body := probe("/readyz"); status != http.StatusOK {
			t.Fatalf("/readyz after recovery: %d %s", status, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "10.0.0.5") {
		t.Errorf("logged %d lines, want 2 (the failure, with its detail, and the recovery):\n%s", len(lines), logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
