package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"coderunner/internal/gqlws"
	"coderunner/internal/procfs"
	"coderunner/internal/stats"
	"coderunner/server"
)

// The soak test: honest students run small programs, first alone (the
// idle system), then while abusers hammer the same api; it holds if every
// honest run completes about as fast as on the idle system and the api's
// memory, goroutines, open files and Redis's memory stay bounded and come
// back down once the abusers stop.
//
// In CI it runs in its short form; by hand, CODERUNNER_SOAK sets how long
// the abusers run (built without -race, the latency target is asserted):
//
//	CODERUNNER_SOAK=5m go test -count=1 -timeout 30m ./e2e -run Soak -v

const (
	// shortSoak is how long the abusers run in the short form: with the
	// idle phase, the cluster's start and the settling, the test takes
	// under 2 minutes.
	shortSoak = 40 * time.Second
	// honestStudents each run a program, follow it to FINISHED, then
	// think for honestThink: about 3 runs a second together, well within
	// what two workers with two slots each finish on a 2-core machine.
	honestStudents = 4
	honestThink    = 3 * time.Second
	// The abusers' pace: mallory's 900 KiB runs, 5 a second (her budget
	// is 10 a minute), and the guest's alias queries, 2 a second, each
	// sent when the last is answered if that takes longer. At full speed
	// on this machine the abusers' own clients would take the cores that
	// the api, the workers and the honest clients share with them; from
	// elsewhere, one client sends this much easily.
	floodEvery   = 200 * time.Millisecond
	amplifyEvery = 500 * time.Millisecond
	// slowReaders subscribe to a big run ten times each and never read.
	slowReaders = 3
	// idleSockets are opened, per round, as WebSockets that never send
	// connection_init and as TCP connections that never send a request.
	idleSockets = 10
)

// The latency target: honest p95 under abuse within twice the idle p95.
// The machine has 2 cores shared by the api, two workers, Redis, the
// Docker engine and every client, so a p95 of a hundred ms or so has an
// absolute floor too: idle p95 + 250 ms. Built with -race the target is
// only reported (every process is several times slower); built without,
// the test fails on it. It always fails past latencyCeiling, where an
// honest child would be starved.
const (
	latencyFloor   = 250 * time.Millisecond
	latencyCeiling = 5 * time.Second
)

// Programs.
const (
	honestProgram = "print(sum(range(1000)))"
	honestStdout  = "499500\n"
)

// bigProgram is a large run: a source just under the 1 MiB request limit
// (a comment), printing just under the 64 KiB output limit. The
// amplifying guest reads its code.
var bigProgram = "#" + strings.Repeat("x", 900<<10) + "\nprint('y' * 65000)\n"

// floodProgram is mallory's run: 256 KiB of source, 64 KiB of output.
var floodProgram = "#" + strings.Repeat("x", 256<<10) + "\nprint('y' * 65000)\n"

// The abusers' queries of a big run. Thirty aliases of its code cost 30 ×
// 500 in the complexity model and are refused before they run; five cost
// 2,500, are admitted, and the fifth copy of 900 KiB takes the response
// past its 4 MiB budget.
var (
	thirtyAliases = aliasQuery(30)
	fiveAliases   = aliasQuery(5)
)

const responseBudget = 4 << 20

func aliasQuery(n int) string {
	var b strings.Builder
	b.WriteString("query($id: ID!) {")
	for i := range n {
		fmt.Fprintf(&b, " a%d: run(id: $id) { code }", i)
	}
	b.WriteString(" }")
	return b.String()
}

// Each client comes from an address of its own (127.0.0.0/8 all reaches
// the api): guests' budgets and the cap on streams go by address, and a
// school's NAT is not what this test is about.
const (
	honestFrom     = "127.0.0.%d" // + 10 + i
	abuserFrom     = "127.0.0.50" // the guest that amplifies and reads slowly
	idlerFrom      = "127.0.0.51" // the guest that opens idle sockets
	flooderFrom    = "127.0.0.60" // mallory, a student
	subFlooderFrom = "127.0.0.70" // eve, a student
)

