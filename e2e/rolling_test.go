package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner/broker/redis"
	"coderunner/internal/gqlws"
)

// The rolling deploy's load: rollClients editors, each running a program
// and following it to FINISHED, then pausing rollPause plus up to as much
// again before the next. Six clients keep the four run slots of two
// workers busy with a run or two waiting, so that every worker is sent
// SIGTERM with runs in flight and runs queued.
const (
	rollClients = 6
	rollPause   = 100 * time.Millisecond
	// rollSettle is how long the load flows on the new set of processes
	// before the next replacement starts, and before and after the roll.
	rollSettle = 2 * time.Second
	// burstSize run mutations are sent to each api, burstEvery apart,
	// around its SIGTERM.
	burstSize  = 8
	burstEvery = 5 * time.Millisecond
	// endpointLag is how long clients are still sent to an api after its
	// SIGTERM, as a Service's endpoints lag behind a terminating pod.
	endpointLag = time.Second
	// followWithin bounds how long a client follows one run, resumes
	// included.
	followWithin = time.Minute
)

// tagProgram reads a tag from its stdin and prints it five times, 100 ms
// apart: half a second of output streamed in several events, long enough
// to be caught by a replacement, and distinct for every run.
const tagProgram = "import time\ntag = input()\nfor i in range(5):\n    print(tag, i, flush=True)\n    time.sleep(0.1)\n"

const tagRunMutation = `mutation($code: String!, $stdin: String!) {
	run(input: {language: "python", code: $code, stdin: $stdin, timeLimitMs: 5000}) { id status } }`

func tagOutput(tag string) string {
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "%s %d\n", tag, i)
	}
	return b.String()
}

