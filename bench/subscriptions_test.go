package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/redis"
	"coderunner/broker/redis/redistest"
	"coderunner/internal/stats"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// subscriptionLoad is the set-up of benchmark d: a redis-server, an api
// child process on it, and this process playing the clients and the
// workers. Runs are created with runs.Service.Start on the SQLite file the
// child reads (no worker claims them); events are published through the
// broker, as a worker does, and reach the child over Redis pub/sub.
type subscriptionLoad struct {
	api   *apiProcess
	pub   *redis.Broker
	runs  *runs.Service
	live  []string // RUNNING runs (QUEUED, STARTED so far) subscribed to
	ended []string // runs finished before anyone subscribes
	col   *collector
	subs  []*sub // on live runs
}

// liveBacklog is the number of events a live run has when subscribed to:
// QUEUED and STARTED.
const liveBacklog = 2

type loadConfig struct {
	liveRuns, perLive   int // subscriptions on live runs: liveRuns × perLive
	endedRuns, perEnded int // subscriptions on finished runs: endedRuns × perEnded
}

// collector gathers what the subscriptions' readers receive.
type collector struct {
	delivered atomic.Int64 // events, all subscriptions together
	mu        sync.Mutex
	latencies []time.Duration // STDOUT events: from just before Publish to receipt
	errs      []error
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

func (c *collector) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.errs...)
}

func startSubscriptionLoad(tb testing.TB, cfg loadConfig) *subscriptionLoad {
	tb.Helper()
	ctx := context.Background()
	redisURL := redistest.Start(tb)
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "coderunner.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	// No worker claims the jobs: let them all wait.
	pub, err := redis.Open(redisURL, redis.Config{Options: broker.Options{MaxWaiting: 1 << 30}, Log: logger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pub.Close() })
	l := &subscriptionLoad{pub: pub, runs: &runs.Service{Store: db, Broker: pub}, col: &collector{}}

	// Live runs are marked RUNNING and get STARTED, as a worker does when
	// it claims one.
	// The runs are the guest's that the load subscribes as, from loopback.
	for range cfg.liveRuns {
		run, err := l.runs.Start(ctx, coderunner.Caller{Addr: "127.0.0.1"}, "python", coderunner.RunRequest{Code: "input()"}, true)
		if err != nil {
			tb.Fatal(err)
		}
		run.Status, run.StartedAt = coderunner.StatusRunning, time.Now().UTC()
		if ok, err := l.runs.Store.UpdateRun(ctx, run); !ok || err != nil {
			tb.Fatalf("mark run RUNNING: %v, %v", ok, err)
		}
		if _, err := pub.Publish(ctx, coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventStarted}); err != nil {
			tb.Fatal(err)
		}
		l.live = append(l.live, run.ID)
	}
	for range cfg.endedRuns {
		run, err := l.runs.Start(ctx, coderunner.Caller{Addr: "127.0.0.1"}, "python", coderunner.RunRequest{Code: helloProgram}, false)
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range []coderunner.RunEvent{{Type: coderunner.EventStarted}, {Type: coderunner.EventStdout, Text: "hi\n"}} {
			e.RunID = run.ID
			if _, err := pub.Publish(ctx, e); err != nil {
				tb.Fatal(err)
			}
		}
		run.Status, run.Stdout, run.StartedAt = coderunner.StatusCompleted, "hi\n", time.Now().UTC()
		if ok, err := l.runs.Finish(ctx, run); !ok || err != nil {
			tb.Fatalf("finish run: %v, %v", ok, err)
		}
		l.ended = append(l.ended, run.ID)
	}

	l.api = startAPIProcess(tb, dir, redisURL)
	// Warm the child up (schema, query cache, first connections), so that
	// first-use costs are in the baseline rather than in the figures.
	for range 10 {
		ws, err := dialWS(ctx, l.api.URL)
		if err != nil {
			tb.Fatal(err)
		}
		if err := ws.subscribe("1", l.live[0], 0); err != nil {
			tb.Fatal(err)
		}
		if m, err := ws.next(time.Now().Add(10 * time.Second)); err != nil || m.Type != "next" {
			tb.Fatalf("warm-up subscription: %+v, %v", m, err)
		}
		ws.close()
	}
	return l
}

// sub is one client's subscription, on a WebSocket of its own, and the
// goroutine that reads it.
type sub struct {
	ws    *wsClient
	runID string
	done  chan struct{} // closed when the reader returns
	// Set by the reader; read after done or after the collector counted.
	last      atomic.Int64 // last seq received
	types     []string
	completed bool // the server completed the subscription after FINISHED
	readErr   error
}