// usage is what the soak test watches of the api and Redis.
type usage struct {
	RSS        uint64 // the api's resident memory
	Files      int    // the api's open file descriptors
	Goroutines int    // the api's go_goroutines
	Clients    int    // TCP connections of clients to the api
	Redis      uint64 // Redis's used_memory
}

func (u usage) String() string {
	return fmt.Sprintf("RSS %.1f MiB, %d files, %d goroutines, %d client connections, Redis %.2f MiB",
		mib(u.RSS), u.Files, u.Goroutines, u.Clients, mib(u.Redis))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// max is the larger of u and v in each figure.
func (u usage) max(v usage) usage {
	return usage{max(u.RSS, v.RSS), max(u.Files, v.Files), max(u.Goroutines, v.Goroutines), max(u.Clients, v.Clients), max(u.Redis, v.Redis)}
}

// usage reads api's figures and Redis's.
func (c *cluster) usage(ctx context.Context, api *proc) (usage, error) {
	var u usage
	var err error
	if u.RSS, err = procfs.RSS(api.pid()); err != nil {
		return u, err
	}
	if u.Files, err = procfs.OpenFiles(api.pid()); err != nil {
		return u, err
	}
	g, err := api.scrape("go_goroutines")
	if err != nil {
		return u, err
	}
	u.Goroutines = int(g)
	_, port, _ := net.SplitHostPort(api.addr)
	var p int
	fmt.Sscan(port, &p)
	if u.Clients, err = procfs.Connections(p); err != nil {
		return u, err
	}
	info, err := c.rdb.InfoMap(ctx, "memory").Result()
	if err != nil {
		return u, err
	}
	if _, err := fmt.Sscan(info["Memory"]["used_memory"], &u.Redis); err != nil {
		return u, fmt.Errorf("Redis used_memory %q: %w", info["Memory"]["used_memory"], err)
	}
	return u, nil
}

// bounds are the limits a phase's usage must stay within, relative to
// the quiet baseline.
type bounds struct {
	RSS        uint64
	Files      int
	Goroutines int
	Clients    int
	Redis      uint64
}

// exceeded lists the figures of u past base + b.
func (b bounds) exceeded(base, u usage) []string {
	var out []string
	if u.RSS > base.RSS+b.RSS {
		out = append(out, fmt.Sprintf("RSS %.1f MiB > %.1f + %.1f MiB", mib(u.RSS), mib(base.RSS), mib(b.RSS)))
	}
	if u.Files > base.Files+b.Files {
		out = append(out, fmt.Sprintf("open files %d > %d + %d", u.Files, base.Files, b.Files))
	}
	if u.Goroutines > base.Goroutines+b.Goroutines {
		out = append(out, fmt.Sprintf("goroutines %d > %d + %d", u.Goroutines, base.Goroutines, b.Goroutines))
	}
	if u.Clients > base.Clients+b.Clients {
		out = append(out, fmt.Sprintf("client connections %d > %d + %d", u.Clients, base.Clients, b.Clients))
	}
	if u.Redis > base.Redis+b.Redis {
		out = append(out, fmt.Sprintf("Redis used_memory %.2f MiB > %.2f + %.2f MiB", mib(u.Redis), mib(base.Redis), mib(b.Redis)))
	}
	return out
}

// watcher samples usage every 500 ms and keeps the peak.
type watcher struct {
	mu   sync.Mutex
	peak usage
	errs []error
}

func (w *watcher) watch(ctx context.Context, c *cluster, api *proc) {
	for {
		u, err := c.usage(ctx, api)
		w.mu.Lock()
		if err != nil && ctx.Err() == nil {
			w.errs = append(w.errs, err)
		}
		w.peak = w.peak.max(u)
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// tally counts outcomes by name, from any goroutine.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	t.n[outcome]++
}

func (t *tally) get(outcome string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[outcome]
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.n))
	for k := range t.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n\t%6d  %s", t.n[k], k)
	}
	return b.String()
}