// TestRollingDeploy replaces every process of a cluster of two apis and
// two workers while clients keep running programs and following them, as
// a Kubernetes rolling update with maxSurge 1 and maxUnavailable 0 does:
// one at a time, a new process is started and, once its /readyz is green,
// the old one is sent SIGTERM — every api, then every worker (see replace).
//
// The clients behave as the API asks (README, runEvents): a subscription
// whose connection is lost is opened again on any live api with afterSeq =
// the last seq seen. A run mutation that could not connect was never sent,
// and is sent again to another api; one that got no answer otherwise may
// or may not have been admitted, so it is not sent again but counted as
// unknown, and the store says afterwards what became of it.
//
// It holds if no run is lost, none finished twice and no subscriber misses
// or repeats an event: every run a client was answered for is stored
// COMPLETED with its program's output; the store holds no run that no
// client was answered for (an api's graceful shutdown answers the requests
// it has read); each run was started once and its event log (Redis) holds
// one FINISHED, last, after gapless seqs; each client saw exactly that log,
// across its reconnections, and the program's output; every old process
// exited 0, each worker within its grace period.
//
// Under -race each process sleeps 1 s at exit (the race runtime's
// atexit_sleep_ms), which the exit times logged include.
func TestRollingDeploy(t *testing.T) {
	c := startCluster(t, 2, 2, "CODERUNNER_SANDBOX=jail", "CODERUNNER_POOL_SIZE=2")
	load := &rollLoad{fleet: &fleet{apis: slices.Clone(c.apis)}}
	ctx, stopLoad := context.WithCancel(t.Context())
	defer stopLoad()
	var wg sync.WaitGroup
	for i := range rollClients {
		wg.Go(func() { load.client(ctx, i) })
	}

	time.Sleep(rollSettle)
	rollStart := time.Now()
	// Replace the processes in the order a deploy of both Deployments
	// would, each kind one at a time.
	for i, old := range slices.Clone(c.apis) {
		c.replace(load, old, fmt.Sprintf("api-%c", 'c'+i), "api")
		time.Sleep(rollSettle)
	}
	for i, old := range slices.Clone(c.workers) {
		c.replace(load, old, fmt.Sprintf("worker-%c", 'c'+i), "worker")
		time.Sleep(rollSettle)
	}
	rollEnd := time.Now()
	stopLoad()
	wg.Wait()
	load.report(t, rollStart, rollEnd)

	// Every run a client was answered for, as that client saw it.
	for _, err := range load.errs {
		t.Error(err)
	}
	admitted := map[string]*rollRun{}
	for _, r := range load.runs {
		admitted[r.tag] = r
		if r.err != nil {
			t.Errorf("run %s (%s): %v; events seen: %v", r.id, r.tag, r.err, r.events)
			continue
		}
		final := checkStream(t, r.id, r.events)
		want := tagOutput(r.tag)
		if got := stdoutOf(r.events); got != want || final.Status != "COMPLETED" || final.Stdout != want {
			t.Errorf("run %s (%s): streamed %q, FINISHED %s with %q; want COMPLETED, %q", r.id, r.tag, got, final.Status, final.Stdout, want)
		}
		if n := count(r.events, "STARTED"); n != 1 {
			t.Errorf("run %s (%s) started %d times; want once (a worker that drains never gives a run up)", r.id, r.tag, n)
		}
	}

	// What the system holds. Nothing is left to deliver once every job
	// is acknowledged and every stored run has finished.
	c.waitAcked()
	stored := c.storedRuns(t)
	for tag, r := range admitted {
		s, ok := stored[tag]
		switch {
		case !ok:
			t.Errorf("run %s (%s) was admitted and is not stored", r.id, tag)
		case s.ID != r.id || s.Status != "COMPLETED":
			t.Errorf("run %s (%s) is stored as %s %s; want COMPLETED", r.id, tag, s.ID, s.Status)
		}
	}
	for tag, s := range stored {
		if admitted[tag] != nil {
			continue
		}
		if _, ok := load.unknown[tag]; ok {
			t.Errorf("run %s (%s) was admitted, %s, but its client got no answer: %v", s.ID, tag, s.Status, load.unknown[tag])
		} else {
			t.Errorf("run %s (%s) is stored, %s, and no client asked for it", s.ID, tag, s.Status)
		}
	}
	// The event log itself: a run finished twice, after its subscriber
	// had completed, would show here only.
	b, err := redis.Open(c.redis.URL(), redis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, r := range load.runs {
		logged, err := b.Replay(t.Context(), r.id, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, e := range logged {
			got = append(got, fmt.Sprintf("#%d %s", e.Seq, e.Type))
		}
		for _, e := range r.events {
			want = append(want, fmt.Sprintf("#%d %s", e.Seq, e.Type))
		}
		if !slices.Equal(got, want) {
			t.Errorf("run %s (%s): the event log holds %v; its subscriber saw %v", r.id, r.tag, got, want)
		}
	}
	if t.Failed() {
		return
	}
	if len(load.runs) < 20 || load.resumes() == 0 {
		// Too little flowed for the test to mean anything.
		t.Errorf("%d runs admitted, %d subscriptions resumed; want at least 20 runs and some resumed", len(load.runs), load.resumes())
	}
}

// replace starts a process named name, of command (api or worker), to
// replace old, waits until it is ready, and sends old SIGTERM; it checks
// that old exits 0 — a worker within its grace period, leaving no
// container — and logs how long each step took.
//
// An api joins the load balancer once ready, and old leaves it only
// endpointLag after its SIGTERM, as a Service's endpoints follow a pod
// that terminates: clients still reach it meanwhile. A burst of run
// mutations is sent to old around its SIGTERM, so that some are in flight
// when it comes.
func (c *cluster) replace(load *rollLoad, old *proc, name, command string) {
	t := c.t
	t.Helper()
	begin := time.Now()
	p := c.start(name, command)
	c.waitReady(p, readyWithin)
	ready := time.Since(begin)
	if status, err := p.health(); err != nil || status != http.StatusOK {
		t.Errorf("%s /health: %d %v; want 200", p.name, status, err)
	}
	var note string
	var burst func() (admitted, unsent int)
	if command == "api" {
		load.fleet.add(p)
		burst = load.burst(old, burstSize)
		time.Sleep(burstSize * burstEvery / 2) // SIGTERM in the middle of it
	} else {
		note = fmt.Sprintf(", holding %d jobs", c.heldBy(old))
	}
	resumes := load.resumes()
	signalled := time.Now()
	old.signal(t, syscall.SIGTERM)
	if command == "api" {
		time.AfterFunc(endpointLag, func() { load.fleet.remove(old) })
	}
	if err := old.waitExit(t, stopWithin); err != nil {
		t.Errorf("%s after SIGTERM: %v; want exit status 0", old.name, err)
	}
	exited := time.Since(signalled)
	if command == "worker" {
		if exited > grace {
			t.Errorf("%s took %v to exit after SIGTERM; its grace period is %v", old.name, exited, grace)
		}
		if left := poolContainers(t, old); len(left) > 0 {
			t.Errorf("%s left %d containers behind", old.name, len(left))
		}
	}
	if burst != nil {
		admitted, unsent := burst()
		note = fmt.Sprintf(", amid a burst of %d run mutations: %d admitted, %d could not connect", burstSize, admitted, unsent)
	}
	t.Logf("%s replaced by %s: ready %v after its start; %s exited %v after SIGTERM%s; %d subscriptions resumed meanwhile",
		old.name, p.name, ready.Round(10*time.Millisecond), old.name, exited.Round(10*time.Millisecond), note, load.resumes()-resumes)
}

// health returns p's /health status.
func (p *proc) health() (int, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.url("/health"))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// heldBy is how many jobs worker w holds now (claimed, not acknowledged).
func (c *cluster) heldBy(w *proc) int {
	host, _ := os.Hostname()
	pending, err := c.rdb.XPendingExt(c.t.Context(), &goredis.XPendingExtArgs{
		Stream: jobStream, Group: jobGroup, Start: "-", End: "+", Count: 1000,
		Consumer: fmt.Sprintf("%s-%d", host, w.pid()), // workers name themselves host-pid
	}).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	return len(pending)
}

// storedRun is a run as the store holds it.
type storedRun struct {
	ID     string `bson:"_id"`
	Status string `bson:"status"`
	Stdin  string `bson:"stdin"`
}

// storedRuns reads every run of the test's database, by tag (its stdin
// without the newline), from the store's collection directly: the API
// has no query for runs nobody holds the id of.
func (c *cluster) storedRuns(t *testing.T) map[string]storedRun {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	cur, err := client.Database(c.db).Collection("runs").Find(t.Context(), bson.D{},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "status", Value: 1}, {Key: "stdin", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var runs []storedRun
	if err := cur.All(t.Context(), &runs); err != nil {
		t.Fatal(err)
	}
	out := map[string]storedRun{}
	for _, r := range runs {
		out[strings.TrimSuffix(r.Stdin, "\n")] = r
	}
	return out
}

// fleet is the api processes a load balancer sends clients to, in turn.
type fleet struct {
	mu   sync.Mutex
	apis []*proc
	next int
}

func (f *fleet) pick() *proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	return f.apis[f.next%len(f.apis)]
}

func (f *fleet) add(p *proc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apis = append(f.apis, p)
}

func (f *fleet) remove(p *proc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apis = slices.DeleteFunc(f.apis, func(q *proc) bool { return q == p })
}

// rollRun is one run as its client saw it.
type rollRun struct {
	tag, id string
	events  []event
	// resumes counts the subscriptions opened again after a lost connection.
	resumes int
	// sent is when the run mutation was sent, finished when FINISHED came.
	sent, finished time.Time
	err            error // why following it failed
}

// rollLoad is the clients of the rolling deploy and what they saw.
type rollLoad struct {
	fleet *fleet

	mu   sync.Mutex
	runs []*rollRun
	// unknown holds, by tag, run mutations that got no answer after they
	// were sent (connected): they may have been admitted.
	unknown map[string]error
	// refused counts run mutations and subscriptions that could not
	// connect, sent again to another api.
	refused int
	// resumed counts subscriptions opened again after a lost connection.
	resumed int
	errs    []error
}

// client runs programs as one editor until ctx ends, then follows its
// last run to the end.
func (l *rollLoad) client(ctx context.Context, i int) {
	// An address of its own (any of 127.0.0.0/8 reaches the apis), as
	// children at different schools have.
	from := fmt.Sprintf("127.0.0.%d", 110+i)
	httpClient := httpFrom(from)
	httpClient.Timeout = time.Minute // a request is never given up on while the api may still answer
	defer httpClient.CloseIdleConnections()
	o := gqlws.Options{Protocol: []string{transportWS, legacyWS}[i%2], From: from}
	for n := 1; ctx.Err() == nil; n++ {
		r := &rollRun{tag: fmt.Sprintf("client%d-run%d", i, n)}
		if l.start(httpClient, r) {
			l.follow(r, o)
			l.mu.Lock()
			l.runs = append(l.runs, r)
			l.mu.Unlock()
		}
		sleepCtx(ctx, rollPause+rand.N(rollPause))
	}
}

// start sends r's run mutation to an api, and again to another while one
// cannot be connected to; it reports whether the run was admitted.
func (l *rollLoad) start(client *http.Client, r *rollRun) bool {
	for attempt := 1; ; attempt++ {
		admitted, unsent := l.send(client, l.fleet.pick(), r)
		if !unsent || attempt == 10 {
			return admitted
		}
		// Nothing was sent: safe to send again, elsewhere.
		l.mu.Lock()
		l.refused++
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

// send sends r's run mutation to api once, and reports whether the run
// was admitted, or the request never left because no connection could be
// made. Any other failure is recorded: as unknown when the request may
// have been sent, as an error otherwise.
func (l *rollLoad) send(client *http.Client, api *proc, r *rollRun) (admitted, unsent bool) {
	r.sent = time.Now()
	status, data, errs, err := postWith(client, api, "", tagRunMutation, map[string]any{"code": tagProgram, "stdin": r.tag + "\n"})
	if notConnected(err) {
		return false, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if l.unknown == nil {
			l.unknown = map[string]error{}
		}
		l.unknown[r.tag] = err
		return false, false
	}
	var started struct{ Run run }
	if status != http.StatusOK || len(errs) > 0 || json.Unmarshal(data, &started) != nil || started.Run.Status != "QUEUED" {
		l.errs = append(l.errs, fmt.Errorf("%s: run mutation on %s answered %d %s %+v; want an id and QUEUED", r.tag, api.name, status, data, errs))
		return false, false
	}
	r.id = started.Run.ID
	return true, false
}

// burst sends n run mutations to api, one every burstEvery, each on a
// connection of its own, and follows those admitted; wait waits for them
// and returns how many were admitted and could not connect. Sent as api
// receives SIGTERM, some are in flight then: those it has read must be
// answered (its graceful shutdown finishes them), those it has not are
// refused or cut, and never admitted.
func (l *rollLoad) burst(api *proc, n int) (wait func() (admitted, unsent int)) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var admitted, unsent int
	for i := range n {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * burstEvery)
			r := &rollRun{tag: fmt.Sprintf("%s-burst%d", api.name, i)}
			ok, no := l.send(client, api, r)
			mu.Lock()
			if ok {
				admitted++
			}
			if no {
				unsent++
			}
			mu.Unlock()
			if ok {
				l.follow(r, gqlws.Options{Protocol: transportWS})
				l.mu.Lock()
				l.runs = append(l.runs, r)
				l.mu.Unlock()
			}
		})
	}
	return func() (int, int) { wg.Wait(); return admitted, unsent }
}

