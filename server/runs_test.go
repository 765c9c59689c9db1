package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/internal/gqlws"
)

// startRun sends the run mutation and returns the run's id.
func (ts *testServer) startRun(t *testing.T, input string) string {
	t.Helper()
	_, out := ts.post(t, query(`mutation { run(input: `+input+`) { id status } }`, nil))
	var data struct{ Run struct{ ID, Status string } }
	if err := json.Unmarshal(out.Data, &data); err != nil || len(out.Errors) > 0 {
		t.Fatalf("run mutation: %v, errors %+v", err, out.Errors)
	}
	if data.Run.Status != "QUEUED" {
		t.Fatalf("run mutation returned status %q, want QUEUED", data.Run.Status)
	}
	return data.Run.ID
}

// work plays the worker for one run: it claims the job and publishes
// STARTED, the given stdout chunks and FINISHED.
func (ts *testServer) work(t *testing.T, stdout ...string) {
	t.Helper()
	ctx := t.Context()
	claim, err := ts.broker.Claim(ctx, "test-worker")
	if err != nil {
		t.Fatal(err)
	}
	run, err := ts.runs.Store.Run(ctx, claim.Job().RunID)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(typ coderunner.RunEventType, text string) {
		if _, err := ts.broker.Publish(ctx, coderunner.RunEvent{RunID: run.ID, Type: typ, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	publish(coderunner.EventStarted, "")
	for _, s := range stdout {
		publish(coderunner.EventStdout, s)
	}
	run.Status, run.Stdout = coderunner.StatusCompleted, strings.Join(stdout, "")
	if ok, err := ts.runs.Finish(ctx, run); !ok || err != nil {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if err := claim.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

const runEventsQuery = gqlws.RunEventsQuery

type event = gqlws.Event

// wsClient is a gqlws connection that fails the test on errors.
type wsClient struct {
	t testing.TB
	*gqlws.Conn
}

func dialWS(t testing.TB, ts *testServer, protocol string) *wsClient {
	t.Helper()
	conn, err := gqlws.Dial(t.Context(), ts.URL+"/graphql", protocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, Conn: conn}
}

func (c *wsClient) subscribe(id, q string, vars map[string]any) {
	c.t.Helper()
	if err := c.Subscribe(id, q, vars); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next message.
func (c *wsClient) read() gqlws.Message {
	c.t.Helper()
	m, err := c.Next(time.Now().Add(10 * time.Second))
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// events reads the subscription's events until it completes.
func (c *wsClient) events() []event {
	c.t.Helper()
	var out []event
	for {
		m := c.read()
		if m.Type == "complete" {
			return out
		}
		out = append(out, c.decode(m)...)
	}
}

// decode returns the event a next (or legacy data) message carries.
func (c *wsClient) decode(m gqlws.Message) []event {
	c.t.Helper()
	e, err := m.Event()
	if err != nil {
		c.t.Fatal(err)
	}
	return []event{e}
}

func checkEvents(t *testing.T, got []event, runID string, wantTypes ...string) {
	t.Helper()
	if len(got) != len(wantTypes) {
		t.Fatalf("got %d events %+v, want %v", len(got), got, wantTypes)
	}
	for i, e := range got {
		if e.Type != wantTypes[i] || e.RunID != runID || (i > 0 && e.Seq != got[i-1].Seq+1) {
			t.Errorf("event %d = %+v, want type %s, run %s, seq following %d", i, e, wantTypes[i], runID, got[max(i-1, 0)].Seq)
		}
	}
}

// TestRunEventsOverWebSocket follows a run live over both subprotocols:
// the QUEUED event from the buffer, then the worker's events as they come,
// then the subscription completes after FINISHED.
func TestRunEventsOverWebSocket(t *testing.T) {
	for _, protocol := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(protocol, func(t *testing.T) {
			ts := newServer(t, options{})
			id := ts.startRun(t, `{language: "python", code: "print('hi')"}`)
			c := dialWS(t, ts, protocol)
			c.subscribe("1", runEventsQuery, map[string]any{"id": id, "after": 0})
			// Read QUEUED, from the buffer, before the worker starts, so
			// that what follows is delivered live.
			first := c.read()
			ts.work(t, "hi\n")
			got := append(c.decode(first), c.events()...)
			checkEvents(t, got, id, "QUEUED", "STARTED", "STDOUT", "FINISHED")
			if got[0].Seq != 1 || *got[2].Text != "hi\n" || got[3].Run == nil || got[3].Run.Status != "COMPLETED" || got[3].Run.Stdout != "hi\n" {
				t.Errorf("events %+v", got)
			}

			// Resuming after seq 2, on a new connection, gives the rest.
			c2 := dialWS(t, ts, protocol)
			c2.subscribe("2", runEventsQuery, map[string]any{"id": id, "after": 2})
			checkEvents(t, c2.events(), id, "STDOUT", "FINISHED")
		})
	}
}

func TestRunEventsOverSSE(t *testing.T) {
	ts := newServer(t, options{})
	id := ts.startRun(t, `{language: "python", code: "print('hi')"}`)
	ts.work(t, "h", "i\n")
	body := mustJSON(map[string]any{"query": runEventsQuery, "variables": map[string]any{"id": id, "after": 0}})
	req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []event
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
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
	checkEvents(t, got, id, "QUEUED", "STARTED", "STDOUT", "STDOUT", "FINISHED")
}

// TestSubscriptionsDoNotLeak opens and drops 1,000 subscriptions to a run
// that never finishes: afterwards the goroutines they used are gone.
func TestSubscriptionsDoNotLeak(t *testing.T) {
	ts := newServer(t, options{})
	id := ts.startRun(t, `{language: "python", code: "input()"}`)
	warm := dialWS(t, ts, "graphql-transport-ws")
	warm.Close()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := range 1000 {
		protocol := []string{"graphql-transport-ws", "graphql-ws"}[i%2]
		c := dialWS(t, ts, protocol)
		c.subscribe("1", runEventsQuery, map[string]any{"id": id, "after": 0})
		if m := c.read(); !m.IsData() {
			t.Fatalf("first message %+v, want the QUEUED event", m)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := runtime.NumGoroutine()
		if after <= before+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before 1,000 subscribe/disconnect cycles, %d after", before, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseSubscriptionsEndsThem checks the shutdown path: http.Server's
// Shutdown leaves WebSockets open, CloseSubscriptions closes them and the
// SSE streams — and says nothing else. A "complete", or an error for a
// subscription whose context it cancelled, would tell the client its run
// is over; an ended connection tells it to subscribe again, on another
// replica, with afterSeq. Over both WebSocket protocols and SSE, for a
// subscription open when it is called and for those that come after, as
// they do until the listener closes.
func TestCloseSubscriptionsEndsThem(t *testing.T) {
	for _, transport := range append(protocols, "sse") {
		t.Run(transport, func(t *testing.T) {
			ts := newServer(t, options{})
			id := ts.startRun(t, `{language: "python", code: "input()"}`)
			s := openStream(t, ts, transport, id)
			if got := s.first(); !strings.Contains(got, "QUEUED") {
				t.Fatalf("first message %s; want the QUEUED event", got)
			}
			ts.api.CloseSubscriptions()
			if saw, err := s.rest(); len(saw) > 0 || isTimeout(err) {
				t.Errorf("after CloseSubscriptions: %q, then %v; want nothing but the end of the connection", saw, err)
			}
			for range 20 {
				if saw, err := openStream(t, ts, transport, id).rest(); len(saw) > 0 || isTimeout(err) {
					t.Fatalf("subscribed after CloseSubscriptions: %q, then %v; want nothing but the end of the connection", saw, err)
				}
			}
		})
	}
}

// stream is a runEvents subscription, over any transport, as
// TestCloseSubscriptionsEndsThem reads it.
type stream struct {
	first func() string                    // the first message
	rest  func() (saw []string, err error) // every message until the end (keep-alives aside), and how it ended
}

// openStream subscribes to runID's events over transport: a WebSocket
// protocol, or sse.
func openStream(t *testing.T, ts *testServer, transport, runID string) stream {
	t.Helper()
	if transport == "sse" {
		sse := openSSE(t, ts, runID)
		return stream{first: sse.first, rest: sse.rest}
	}
	c, err := gqlws.DialWith(t.Context(), ts.URL+"/graphql", gqlws.Options{Protocol: transport, NoInit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// connection_init and subscribe at once: a server shutting down may
	// read both before it closes the connection.
	c.Send(gqlws.Message{Type: "connection_init", Payload: json.RawMessage(`{}`)})
	c.Subscribe("1", runEventsQuery, map[string]any{"id": runID, "after": 0})
	next := func() (gqlws.Message, error) { return c.Next(time.Now().Add(5 * time.Second)) }
	return stream{
		first: func() string {
			for {
				m, err := next()
				if err != nil || m.Type != "connection_ack" {
					return fmt.Sprintf("%s %s %v", m.Type, m.Payload, err)
				}
			}
		},
		rest: func() (saw []string, err error) {
			for {
				m, err := next()
				if err != nil {
					return saw, err
				}
				if m.Type != "connection_ack" {
					saw = append(saw, fmt.Sprintf("%s %s", m.Type, m.Payload))
				}
			}
		},
	}
}

func TestRunMutations(t *testing.T) {
	ts := newServer(t, options{queueMax: 2})
	queued := ts.startRun(t, `{language: "python", code: "print(input()*2)", stdin: "ab"}`) // not interactive: stdin given
	interactive := ts.startRun(t, `{language: "python", code: "print(input())"}`)
	tests := []struct {
		name     string
		query    string
		wantCode string // "" for success
		want     string // a fragment of the data, on success
	}{
		{"queue full", `mutation { run(input: {language: "python", code: "print(2)"}) { id } }`, "QUEUE_FULL", ""},
		{"unsupported language", `mutation { run(input: {language: "ruby", code: "puts 1"}) { id } }`, "BAD_USER_INPUT", ""},
		{"memory out of range", `mutation { run(input: {language: "python", code: "1", memoryMb: 100000}) { id } }`, "BAD_USER_INPUT", ""},
		{"run by id", `{ run(id: "` + queued + `") { id status interactive startedAt } }`, "", `"status":"QUEUED","interactive":false,"startedAt":null`},
		{"a run without stdin is interactive", `{ run(id: "` + interactive + `") { interactive } }`, "", `"interactive":true`},
		{"unknown run", `{ run(id: "nope") { id } }`, "NOT_FOUND", ""},
		{"input to an interactive run", `mutation { sendInput(runId: "` + interactive + `", text: "Ada\n") }`, "", `"sendInput":true`},
		{"input to a run that is not interactive", `mutation { sendInput(runId: "` + queued + `", text: "x") }`, "BAD_USER_INPUT", ""},
		{"input to an unknown run", `mutation { sendInput(runId: "nope", text: "x") }`, "NOT_FOUND", ""},
		{"cancel a queued run", `mutation { cancelRun(id: "` + queued + `") { id status } }`, "", `"status":"CANCELLED"`},
		{"cancel it again", `mutation { cancelRun(id: "` + queued + `") { status } }`, "", `"status":"CANCELLED"`},
		{"input to a finished run", `mutation { sendInput(runId: "` + queued + `", text: "x") }`, "BAD_USER_INPUT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := ts.post(t, query(tt.query, nil))
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tt.wantCode == "" {
				if len(out.Errors) > 0 || !strings.Contains(string(out.Data), tt.want) {
					t.Errorf("data %s, errors %+v; want %s", out.Data, out.Errors, tt.want)
				}
				return
			}
			if codes := out.codes(); len(codes) != 1 || codes[0] != tt.wantCode {
				t.Errorf("codes %v, want [%s] (errors %+v)", codes, tt.wantCode, out.Errors)
			}
		})
	}
	// The cancelled run's subscribers saw it end.
	c := dialWS(t, ts, "graphql-transport-ws")
	c.subscribe("1", runEventsQuery, map[string]any{"id": queued, "after": 0})
	got := c.events()
	checkEvents(t, got, queued, "QUEUED", "FINISHED")
	if got[1].Run.Status != "CANCELLED" {
		t.Errorf("FINISHED carries status %s, want CANCELLED", got[1].Run.Status)
	}
}

// TestSSEErrors: a request meant for SSE that cannot be taken gets the
// HTTP front's error contract — a status, an extensions.code, no-store —
// rather than gqlgen's uncoded answers: a body over the limit (which gqlgen
// would read whole), and a content type the SSE transport does not take.
func TestSSEErrors(t *testing.T) {
	ts := newServer(t, options{})
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
	}{
		{"body over the limit", "application/json",
			mustJSON(map[string]any{"query": runEventsQuery, "variables": map[string]any{"id": strings.Repeat("x", 2<<20), "after": 0}}),
			http.StatusRequestEntityTooLarge},
		{"not JSON", "text/plain", `{"query":"{ ageGroups { slug } }"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/graphql", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Errors []struct {
					Message    string
					Extensions struct{ Code string }
				}
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			if resp.StatusCode != tt.wantStatus || err != nil || len(out.Errors) != 1 || out.Errors[0].Extensions.Code != "BAD_USER_INPUT" {
				t.Errorf("status %d, errors %+v (%v); want %d with one BAD_USER_INPUT error", resp.StatusCode, out.Errors, err, tt.wantStatus)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", cc)
			}
		})
	}
}