// soakLength is how long the abusers run: CODERUNNER_SOAK, or shortSoak.
// The idle phase takes half as long, between 20 s and a minute.
func soakLength(t *testing.T) (idle, abuse time.Duration) {
	abuse = shortSoak
	if s := os.Getenv("CODERUNNER_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < shortSoak {
			t.Fatalf("CODERUNNER_SOAK=%q: want a duration of at least %v", s, shortSoak)
		}
		abuse = d
	}
	return min(max(abuse/2, 20*time.Second), time.Minute), abuse
}

// honestClient is a signed-in student in the editor: one WebSocket for
// the session, a run now and then, each followed to FINISHED.
type honestClient struct {
	name  string
	token string
	http  *http.Client
	ws    *gqlws.Conn
	next  int // the next subscription id
}

// run runs honestProgram and returns the time from sending the mutation
// to receiving FINISHED.
func (h *honestClient) run(api *proc) (time.Duration, error) {
	begin := time.Now()
	status, data, errs, err := postWith(h.http, api, h.token, runMutation, map[string]any{"code": honestProgram})
	if err != nil || status != http.StatusOK || len(errs) > 0 {
		return 0, fmt.Errorf("%s: run: %d %v %+v", h.name, status, err, errs)
	}
	var started struct{ Run run }
	if err := json.Unmarshal(data, &started); err != nil {
		return 0, err
	}
	h.next++
	id := fmt.Sprint(h.next)
	if err := h.ws.SubscribeRunEvents(id, started.Run.ID, 0); err != nil {
		return 0, fmt.Errorf("%s: subscribe: %w", h.name, err)
	}
	deadline := time.Now().Add(time.Minute)
	var finished *gqlws.Run
	for {
		m, err := h.ws.Next(deadline)
		if err != nil {
			return 0, fmt.Errorf("%s: run %s: %w", h.name, started.Run.ID, err)
		}
		if m.ID != id {
			return 0, fmt.Errorf("%s: a %s message of subscription %q while following %q", h.name, m.Type, m.ID, id)
		}
		if m.Type == "complete" {
			break
		}
		e, err := m.Event()
		if err != nil {
			return 0, fmt.Errorf("%s: run %s: %w", h.name, started.Run.ID, err)
		}
		if e.Type == "FINISHED" {
			finished = e.Run
		}
	}
	took := time.Since(begin)
	if finished == nil || finished.Status != "COMPLETED" || finished.Stdout != honestStdout {
		return took, fmt.Errorf("%s: run %s finished %+v; want COMPLETED printing %q", h.name, started.Run.ID, finished, honestStdout)
	}
	return took, nil
}

// honestLoad runs every client's runs until ctx ends and returns their
// latencies, in the order they finished; every failed run is an error.
func honestLoad(ctx context.Context, api *proc, clients []*honestClient) ([]timedLatency, error) {
	var (
		mu        sync.Mutex
		latencies []timedLatency
		errs      []error
		wg        sync.WaitGroup
	)
	for i, h := range clients {
		wg.Go(func() {
			// Stagger the clients so that they do not run in lockstep.
			sleepCtx(ctx, time.Duration(i)*honestThink/time.Duration(len(clients)))
			for ctx.Err() == nil {
				took, err := h.run(api)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					latencies = append(latencies, timedLatency{time.Now(), took})
				}
				mu.Unlock()
				sleepCtx(ctx, honestThink)
			}
		})
	}
	wg.Wait()
	return latencies, errors.Join(errs...)
}

// sleepTick waits for tick's next tick, or ctx's end.
func sleepTick(ctx context.Context, tick *time.Ticker) bool {
	select {
	case <-ctx.Done():
		return false
	case <-tick.C:
		return true
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// abusers are the hostile clients, each a loop until ctx ends.
type abusers struct {
	api    *proc
	bigRun string // the abusive guest's big run
	got    tally
}

// flood sends floodProgram as the student mallory, as fast as the api
// answers: a few runs are admitted, the rest refused by the quota.
func (a *abusers) flood(ctx context.Context, token string) {
	client := httpFrom(flooderFrom)
	defer client.CloseIdleConnections()
	body := requestBody(runMutation, map[string]any{"code": floodProgram})
	for tick := time.NewTicker(floodEvery); ctx.Err() == nil; sleepTick(ctx, tick) {
		status, code, _, err := postBody(client, a.api, token, body)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				a.got.add("flood: " + err.Error())
				sleepCtx(ctx, 100*time.Millisecond)
			}
		case status == http.StatusOK && code == "":
			a.got.add("flood: admitted")
		default:
			a.got.add(fmt.Sprintf("flood: refused %s (HTTP %d)", code, status))
		}
	}
}

