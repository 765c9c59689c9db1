// Package reporttest stands in for Sentry's ingestion in tests: an HTTP
// server that takes the envelopes (and legacy store requests) the Sentry
// SDK posts and keeps every body whole, so that a test can check both
// what arrived and, byte for byte, what never did.
package reporttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sentry is a fake Sentry ingestion host.
type Sentry struct {
	srv *httptest.Server
	mu  sync.Mutex
	raw [][]byte // every request: its headers, then its body
	evs []Event
}

// Event is what a test reads of an event that arrived.
type Event struct {
	Level       string            `json:"level"`
	Message     string            `json:"message"`
	Release     string            `json:"release"`
	Environment string            `json:"environment"`
	Transaction string            `json:"transaction"`
	Tags        map[string]string `json:"tags"`
	Exception   []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"exception"`
	Request     json.RawMessage `json:"request"`
	User        json.RawMessage `json:"user"`
	Breadcrumbs json.RawMessage `json:"breadcrumbs"`
	// Raw is the event's JSON.
	Raw json.RawMessage `json:"-"`
}

// Start starts the fake host; it stops when t ends.
func Start(t testing.TB) *Sentry {
	t.Helper()
	s := &Sentry{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// DSN is the DSN that sends to this host (project 1).
func (s *Sentry) DSN() string {
	return strings.Replace(s.srv.URL, "http://", "http://public@", 1) + "/1"
}

func (s *Sentry) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var head bytes.Buffer
	r.Header.Write(&head)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = append(s.raw, append(head.Bytes(), body...))
	switch {
	case strings.HasSuffix(r.URL.Path, "/envelope/"):
		for _, item := range envelopeItems(body) {
			if item.typ == "event" {
				s.add(item.payload)
			}
		}
	case strings.HasSuffix(r.URL.Path, "/store/"):
		s.add(body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"id":"00000000000000000000000000000000"}`))
}

func (s *Sentry) add(payload []byte) {
	var e Event
	if json.Unmarshal(payload, &e) == nil {
		e.Raw = append(json.RawMessage(nil), payload...)
		s.evs = append(s.evs, e)
	}
}

type item struct {
	typ     string
	payload []byte
}

// envelopeItems splits an envelope: a header line, then items, each a
// header line and a payload of the header's length (or up to the next
// newline when it gives none).
func envelopeItems(body []byte) []item {
	rd := bufio.NewReader(bytes.NewReader(body))
	if _, err := rd.ReadBytes('\n'); err != nil {
		return nil
	}
	var items []item
	for {
		line, err := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				return items
			}
			continue
		}
		var h struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if json.Unmarshal(line, &h) != nil {
			return items
		}
		var payload []byte
		if h.Length != nil {
			payload = make([]byte, *h.Length)
			if _, err := io.ReadFull(rd, payload); err != nil {
				return items
			}
		} else {
			payload, _ = rd.ReadBytes('\n')
		}
		items = append(items, item{h.Type, bytes.TrimSpace(payload)})
	}
}

// Events returns the events that arrived so far.
func (s *Sentry) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

// WaitFor waits up to 10 s for an event that match accepts, and returns it.
func (s *Sentry) WaitFor(t testing.TB, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range s.Events() {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event for %s arrived; got %d events: %s", what, len(s.Events()), s.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Sentry) describe() string {
	var b strings.Builder
	for i, e := range s.Events() {
		b.WriteString("\n" + strconv.Itoa(i) + ": " + string(e.Raw))
	}
	return b.String()
}

// NeverSent fails t if any request that arrived, headers or body, holds
// one of secrets.
func (s *Sentry) NeverSent(t testing.TB, secrets map[string]string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range s.raw {
		for what, secret := range secrets {
			if secret != "" && bytes.Contains(raw, []byte(secret)) {
				t.Errorf("the %s (%q) reached Sentry:\n%s", what, secret, raw)
			}
		}
	}
}

// Requests reports how many requests arrived.
func (s *Sentry) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.raw)
}
