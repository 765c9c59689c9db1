package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"coderunner/internal/gqlws"
)

// A small GraphQL client: queries and mutations over POST, subscriptions
// over WebSocket (graphql-transport-ws, or the legacy graphql-ws).

// run is a Run as the tests read it.
type run struct {
	ID       string
	Status   string
	ExitCode int
	Stdout   string
	Stderr   string
}

// event is a RunEvent as a subscriber receives it.
type event = gqlws.Event

// graphql posts one operation to api as a guest and decodes its data into
// out; any GraphQL error fails the test.
func graphql(t *testing.T, api *proc, query string, vars map[string]any, out any) {
	t.Helper()
	graphqlAs(t, api, "", query, vars, out)
}

// graphqlAs is graphql with a session token ("" for a guest).
func graphqlAs(t *testing.T, api *proc, token, query string, vars map[string]any, out any) {
	t.Helper()
	status, data, errs, err := post(api, token, query, vars)
	if err != nil || len(errs) > 0 || status != http.StatusOK {
		t.Fatalf("%s: %s\n-> %d %v %+v", api.name, strings.Join(strings.Fields(query), " "), status, err, errs)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: decode %s: %v", api.name, data, err)
	}
}

// gqlError is a GraphQL error as the tests read it.
type gqlError struct {
	Message    string
	Extensions map[string]any
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// post posts one operation to api and returns what came back; safe to
// call from any goroutine.
func post(api *proc, token, query string, vars map[string]any) (status int, data json.RawMessage, errs []gqlError, err error) {
	return postWith(defaultHTTP, api, token, query, vars)
}

// defaultHTTP is the HTTP client of tests that do not mind where they
// connect from.
var defaultHTTP = &http.Client{Timeout: 15 * time.Second}

// httpFrom returns an HTTP client whose connections come from the local
// address ip (see gqlws.Options.From): a client of its own, as the api
// tells clients apart.
func httpFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// postWith is post through client.
func postWith(client *http.Client, api *proc, token, query string, vars map[string]any) (status int, data json.RawMessage, errs []gqlError, err error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, api.url("/graphql"), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: POST /graphql: %w", api.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, nil, fmt.Errorf("%s: POST /graphql: %w", api.name, err)
	}
	var r struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return resp.StatusCode, nil, nil, fmt.Errorf("%s: body %q: %w", api.name, raw, err)
	}
	return resp.StatusCode, r.Data, r.Errors, nil
}

// startRun queues code through api, interactive (stdin stays open for
// sendInput), with a CPU-time limit of 5 s (so a wall-time limit of 11 s:
// room for a slow start on a busy machine).
func startRun(t *testing.T, api *proc, code string) string {
	t.Helper()
	var data struct{ Run run }
	graphql(t, api, `mutation($code: String!) { run(input: {language: "python", code: $code, timeLimitMs: 5000}) { id status } }`,
		map[string]any{"code": code}, &data)
	if data.Run.Status != "QUEUED" || data.Run.ID == "" {
		t.Fatalf("run mutation on %s returned %+v; want an id and QUEUED", api.name, data.Run)
	}
	return data.Run.ID
}

func getRun(t *testing.T, api *proc, id string) run {
	t.Helper()
	var data struct{ Run run }
	graphql(t, api, `query($id: ID!) { run(id: $id) { id status exitCode stdout stderr } }`, map[string]any{"id": id}, &data)
	return data.Run
}

func sendInput(t *testing.T, api *proc, id, text string) {
	t.Helper()
	var data struct{ SendInput bool }
	graphql(t, api, `mutation($id: ID!, $text: String!) { sendInput(runId: $id, text: $text) }`,
		map[string]any{"id": id, "text": text}, &data)
	if !data.SendInput {
		t.Fatalf("sendInput on %s returned false", api.name)
	}
}

const (
	transportWS = gqlws.TransportWS
	legacyWS    = gqlws.LegacyWS
)

// wsOf is one WebSocket connection to an api, with one subscription
// whose events are E.
type wsOf[E any] struct {
	t   *testing.T
	api *proc
	*gqlws.Conn
	decode   func(gqlws.Message) (E, error)
	finished bool // the subscription completed
}

// ws is a connection with a runEvents subscription.
type ws = wsOf[event]