// amplify asks for the big run's 900 KiB of code under 30 aliases, then
// under 5, in turn, as a guest, as fast as the api answers.
func (a *abusers) amplify(ctx context.Context) {
	client := httpFrom(abuserFrom)
	defer client.CloseIdleConnections()
	vars := map[string]any{"id": a.bigRun}
	queries := []struct {
		name string
		body []byte
	}{
		{"30 aliases", requestBody(thirtyAliases, vars)},
		{"5 aliases", requestBody(fiveAliases, vars)},
	}
	tick := time.NewTicker(amplifyEvery)
	for i := 0; ctx.Err() == nil; i, _ = i+1, sleepTick(ctx, tick) {
		q := queries[i%len(queries)]
		status, code, size, err := postBody(client, a.api, "", q.body)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				a.got.add("amplify: " + err.Error())
				sleepCtx(ctx, 100*time.Millisecond)
			}
		case size > responseBudget+64<<10:
			a.got.add(fmt.Sprintf("amplify: %s answered %d bytes, past the budget", q.name, size))
		default:
			a.got.add(fmt.Sprintf("amplify: %s refused %s (HTTP %d)", q.name, code, status))
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// requestBody encodes a GraphQL request once, for abusers that send it
// again and again: this machine's cores are the api's too.
func requestBody(query string, vars map[string]any) []byte {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return body
}

// postBody posts body to api and returns the HTTP status, the code of the
// first error (found in the first 4 KiB: gqlgen writes errors first, or
// after a null data), and the response's size,
// without decoding the rest of it.
func postBody(client *http.Client, api *proc, token string, body []byte) (status int, code string, size int64, err error) {
	req, err := http.NewRequest(http.MethodPost, api.url("/graphql"), bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	head := make([]byte, 4<<10)
	n, _ := io.ReadFull(resp.Body, head)
	rest, err := io.Copy(io.Discard, resp.Body)
	if m := errorCode.FindSubmatch(head[:n]); m != nil {
		code = string(m[1])
	} else if resp.StatusCode != http.StatusOK {
		code = fmt.Sprintf("%.120q", head[:n])
	}
	return resp.StatusCode, code, int64(n) + rest, err
}

var errorCode = regexp.MustCompile(`"errors":\[\{.*?"code":"([A-Z_]+)"`)

// slowRead subscribes ten times to the big run on one WebSocket and never
// reads; the api must close the connection (it stops answering pings, or
// stops reading) instead of holding it. Once it has had time to, the
// reader drains what was sent and checks that the connection is closed.
func (a *abusers) slowRead(ctx context.Context) {
	const giveUpAfter = 30 * time.Second // keep-alive 10 s + its answer 10 s, and slack
	for ctx.Err() == nil {
		conn, err := gqlws.DialWith(ctx, a.api.url("/graphql"), gqlws.Options{Protocol: gqlws.TransportWS, From: abuserFrom})
		if err != nil {
			if ctx.Err() == nil {
				a.got.add("slow reader: " + err.Error())
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		for i := range 10 {
			conn.SubscribeRunEvents(fmt.Sprint(i), a.bigRun, 0)
		}
		sleepCtx(ctx, giveUpAfter)
		if ctx.Err() != nil {
			conn.Close()
			return
		}
		conn.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, r, err := conn.WS.NextReader()
			if err == nil {
				io.Copy(io.Discard, r)
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				a.got.add(fmt.Sprintf("slow reader: still open after %v", giveUpAfter))
			} else {
				a.got.add("slow reader: closed by the api")
			}
			break
		}
		conn.Close()
	}
}

// idle opens idleSockets WebSockets that never send connection_init and
// as many TCP connections that never send a request, and checks that the
// api closes each in time: 4408 after 5 s, and the HTTP server's 10 s for
// a request's headers.
func (a *abusers) idle(ctx context.Context) {
	host := strings.TrimPrefix(a.api.url(""), "http://")
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(idlerFrom)}}
	for ctx.Err() == nil {
		var wg sync.WaitGroup
		for range idleSockets {
			wg.Go(func() {
				conn, err := gqlws.DialWith(ctx, a.api.url("/graphql"), gqlws.Options{Protocol: gqlws.TransportWS, From: idlerFrom, NoInit: true})
				if err != nil {
					if ctx.Err() == nil {
						a.got.add("idle WebSocket: " + err.Error())
					}
					return
				}
				defer context.AfterFunc(ctx, func() { conn.Close() })()
				defer conn.Close()
				conn.WS.SetReadDeadline(time.Now().Add(8 * time.Second))
				_, _, err = conn.WS.ReadMessage()
				switch {
				case ctx.Err() != nil:
				case websocket.IsCloseError(err, 4408):
					a.got.add("idle WebSocket: closed 4408 by the api")
				default:
					a.got.add(fmt.Sprintf("idle WebSocket: %v", err))
				}
			})
			wg.Go(func() {
				conn, err := dialer.DialContext(ctx, "tcp", host)
				if err != nil {
					if ctx.Err() == nil {
						a.got.add("idle TCP: " + err.Error())
					}
					return
				}
				defer context.AfterFunc(ctx, func() { conn.Close() })()
				defer conn.Close()
				conn.SetReadDeadline(time.Now().Add(13 * time.Second))
				_, err = io.Copy(io.Discard, conn)
				switch {
				case ctx.Err() != nil:
				case err == nil:
					a.got.add("idle TCP: closed by the api")
				default:
					a.got.add(fmt.Sprintf("idle TCP: %v", err))
				}
			})
		}
		wg.Wait()
	}
}

// waitForInput is a run that lives until its wall-time limit (21 s) or
// its cancel, costing no CPU meanwhile.
const waitForInput = `mutation { run(input: {language: "python", code: "input()", timeLimitMs: 10000}) { id } }`

// subFlood is eve, a student, from one address: in rounds, she starts a
// run that waits for input, opens WebSockets until the api refuses one
// (HTTP 429), subscribes to her run 11 times on two of them and once on
// a third (past 10 a connection and 20 a caller, refused RATE_LIMITED),
// holds it all for a while, then cancels the run and closes everything.
func (a *abusers) subFlood(ctx context.Context, token string) {
	client := httpFrom(subFlooderFrom)
	defer client.CloseIdleConnections()
	for ctx.Err() == nil {
		status, data, errs, err := postWith(client, a.api, token, waitForInput, nil)
		if err != nil || status != http.StatusOK || len(errs) > 0 {
			if ctx.Err() == nil {
				a.got.add(fmt.Sprintf("subscription flood: run refused: %d %v %+v", status, err, errs))
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		var started struct{ Run run }
		json.Unmarshal(data, &started)
		a.subFloodRound(ctx, token, started.Run.ID)
		postWith(client, a.api, token, `mutation($id: ID!) { cancelRun(id: $id) { id } }`, map[string]any{"id": started.Run.ID})
	}
}

func (a *abusers) subFloodRound(ctx context.Context, token, runID string) {
	var conns []*gqlws.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < 2*server.DefaultConnectionLimits.MaxStreamsPerAddr {
		conn, err := gqlws.DialWith(ctx, a.api.url("/graphql"), gqlws.Options{Protocol: gqlws.TransportWS, Token: token, From: subFlooderFrom})
		var refused *gqlws.DialError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &refused) && refused.Status == http.StatusTooManyRequests:
			a.got.add("subscription flood: WebSocket refused HTTP 429")
		case isTimeout(err):
			// Seen once in a while, at a few hundred dials a minute from
			// one address: tolerated and counted, as a client would retry.
			a.got.add("subscription flood: WebSocket dial timed out")
		case err != nil:
			a.got.add("subscription flood: " + err.Error())
		default:
			a.got.add("subscription flood: WebSocket accepted")
			conns = append(conns, conn)
			continue
		}
		break
	}
	if len(conns) < 3 {
		return
	}
	hold, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for k, n := range []int{11, 11, 1} {
		conn := conns[k]
		for j := range n {
			conn.SubscribeRunEvents(fmt.Sprint(j), runID, 0)
		}
		wg.Go(func() {
			defer context.AfterFunc(hold, func() { conn.Close() })()
			for {
				m, err := conn.Next(time.Now().Add(time.Minute))
				if err != nil {
					return
				}
				if strings.Contains(string(m.Payload), "RATE_LIMITED") {
					a.got.add("subscription flood: subscription refused RATE_LIMITED")
				}
			}
		})
	}
	wg.Wait()
}

// TestSoak runs honest students alone, then beside every abuser at once,
// and checks that the abusers cost the honest students little and the
// api and Redis nothing that lasts.
func TestSoak(t *testing.T) {
	idleFor, abuseFor := soakLength(t)
	begin := time.Now()
	// The fault tests' short claim timeout would have a worker slowed by
	// the load lose its runs to the other: run with the default.
	c := startCluster(t, 1, 2,
		"CODERUNNER_CLAIM_TIMEOUT=30s",
		// As deployed: a warm container per concurrent run (e2e's default
		// of 1 makes every second concurrent run wait for a container to
		// start, seconds on a loaded engine), in jail mode, where a run
		// costs a jail, not a container's life (docs/sandbox.md).
		"CODERUNNER_POOL_SIZE=2", "CODERUNNER_SANDBOX=jail")
	api := c.apis[0]

	users := []string{"root", "mallory", "eve"}
	for i := range honestStudents {
		users = append(users, fmt.Sprintf("student-%d", i+1))
	}
	for _, name := range users {
		role := "STUDENT"
		if name == "root" {
			role = "ADMIN"
		}
		c.createUser(t, name, role)
	}
	admin, _ := signIn(t, api, "root")
	mallory, _ := signIn(t, api, "mallory")
	eve, _ := signIn(t, api, "eve")
	var honest []*honestClient
	for i := range honestStudents {
		name := fmt.Sprintf("student-%d", i+1)
		token, id := signIn(t, api, name)
		// A student here runs a program every second or so, faster than
		// a child clicks Run: the default 10 a minute would refuse them.
		setQuota(t, api, admin, id, `{runsPerMinute: 120}`)
		from := fmt.Sprintf(honestFrom, 10+i)
		ws, err := gqlws.DialWith(t.Context(), api.url("/graphql"), gqlws.Options{Protocol: gqlws.TransportWS, Token: token, From: from})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := &honestClient{name: name, token: token, http: httpFrom(from), ws: ws}
		t.Cleanup(func() { h.ws.Close(); h.http.CloseIdleConnections() })
		honest = append(honest, h)
	}

	// The abusive guest's big run, for the amplifier and the slow readers
	// (a guest sees the runs of its address).
	a := &abusers{api: api, bigRun: guestBigRun(t, api)}

	// Warm up (the pool, the api's caches and connections to Redis and
	// the store), then let the api go quiet and take its baseline.
	for _, h := range honest {
		if _, err := h.run(api); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	base, err := c.usage(t.Context(), api)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("baseline, quiet: %v", base)

	idle, idlePeak := soakPhase(t, c, api, honest, idleFor, nil)
	abused, abusedPeak := soakPhase(t, c, api, honest, abuseFor, func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Go(func() { a.flood(ctx, mallory) })
		wg.Go(func() { a.amplify(ctx) })
		for range slowReaders {
			wg.Go(func() { a.slowRead(ctx) })
		}
		wg.Go(func() { a.idle(ctx) })
		wg.Go(func() { a.subFlood(ctx, eve) })
	})
	for _, h := range honest {
		h.ws.Close()
		h.http.CloseIdleConnections()
	}
	stopped := time.Now()

	// Every honest run completed (soakPhase failed the test otherwise);
	// now how fast.
	idleP95, abusedP95 := stats.Percentile(idle, 95), stats.Percentile(abused, 95)
	allowed := max(2*idleP95, idleP95+latencyFloor)
	t.Logf("honest runs, idle: %d, p50 %v, p95 %v; under abuse: %d, p50 %v, p95 %v (allowed %v)",
		len(idle), stats.Percentile(idle, 50).Round(time.Millisecond), idleP95.Round(time.Millisecond),
		len(abused), stats.Percentile(abused, 50).Round(time.Millisecond), abusedP95.Round(time.Millisecond), allowed.Round(time.Millisecond))
	// The target holds for the binaries as they ship. Built with -race
	// (as CI builds them), every process runs several times slower and the
	// two cores saturate, so there it is only reported.
	if abusedP95 > allowed {
		report := t.Errorf
		if raceEnabled {
			report = t.Logf
		}
		report("TARGET MISSED: honest p95 under abuse %v > max(2 × idle p95, idle p95 + %v) = %v", abusedP95.Round(time.Millisecond), latencyFloor, allowed.Round(time.Millisecond))
	}
	if abusedP95 > latencyCeiling {
		t.Errorf("honest p95 under abuse %v > %v: honest students are starved", abusedP95, latencyCeiling)
	}
	t.Logf("what the abusers got:%v", &a.got)
	a.check(t)

	// Bounds. Each finished run keeps its replay buffer in Redis for
	// 15 minutes (docs/redis.md: at most 2.5 × its output + 1 KiB), so
	// Redis comes back to the baseline plus those.
	runs := len(idle) + len(abused)
	replay := uint64(1<<20 + runs*(2<<10) + a.got.get("flood: admitted")*(192<<10) + a.got.get("subscription flood: WebSocket accepted")/50*(2<<10))
	during := bounds{RSS: 256 << 20, Files: 300, Goroutines: 1500, Clients: 200, Redis: replay + 8<<20}
	// The connection pools to MongoDB and Redis stay as the load grew
	// them (the driver's holds up to 100): open files come back within
	// 64 of the baseline, and every client connection is gone (one left:
	// the test's own /metrics scrapes). Go keeps freed heap for reuse and
	// returns it to the system over minutes: RSS comes back within half
	// of its bound under load.
	after := bounds{RSS: 128 << 20, Files: 64, Goroutines: 20, Clients: 2, Redis: replay}
	t.Logf("peak, idle: %v", idlePeak)
	t.Logf("peak, under abuse: %v", abusedPeak)
	for _, over := range during.exceeded(base, idlePeak.max(abusedPeak)) {
		t.Errorf("under load: %s", over)
	}
	var settled usage
	var over []string
	for deadline := stopped.Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if settled, err = c.usage(t.Context(), api); err != nil {
			t.Fatal(err)
		}
		if over = after.exceeded(base, settled); len(over) == 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("after, %v later: %v", time.Since(stopped).Round(100*time.Millisecond), settled)
	for _, o := range over {
		t.Errorf("after the load: %s", o)
	}
	t.Logf("soak test took %v", time.Since(begin).Round(time.Second))
}

// soakPhase runs the honest clients for d, with abusers (if not nil)
// started beside them and stopped with them, and returns the honest runs'
// latencies and the peak usage seen.
func soakPhase(t *testing.T, c *cluster, api *proc, honest []*honestClient, d time.Duration, abuse func(context.Context, *sync.WaitGroup)) ([]time.Duration, usage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var w watcher
	var wg sync.WaitGroup
	watchCtx, stopWatching := context.WithCancel(t.Context())
	wg.Go(func() { w.watch(watchCtx, c, api) })
	var abusers sync.WaitGroup
	if abuse != nil {
		abuse(ctx, &abusers)
	}
	begin := time.Now()
	timed, err := honestLoad(ctx, api, honest)
	if err != nil {
		t.Errorf("honest runs failed: %v", err)
	}
	latencies := make([]time.Duration, len(timed))
	for i, l := range timed {
		latencies[i] = l.took
	}
	logByMinute(t, begin, timed)
	abusers.Wait()
	stopWatching()
	wg.Wait()
	if err := errors.Join(w.errs...); err != nil {
		t.Errorf("watching the api: %v", err)
	}
	if len(latencies) == 0 {
		t.Fatal("no honest run finished")
	}
	return latencies, w.peak
}

// timedLatency is an honest run's latency and when it finished.
type timedLatency struct {
	at   time.Time
	took time.Duration
}

// logByMinute logs the p50 and p95 of each minute of a phase longer than
// two, to show whether the latency drifts as the soak goes on.
func logByMinute(t *testing.T, begin time.Time, timed []timedLatency) {
	t.Helper()
	var minutes [][]time.Duration
	for _, l := range timed {
		m := int(l.at.Sub(begin) / time.Minute)
		for len(minutes) <= m {
			minutes = append(minutes, nil)
		}
		minutes[m] = append(minutes[m], l.took)
	}
	if len(minutes) < 3 {
		return
	}
	var b strings.Builder
	for m, ls := range minutes {
		if len(ls) > 0 {
			fmt.Fprintf(&b, "\n\tminute %d: %d runs, p50 %v, p95 %v", m+1, len(ls),
				stats.Percentile(ls, 50).Round(time.Millisecond), stats.Percentile(ls, 95).Round(time.Millisecond))
		}
	}
	t.Logf("honest runs by minute:%s", b.String())
}

// guestBigRun runs bigProgram as the abusive guest and waits for it to
// complete.
func guestBigRun(t *testing.T, api *proc) string {
	t.Helper()
	client := httpFrom(abuserFrom)
	defer client.CloseIdleConnections()
	status, data, errs, err := postWith(client, api, "", runMutation, map[string]any{"code": bigProgram})
	if err != nil || status != http.StatusOK || len(errs) > 0 {
		t.Fatalf("the big run: %d %v %+v", status, err, errs)
	}
	var started struct{ Run run }
	json.Unmarshal(data, &started)
	eventually(t, time.Minute, "the big run completes", func() error {
		_, data, errs, err := postWith(client, api, "", `query($id: ID!) { run(id: $id) { status } }`, map[string]any{"id": started.Run.ID})
		var got struct{ Run run }
		if err == nil && len(errs) == 0 {
			err = json.Unmarshal(data, &got)
		}
		if err == nil && got.Run.Status != "COMPLETED" {
			err = fmt.Errorf("status %q %+v", got.Run.Status, errs)
		}
		return err
	})
	return started.Run.ID
}

// check fails t unless every abuser was refused or dropped as the limits
// say, and nothing else happened to them.
func (a *abusers) check(t *testing.T) {
	t.Helper()
	a.got.mu.Lock()
	defer a.got.mu.Unlock()
	expected := map[string]bool{
		"flood: admitted":                                       true,
		"flood: refused RATE_LIMITED (HTTP 200)":                true,
		"flood: refused QUOTA_EXCEEDED (HTTP 200)":              true,
		"flood: refused QUEUE_FULL (HTTP 200)":                  true,
		"amplify: 30 aliases refused BAD_USER_INPUT (HTTP 422)": true,
		"amplify: 5 aliases refused BAD_USER_INPUT (HTTP 200)":  true,
		"slow reader: closed by the api":                        true,
		"idle WebSocket: closed 4408 by the api":                true,
		"idle TCP: closed by the api":                           true,
		"subscription flood: WebSocket accepted":                true,
		"subscription flood: WebSocket refused HTTP 429":        true,
		"subscription flood: WebSocket dial timed out":          true,
		"subscription flood: subscription refused RATE_LIMITED": true,
	}
	for outcome, n := range a.got.n {
		if !expected[outcome] {
			t.Errorf("%d × %s", n, outcome)
		}
	}
	for _, outcome := range []string{"flood: refused RATE_LIMITED (HTTP 200)", "amplify: 30 aliases refused BAD_USER_INPUT (HTTP 422)",
		"amplify: 5 aliases refused BAD_USER_INPUT (HTTP 200)", "slow reader: closed by the api", "idle WebSocket: closed 4408 by the api",
		"idle TCP: closed by the api", "subscription flood: WebSocket refused HTTP 429", "subscription flood: subscription refused RATE_LIMITED"} {
		if a.got.n[outcome] == 0 {
			t.Errorf("no %q", outcome)
		}
	}
}