// subscribe opens a connection, subscribes to runID from the start and
// starts its reader; col, if not nil, receives what it reads.
func (l *subscriptionLoad) subscribe(ctx context.Context, runID string, col *collector) (*sub, error) {
	ws, err := dialWS(ctx, l.api.URL)
	if err != nil {
		return nil, err
	}
	s := &sub{ws: ws, runID: runID, done: make(chan struct{})}
	if err := ws.subscribe("1", runID, 0); err != nil {
		ws.close()
		return nil, err
	}
	go s.read(col)
	return s, nil
}

// read receives events until the subscription completes or the connection
// closes, checking that seqs follow each other, with no gap and no repeat.
func (s *sub) read(col *collector) {
	defer close(s.done)
	finished := false
	for {
		_, typ, e, err := s.ws.nextEvent(time.Time{})
		received := time.Now()
		if err == nil && typ == "complete" {
			s.completed = true
			if !finished && col != nil {
				col.fail(fmt.Errorf("run %s: subscription completed before FINISHED", s.runID))
			}
			return
		}
		if err == nil && e.Seq != s.last.Load()+1 {
			err = fmt.Errorf("run %s: event seq %d after %d", s.runID, e.Seq, s.last.Load())
		}
		if err != nil {
			if col != nil && !errors.Is(err, net.ErrClosed) {
				col.fail(err)
			}
			s.readErr = err
			return
		}
		s.types = append(s.types, e.Type)
		switch e.Type {
		case "STDOUT":
			if sent, err := strconv.ParseInt(deref(e.Text), 10, 64); err == nil && col != nil {
				col.mu.Lock()
				col.latencies = append(col.latencies, received.Sub(time.Unix(0, sent)))
				col.mu.Unlock()
			}
		case "FINISHED":
			finished = true
		}
		s.last.Store(e.Seq)
		if col != nil {
			col.delivered.Add(1)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// openLive opens perLive subscriptions on every live run, dialing from a
// few goroutines at a time, and waits until each has received the run's
// QUEUED and STARTED events from the replay buffer.
func (l *subscriptionLoad) openLive(perLive int) error {
	ctx := context.Background()
	n := len(l.live) * perLive
	l.subs = make([]*sub, n)
	var idx atomic.Int64
	err := concurrently(32, n, func(int) error {
		i := int(idx.Add(1) - 1)
		s, err := l.subscribe(ctx, l.live[i/perLive], l.col)
		if err != nil {
			return fmt.Errorf("subscription %d: %w", i, err)
		}
		l.subs[i] = s
		return nil
	})
	if err != nil {
		return err
	}
	return l.waitDelivered(int64(n*liveBacklog), time.Minute)
}

// waitDelivered waits until the collector has counted total events.
func (l *subscriptionLoad) waitDelivered(total int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for l.col.delivered.Load() < total {
		if err := l.col.err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d events delivered after %v", l.col.delivered.Load(), total, timeout)
		}
		time.Sleep(time.Millisecond)
	}
	if got := l.col.delivered.Load(); got != total {
		return fmt.Errorf("%d events delivered, want %d", got, total)
	}
	return l.col.err()
}

// round publishes one STDOUT event on every live run, from publishers
// goroutines (several workers), spread evenly over spread (0: as fast as
// they can), and waits until every subscription has received it. Each
// event's text is the time just before its Publish.
func (l *subscriptionLoad) round(publishers int, spread time.Duration) error {
	ctx := context.Background()
	want := l.col.delivered.Load() + int64(len(l.subs))
	began := time.Now()
	var idx atomic.Int64
	err := concurrently(publishers, len(l.live), func(int) error {
		i := idx.Add(1) - 1
		if spread > 0 {
			time.Sleep(time.Until(began.Add(spread * time.Duration(i) / time.Duration(len(l.live)))))
		}
		text := strconv.FormatInt(time.Now().UnixNano(), 10)
		_, err := l.pub.Publish(ctx, coderunner.RunEvent{RunID: l.live[i], Type: coderunner.EventStdout, Text: text})
		return err
	})
	if err != nil {
		return err
	}
	return l.waitDelivered(want, time.Minute)
}

// checkEnded subscribes perEnded times to every finished run, all at once,
// and checks that each subscription replays the run's four events and
// completes. It returns the time from subscribing to completion of each.
func (l *subscriptionLoad) checkEnded(perEnded int) ([]time.Duration, error) {
	ctx := context.Background()
	n := len(l.ended) * perEnded
	took := make([]time.Duration, n)
	var idx atomic.Int64
	err := concurrently(32, n, func(int) error {
		i := int(idx.Add(1) - 1)
		began := time.Now()
		s, err := l.subscribe(ctx, l.ended[i/perEnded], nil)
		if err != nil {
			return err
		}
		defer s.ws.close()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			return fmt.Errorf("finished run %s: no completion within 30 s", s.runID)
		}
		took[i] = time.Since(began)
		want := []string{"QUEUED", "STARTED", "STDOUT", "FINISHED"}
		if !s.completed || !slices.Equal(s.types, want) {
			return fmt.Errorf("finished run %s replayed %v (completed %v, %v), want %v then complete", s.runID, s.types, s.completed, s.readErr, want)
		}
		return nil
	})
	return took, err
}

// finishLive finishes every live run, as a worker does, and checks that
// every subscription receives FINISHED and completes.
func (l *subscriptionLoad) finishLive() error {
	ctx := context.Background()
	var idx atomic.Int64
	err := concurrently(8, len(l.live), func(int) error {
		id := l.live[idx.Add(1)-1]
		run, err := l.runs.Store.Run(ctx, id)
		if err != nil {
			return err
		}
		run.Status = coderunner.StatusCompleted
		if ok, err := l.runs.Finish(ctx, run); !ok || err != nil {
			return fmt.Errorf("finish run %s: %v, %v", id, ok, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	deadline := time.After(time.Minute)
	for _, s := range l.subs {
		select {
		case <-s.done:
		case <-deadline:
			return fmt.Errorf("subscriptions still open a minute after their runs finished")
		}
		if !s.completed {
			return fmt.Errorf("run %s: subscription ended without completing: %v", s.runID, s.readErr)
		}
	}
	return l.col.err()
}

func (l *subscriptionLoad) closeAll() {
	for _, s := range l.subs {
		if s != nil {
			s.ws.close()
		}
	}
}

// BenchmarkSubscriptions is benchmark d: one api process holding 5,000
// runEvents subscriptions over WebSocket (1,000 live runs × 5 subscribers,
// one connection each) with events arriving through Redis pub/sub. It
// reports the api's memory per subscription and the delivery latency of
// STDOUT events from just before Publish (in this process, playing the
// workers) to their receipt by each client (also in this process).
//
// Each b.Loop iteration is one round: one event on every live run, so
// 5,000 deliveries, published by 8 goroutines. Rounds rotate through three
// paces: a burst (all 1,000 events as fast as they go: the 5,000
// deliveries queue up at once), the events spread over 0.5 s (10,000
// deliveries/s) and over 1 s (5,000 deliveries/s). Before the rounds, 250
// subscriptions to 50 finished runs check that those replay and complete
// while the 5,000 are held; after them, every live run finishes and every
// subscription must receive FINISHED and complete. Targets: 5,000
// subscriptions on one process, p99 delivery ≤ 100 ms.
func BenchmarkSubscriptions(b *testing.B) {
	const (
		liveRuns, perLive   = 1000, 5
		endedRuns, perEnded = 50, 5
		publishers          = 8
	)
	paces := []struct {
		name   string
		spread time.Duration
	}{
		{"1,000 events at once (burst)", 0},
		{"1,000 over 0.5 s (10,000 deliveries/s)", 500 * time.Millisecond},
		{"1,000 over 1 s (5,000 deliveries/s)", time.Second},
	}
	l := startSubscriptionLoad(b, loadConfig{liveRuns, perLive, endedRuns, perEnded})
	defer l.closeAll()
	n := liveRuns * perLive

	before, err := l.api.memory()
	if err != nil {
		b.Fatal(err)
	}
	rssBefore, err := l.api.rssBytes()
	if err != nil {
		b.Fatal(err)
	}
	clientBefore := readMemStats()
	opened := time.Now()
	if err := l.openLive(perLive); err != nil {
		b.Fatal(err)
	}
	openTook := time.Since(opened)
	time.Sleep(time.Second) // let the api settle
	after, err := l.api.memory()
	if err != nil {
		b.Fatal(err)
	}
	rssAfter, err := l.api.rssBytes()
	if err != nil {
		b.Fatal(err)
	}
	clientAfter := readMemStats()
	active, err := l.api.activeSubscriptions()
	if err != nil {
		b.Fatal(err)
	}
	if active != n {
		b.Fatalf("the api reports %d active subscriptions, want %d", active, n)
	}

	endedTook, err := l.checkEnded(perEnded)
	if err != nil {
		b.Fatal(err)
	}

	// Per pace, samples of rounds during which the api collected garbage
	// (gc) and of the others (calm), kept apart: a collection of the
	// api's heap — mostly the subscriptions' own state — costs it about
	// as much CPU as a round's deliveries.
	type paceStats struct {
		calm, gc         []time.Duration // delivery latencies
		calmRounds, gcs  int
		drains, roundP99 []time.Duration
	}
	byPace := make([]paceStats, len(paces))
	trace := os.Getenv("CODERUNNER_BENCH_TRACE") != ""
	var apiCPU time.Duration
	rounds := 0
	for b.Loop() {
		b.StopTimer()
		time.Sleep(200 * time.Millisecond)
		l.col.mu.Lock()
		l.col.latencies = l.col.latencies[:0]
		l.col.mu.Unlock()
		cpuBefore, err := cpuTime(l.api.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		var gcBefore, gcAfter gcStats
		if err := l.api.getJSON("/bench/gc", &gcBefore); err != nil {
			b.Fatal(err)
		}
		busyBefore, _ := machineBusy()
		b.StartTimer()
		k := rounds % len(paces)
		began := time.Now()
		if err := l.round(publishers, paces[k].spread); err != nil {
			b.Fatalf("round %d (%s): %v", rounds, paces[k].name, err)
		}
		drain := time.Since(began)
		b.StopTimer()
		cpuAfter, err := cpuTime(l.api.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		busyAfter, _ := machineBusy()
		if err := l.api.getJSON("/bench/gc", &gcAfter); err != nil {
			b.Fatal(err)
		}
		apiCPU += cpuAfter - cpuBefore
		l.col.mu.Lock()
		lat := slices.Clone(l.col.latencies)
		l.col.mu.Unlock()
		st := &byPace[k]
		st.drains, st.roundP99 = append(st.drains, drain), append(st.roundP99, stats.Percentile(lat, 99))
		if gcAfter.NumGC != gcBefore.NumGC {
			st.gc, st.gcs = append(st.gc, lat...), st.gcs+1
		} else {
			st.calm, st.calmRounds = append(st.calm, lat...), st.calmRounds+1
		}
		if trace {
			fmt.Fprintf(os.Stderr, "round %2d %-22s p99 %6.1f ms, all delivered after %5.0f ms; CPU: api %4.0f ms, machine %4.0f ms; api GCs %d, heap %d MiB\n",
				rounds, paces[k].name, ms(stats.Percentile(lat, 99)), ms(drain), ms(cpuAfter-cpuBefore), ms(busyAfter-busyBefore),
				gcAfter.NumGC-gcBefore.NumGC, gcAfter.HeapAlloc>>20)
		}
		b.StartTimer()
		rounds++
	}
	b.StopTimer()
	for _, s := range l.subs {
		if got := s.last.Load(); got != int64(liveBacklog+rounds) {
			b.Fatalf("run %s: last seq %d after %d rounds, want %d", s.runID, got, rounds, liveBacklog+rounds)
		}
	}
	if err := l.finishLive(); err != nil {
		b.Fatal(err)
	}

	// The report: b.Log keeps 10 lines of a benchmark's output, so 9.
	perSub := func(after, before uint64) float64 { return float64(int64(after)-int64(before)) / float64(n) / 1024 }
	heapPerSub := perSub(after.HeapInuse+after.StackInuse, before.HeapInuse+before.StackInuse)
	rssPerSub := perSub(rssAfter, rssBefore)
	cpuPerDelivery := float64(apiCPU.Microseconds()) / float64(max(1, rounds*n))
	var r strings.Builder
	fmt.Fprintf(&r, "%d subscriptions (%d live runs x %d, a WebSocket each) held by one api process (it reports %d active; opened in %.1f s): target >= 5,000 %s\n",
		n, liveRuns, perLive, active, openTook.Seconds(), verdict(active >= 5000))
	fmt.Fprintf(&r, "api per subscription: RSS %.1f KiB (%.0f -> %.0f MiB), heap+stacks %.1f KiB (heap %.1f, stacks %.1f), %.1f goroutines; clients (this process) %.1f KiB; api CPU per delivery %.0f µs\n",
		rssPerSub, mib(rssBefore), mib(rssAfter), heapPerSub,
		perSub(after.HeapInuse, before.HeapInuse), perSub(after.StackInuse, before.StackInuse),
		float64(after.Goroutines-before.Goroutines)/float64(n),
		perSub(clientAfter.HeapInuse+clientAfter.StackInuse, clientBefore.HeapInuse+clientBefore.StackInuse), cpuPerDelivery)
	fmt.Fprintf(&r, "%-38s %6s %6s %6s %6s %6s %6s %8s %9s %7s\n", "delivery ms, Publish -> client",
		"p50", "p95", "p99", "max", "rounds", "api GC", "calm p99", "round p99", "drain")
	allMet := true
	for k, pace := range paces {
		st := byPace[k]
		all := append(slices.Clone(st.calm), st.gc...)
		if len(all) == 0 {
			continue
		}
		p99 := stats.Percentile(all, 99)
		allMet = allMet && p99 <= 100*time.Millisecond
		fmt.Fprintf(&r, "%-38s %6.1f %6.1f %6.1f %6.0f %6d %6d %8.1f %9.1f %7.0f\n", pace.name,
			ms(stats.Percentile(all, 50)), ms(stats.Percentile(all, 95)), ms(p99), ms(slices.Max(all)),
			st.calmRounds+st.gcs, st.gcs, ms(stats.Percentile(st.calm, 99)),
			ms(stats.Percentile(st.roundP99, 50)), ms(stats.Percentile(st.drains, 50)))
		b.ReportMetric(ms(p99), "p99-ms-"+[]string{"burst", "10k/s", "5k/s"}[k])
	}
	fmt.Fprintf(&r, "p99 <= 100 ms at every pace over all rounds: %s (calm p99: rounds without an api GC; round p99, drain: medians of the rounds' own p99 and time to the last delivery)\n", verdict(allMet))
	fmt.Fprintf(&r, "%d subscriptions to %d finished runs, opened while the %d were held, replayed QUEUED STARTED STDOUT FINISHED and completed (p50 %.1f ms, p99 %.1f ms); then all %d live runs finished and every subscription got FINISHED and completed",
		len(endedTook), endedRuns, n, ms(stats.Percentile(endedTook, 50)), ms(stats.Percentile(endedTook, 99)), liveRuns)
	b.Log(r.String())
	b.ReportMetric(float64(active), "subscriptions")
	b.ReportMetric(rssPerSub, "api-rss-KiB/sub")
	b.ReportMetric(heapPerSub, "api-heap+stack-KiB/sub")
	b.ReportMetric(cpuPerDelivery, "api-cpu-µs/delivery")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the user+system CPU time of process pid, from /proc/PID/stat
// (in USER_HZ ticks, 100 a second on Linux).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	// After the name: state (3), ..., utime (14), stime (15).
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// machineBusy is the CPU time all cores have spent busy since boot, from
// /proc/stat.
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	var user, nice, system, idle, iowait, irq, softirq int64
	if _, err := fmt.Sscanf(string(data), "cpu %d %d %d %d %d %d %d", &user, &nice, &system, &idle, &iowait, &irq, &softirq); err != nil {
		return 0, fmt.Errorf("parse /proc/stat: %w", err)
	}
	return time.Duration(user+nice+system+irq+softirq) * 10 * time.Millisecond, nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestSubscriptionHarness runs benchmark d's harness small (50 live
// subscriptions, 10 on finished runs, 3 rounds), without Docker: it checks
// that every event reaches every subscriber once and in order through the
// api child and Redis, and that every subscription completes.
func TestSubscriptionHarness(t *testing.T) {
	l := startSubscriptionLoad(t, loadConfig{liveRuns: 10, perLive: 5, endedRuns: 5, perEnded: 2})
	defer l.closeAll()
	if err := l.openLive(5); err != nil {
		t.Fatal(err)
	}
	if active, err := l.api.activeSubscriptions(); err != nil || active != 50 {
		t.Fatalf("active subscriptions %d, %v; want 50", active, err)
	}
	if took, err := l.checkEnded(2); err != nil || len(took) != 10 {
		t.Fatalf("subscriptions to finished runs: %v (%d)", err, len(took))
	}
	for i := range 3 {
		if err := l.round(2, time.Duration(i)*50*time.Millisecond); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if got := len(l.col.latencies); got != 150 {
		t.Errorf("%d latencies, want 150", got)
	}
	for _, s := range l.subs {
		if got := s.last.Load(); got != liveBacklog+3 {
			t.Errorf("run %s: last seq %d, want %d", s.runID, got, liveBacklog+3)
		}
	}
	if err := l.finishLive(); err != nil {
		t.Fatal(err)
	}
	// The gauge goes down just after the server completes a subscription.
	deadline := time.Now().Add(5 * time.Second)
	for {
		active, err := l.api.activeSubscriptions()
		if err == nil && active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("active subscriptions %d, %v after every run finished; want 0", active, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