// subscribe connects to api and subscribes to runID's events after afterSeq.
func subscribe(t *testing.T, api *proc, protocol, runID string, afterSeq int64) *ws {
	t.Helper()
	return subscribeTo(t, api, gqlws.Options{Protocol: protocol}, gqlws.RunEventsQuery,
		map[string]any{"id": runID, "after": afterSeq}, gqlws.Message.Event)
}

// subscribeTo connects to api as o says and starts the subscription query
// with vars, whose events decode decodes.
func subscribeTo[E any](t *testing.T, api *proc, o gqlws.Options, query string, vars map[string]any, decode func(gqlws.Message) (E, error)) *wsOf[E] {
	t.Helper()
	conn, err := gqlws.DialWith(t.Context(), api.url("/graphql"), o)
	if err != nil {
		t.Fatalf("%s: %v", api.name, err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Subscribe("1", query, vars); err != nil {
		t.Fatalf("%s: subscribe: %v", api.name, err)
	}
	return &wsOf[E]{t: t, api: api, Conn: conn, decode: decode}
}

// read returns the next message within d.
func (c *wsOf[E]) read(d time.Duration) gqlws.Message {
	c.t.Helper()
	m, err := c.Next(time.Now().Add(d))
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.api.name, err)
	}
	return m
}

// next returns the subscription's next event, or ok false once it has
// completed; it fails the test if nothing comes within d.
func (c *wsOf[E]) next(d time.Duration) (e E, ok bool) {
	c.t.Helper()
	if c.finished {
		return e, false
	}
	m := c.read(d)
	if m.Type == "complete" {
		c.finished = true
		return e, false
	}
	e, err := c.decode(m)
	if err != nil {
		c.t.Fatalf("%s: %v", c.api.name, err)
	}
	return e, true
}

// until reads events until one satisfies stop (included) or the
// subscription completes, each within d.
func (c *wsOf[E]) until(d time.Duration, stop func(E) bool) []E {
	c.t.Helper()
	var out []E
	for {
		e, ok := c.next(d)
		if !ok {
			return out
		}
		out = append(out, e)
		if stop(e) {
			return out
		}
	}
}

// rest reads events until the subscription completes.
func (c *wsOf[E]) rest(d time.Duration) []E {
	c.t.Helper()
	return c.until(d, func(E) bool { return false })
}

// drain reads what the server still sends until it closes the
// connection or completes the subscription (c.finished), and returns the
// events that came; it fails the test if neither happens within d.
func (c *wsOf[E]) drain(d time.Duration) []E {
	c.t.Helper()
	var out []E
	deadline := time.Now().Add(d)
	for {
		m, err := c.Next(deadline)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("%s still sends after %v: %v", c.api.name, d, err)
			}
			return out
		}
		if m.Type == "complete" {
			c.finished = true
			return out
		}
		if e, err := c.decode(m); err == nil {
			out = append(out, e)
		}
	}
}

// drop closes the connection abruptly, as a browser tab that goes away.
func (c *wsOf[E]) drop() { c.Close() }

// stdoutOf joins the text of the STDOUT events.
func stdoutOf(events []event) string {
	var b strings.Builder
	for _, e := range events {
		if e.Type == "STDOUT" && e.Text != nil {
			b.WriteString(*e.Text)
		}
	}
	return b.String()
}

func count(events []event, typ string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// checkStream checks what a subscriber saw of a whole run (see checkSeqs)
// and returns the final run.
func checkStream(t *testing.T, runID string, events []event) gqlws.Run {
	t.Helper()
	checkSeqs(t, runID, events)
	last := events[len(events)-1]
	if last.Run == nil {
		t.Fatalf("FINISHED event %v without the run", last)
	}
	return *last.Run
}

// checkSeqs checks what a subscriber saw of a whole run or submission
// (events with the id, seq and type of each in RunID, Seq and Type): seq
// 1, 2, … N without a gap or a repeat, QUEUED first, FINISHED last and
// only there, for id only.
func checkSeqs(t *testing.T, id string, events []event) {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	for i, e := range events {
		if e.Seq != int64(i+1) || e.RunID != id {
			t.Fatalf("event %d is %v of %s; want seq %d of %s (all: %v)", i, e, e.RunID, i+1, id, events)
		}
	}
	if events[0].Type != "QUEUED" {
		t.Errorf("first event %v; want QUEUED", events[0])
	}
	last := events[len(events)-1]
	if n := count(events, "FINISHED"); n != 1 || last.Type != "FINISHED" {
		t.Fatalf("%d FINISHED events, last event %v; want exactly one FINISHED, last (all: %v)", n, last, events)
	}
}