// notConnected reports whether err is the failure to connect (refused,
// or reset during the handshake by a listener that just closed): nothing
// was sent.
func notConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// follow subscribes to r's events on some api until FINISHED, and on
// another (or the same) with afterSeq = the last seq seen whenever the
// connection is lost.
func (l *rollLoad) follow(r *rollRun, o gqlws.Options) {
	deadline := time.Now().Add(followWithin)
	for connected := false; ; {
		if time.Now().After(deadline) {
			r.err = fmt.Errorf("not finished after %v", followWithin)
			return
		}
		api := l.fleet.pick()
		conn, err := gqlws.DialWith(context.Background(), api.url("/graphql"), o)
		if err != nil {
			if notConnected(err) {
				l.mu.Lock()
				l.refused++
				l.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if connected {
			r.resumes++
			l.mu.Lock()
			l.resumed++
			l.mu.Unlock()
		}
		connected = true
		var after int64
		if len(r.events) > 0 {
			after = r.events[len(r.events)-1].Seq
		}
		done := conn.SubscribeRunEvents("1", r.id, after) == nil && r.read(conn, api, deadline)
		conn.Close()
		if done {
			return
		}
	}
}

// read appends the events conn delivers to r until the subscription ends,
// and reports whether it did: false when the connection was lost first.
func (r *rollRun) read(conn *gqlws.Conn, api *proc, deadline time.Time) bool {
	for {
		m, err := conn.Next(deadline)
		switch {
		case err != nil:
			return false
		case m.Type == "complete":
			if len(r.events) == 0 || r.events[len(r.events)-1].Type != "FINISHED" {
				// The client would take the run for finished: a shutting
				// down api must close the connection instead.
				r.err = fmt.Errorf("%s completed the subscription before FINISHED", api.name)
			}
			r.finished = time.Now()
			return true
		}
		e, err := m.Event()
		if err != nil {
			r.err = fmt.Errorf("%s: %w", api.name, err)
			return true
		}
		r.events = append(r.events, e)
	}
}

func (l *rollLoad) resumes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resumed
}

// report logs what flowed: runs before, during and after the roll, how
// long they took from mutation to FINISHED, resumed subscriptions,
// failed connections and unknown outcomes.
func (l *rollLoad) report(t *testing.T, rollStart, rollEnd time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	phases := []struct {
		name     string
		from, to time.Time
	}{
		{"before the roll", time.Time{}, rollStart},
		{"during the roll", rollStart, rollEnd},
		{"after the roll", rollEnd, time.Now()},
	}
	for _, ph := range phases {
		var took []time.Duration
		resumes := 0
		for _, r := range l.runs {
			if r.err == nil && !r.finished.Before(ph.from) && r.finished.Before(ph.to) {
				took = append(took, r.finished.Sub(r.sent))
				resumes += r.resumes
			}
		}
		if len(took) == 0 {
			t.Logf("%s: no run finished", ph.name)
			continue
		}
		slices.Sort(took)
		t.Logf("%s: %d runs finished, mutation to FINISHED p50 %v, p95 %v, max %v; %d subscriptions resumed",
			ph.name, len(took), took[len(took)/2].Round(time.Millisecond), took[len(took)*95/100].Round(time.Millisecond),
			took[len(took)-1].Round(time.Millisecond), resumes)
	}
	t.Logf("roll took %v; %d runs admitted in all; %d connections failed and retried elsewhere; %d run mutations without an answer",
		rollEnd.Sub(rollStart).Round(10*time.Millisecond), len(l.runs), l.refused, len(l.unknown))
	for tag, err := range l.unknown {
		t.Logf("no answer to the run mutation of %s: %v", tag, err)
	}
}
