package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// countdown prints a line every 100 ms for 3 s: long enough to be caught
// in the middle.
const countdown = "import time\nfor i in range(30):\n    print(i, flush=True)\n    time.sleep(0.1)\n"

var countdownOut = func() string {
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}()

// linesAtLeast returns a stop condition for ws.until: n lines of stdout
// have arrived.
func linesAtLeast(n int) func(event) bool {
	lines := 0
	return func(e event) bool {
		if e.Type == "STDOUT" && e.Text != nil {
			lines += strings.Count(*e.Text, "\n")
		}
		return lines >= n
	}
}

// TestWorkerStopsMidRun stops the worker that holds a run in its middle.
// kill -9: the job is claimed again after the claim timeout and the run
// carried out again, from the start, by the other worker; SIGTERM (a
// rolling deploy): the worker stops claiming, finishes the run within its
// grace period and exits 0. Either way the run finishes exactly once,
// COMPLETED with its whole output, and a subscriber on the other api sees
// one FINISHED and seqs without a gap. A run queued after the signal goes
// to the other worker.
func TestWorkerStopsMidRun(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
		// rerun: the other worker carries the run out again; otherwise
		// the signalled worker finishes it.
		rerun bool
	}{
		{"kill -9", syscall.SIGKILL, true},
		{"SIGTERM", syscall.SIGTERM, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, 2, 2)
			apiA, apiB := c.apis[0], c.apis[1]

			id := startRun(t, apiA, countdown)
			sub := subscribe(t, apiB, transportWS, id, 0)
			seen := sub.until(30*time.Second, linesAtLeast(5))
			if seen[len(seen)-1].Type == "FINISHED" {
				t.Fatalf("run finished before it could be interrupted: %v", seen)
			}
			holder, survivor := c.firstHolder(id)
			if n := completedRuns(t, survivor); n != 0 {
				t.Fatalf("%s completed %d runs before any was finished", survivor.name, n)
			}

			signalled := time.Now()
			if tt.sig == syscall.SIGKILL {
				c.kill9(holder)
			} else {
				holder.signal(t, tt.sig)
				// Its HTTP server closes when it has taken the signal in:
				// from then on it claims nothing.
				eventually(t, 5*time.Second, holder.name+" stops serving after SIGTERM", func() error {
					if _, _, err := holder.readyz(); err == nil {
						return fmt.Errorf("%s still answers", holder.name)
					}
					return nil
				})
			}
			// Queued now, it can only go to the other worker.
			after := startRun(t, apiB, `print("after")`)

			if tt.rerun {
				// The job is taken over once its claim times out.
				c.waitTakeover(id, survivor, signalled)
			}

			all := append(seen, sub.rest(30*time.Second)...)
			final := checkStream(t, id, all)
			wantStarts := map[bool]int{true: 2, false: 1}[tt.rerun]
			if n := count(all, "STARTED"); n != wantStarts {
				t.Errorf("%d STARTED events; want %d: %v", n, wantStarts, all)
			}
			// Each attempt streams a prefix of the output, the last one
			// all of it.
			for i, attempt := range strings.SplitAfter(stdoutOf(marked(all)), "\x00") {
				attempt = strings.TrimSuffix(attempt, "\x00")
				if !strings.HasPrefix(countdownOut, attempt) {
					t.Errorf("attempt %d streamed %q; want a prefix of the program's output", i, attempt)
				}
			}
			if final.Status != "COMPLETED" || final.Stdout != countdownOut {
				t.Errorf("FINISHED run: %s, stdout %q; want COMPLETED with the whole output", final.Status, final.Stdout)
			}
			if got := getRun(t, apiA, id); got.Status != "COMPLETED" || got.Stdout != countdownOut {
				t.Errorf("stored run: %s, stdout %q, stderr %q; want COMPLETED with the whole output", got.Status, got.Stdout, got.Stderr)
			}

			afterSub := subscribe(t, apiA, transportWS, after, 0)
			if r := checkStream(t, after, afterSub.rest(30*time.Second)); r.Status != "COMPLETED" || r.Stdout != "after\n" {
				t.Errorf("run queued after the signal ended %s with stdout %q; want COMPLETED, \"after\\n\"", r.Status, r.Stdout)
			}
			// The survivor finished the run queued after the signal, and
			// after kill -9 the interrupted run too.
			want := map[bool]int{true: 2, false: 1}[tt.rerun]
			c.waitAcked()
			if n := completedRuns(t, survivor); n != want {
				t.Errorf("%s completed %d runs; want %d", survivor.name, n, want)
			}

			if tt.sig == syscall.SIGKILL {
				// Its containers stop by themselves: their launchers read
				// end-of-file once their worker is gone.
				eventually(t, 15*time.Second, "the killed worker's containers stop", func() error {
					for _, ct := range poolContainers(t, holder) {
						if ct.State == "running" {
							return fmt.Errorf("container %s is still running", ct.ID[:12])
						}
					}
					return nil
				})
				// Its replacements, started together as an orchestrator
				// would, remove them at start-up.
				for _, w := range []*proc{c.start("worker-c", "worker"), c.start("worker-d", "worker")} {
					c.waitReady(w, readyWithin)
				}
				if left := poolContainers(t, holder); len(left) > 0 {
					t.Errorf("%d containers of the killed worker left after new workers started", len(left))
				}
			} else {
				if err := holder.waitExit(t, grace+10*time.Second); err != nil {
					t.Errorf("%s after SIGTERM: %v; want exit status 0", holder.name, err)
				}
				if took := time.Since(signalled); took > grace {
					t.Errorf("%s took %v to exit after SIGTERM; the grace period is %v", holder.name, took, grace)
				}
				if left := poolContainers(t, holder); len(left) > 0 {
					t.Errorf("%s left %d containers behind after a clean exit", holder.name, len(left))
				}
			}
		})
	}
}

// marked returns events with a NUL STDOUT event before every STARTED but
// the first, so that stdoutOf separates the attempts of a run.
func marked(events []event) []event {
	var out []event
	nul, starts := "\x00", 0
	for _, e := range events {
		if e.Type == "STARTED" {
			if starts > 0 {
				out = append(out, event{Type: "STDOUT", Text: &nul})
			}
			starts++
		}
		out = append(out, e)
	}
	return out
}

// TestSubscriberResumesOnOtherAPI loses a subscriber's WebSocket to api A
// in the middle of a run — the client drops it, or api A shuts down (a
// rolling deploy) — and resumes on api B with afterSeq = the last seq it
// saw: across both connections it sees every event once, in order, ending
// with FINISHED — whether it comes back while the run goes on or after it
// has finished, over either subprotocol.
func TestSubscriberResumesOnOtherAPI(t *testing.T) {
	c := startCluster(t, 2, 2)
	apiA, apiB := c.apis[0], c.apis[1]
	tests := []struct {
		name string
		// protocol of the connection to api B.
		protocol string
		// afterFinish: resume only once the run has finished.
		afterFinish bool
		// shutdown: api A gets SIGTERM and closes the connection, rather
		// than the client dropping it. (Last: api A is gone after it.)
		shutdown bool
	}{
		{"client drops, resumes while running", transportWS, false, false},
		{"client drops, resumes after the run finished, legacy protocol", legacyWS, true, false},
		{"api A shuts down, resumes while running", transportWS, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := startRun(t, apiA, countdown)
			subA := subscribe(t, apiA, transportWS, id, 0)
			first := subA.until(30*time.Second, linesAtLeast(5))
			if tt.shutdown {
				apiA.signal(t, syscall.SIGTERM)
				first = append(first, subA.drain(10*time.Second)...)
				if subA.finished {
					t.Fatalf("api A completed the subscription when it shut down; want the connection closed, so the client resumes")
				}
				if err := apiA.waitExit(t, 20*time.Second); err != nil {
					t.Fatalf("api A after SIGTERM: %v; want exit status 0", err)
				}
			} else {
				subA.drop()
			}
			last := first[len(first)-1]
			if last.Type == "FINISHED" {
				t.Fatalf("run finished before the subscriber dropped: %v", first)
			}
			if tt.afterFinish {
				eventually(t, 30*time.Second, "run finishes", func() error {
					if r := getRun(t, apiB, id); r.Status != "COMPLETED" {
						return fmt.Errorf("run is %s", r.Status)
					}
					return nil
				})
			} else if r := getRun(t, apiB, id); r.Status != "RUNNING" {
				t.Fatalf("run is %s when the subscriber resumes; want RUNNING", r.Status)
			}

			subB := subscribe(t, apiB, tt.protocol, id, last.Seq)
			all := append(first, subB.rest(30*time.Second)...)
			final := checkStream(t, id, all)
			if n := count(all, "STARTED"); n != 1 {
				t.Errorf("%d STARTED events; want 1: %v", n, all)
			}
			if got := stdoutOf(all); got != countdownOut {
				t.Errorf("streamed stdout %q; want %q", got, countdownOut)
			}
			if final.Status != "COMPLETED" || final.Stdout != countdownOut {
				t.Errorf("FINISHED run: %s, stdout %q; want COMPLETED with the whole output", final.Status, final.Stdout)
			}
			// The dropped connection's subscription ends on api A, and
			// the completed one on api B.
			for _, api := range []*proc{apiA, apiB} {
				if api.exited() {
					continue
				}
				eventually(t, 10*time.Second, api.name+" closes its subscriptions", func() error {
					if n := api.metric(t, "coderunner_active_subscriptions"); n != 0 {
						return fmt.Errorf("%v active subscriptions", n)
					}
					return nil
				})
			}
		})
	}
}

// TestRedisRestartWhileIdle restarts Redis, empty, on the same port while
// nothing runs: every process reports not ready while it is down, ready
// again within a bound once it is back, without being restarted; then
// runs started through both apis stream and finish, on both workers.
func TestRedisRestartWhileIdle(t *testing.T) {
	const recoverWithin = 15 * time.Second
	c := startCluster(t, 2, 2)
	apiA, apiB := c.apis[0], c.apis[1]
	const code = "import time\nprint('one', flush=True)\ntime.sleep(2)\nprint('two')\n"

	// One run first, so that every connection and the consumer group exist.
	id := startRun(t, apiA, code)
	if final := checkStream(t, id, subscribe(t, apiB, transportWS, id, 0).rest(30*time.Second)); final.Status != "COMPLETED" {
		t.Fatalf("run before the restart ended %s", final.Status)
	}
	c.waitAcked()
	before := map[*proc]int{}
	for _, w := range c.workers {
		before[w] = completedRuns(t, w)
	}

	if err := c.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.all() {
		eventually(t, 10*time.Second, p.name+" reports Redis down", func() error {
			if status, body, err := p.readyz(); err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "redis") {
				return fmt.Errorf("/readyz: %d %s %v; want 503 naming redis", status, body, err)
			}
			return nil
		})
	}
	if err := c.redis.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for _, p := range c.all() {
		c.waitReady(p, recoverWithin-time.Since(restarted))
	}
	t.Logf("all processes ready %v after Redis came back", time.Since(restarted).Round(10*time.Millisecond))

	// Four runs at once: each worker runs two at a time, so both take
	// some. Queued on one api, followed on the other.
	var ids []string
	var subs []*ws
	for i := range 4 {
		ids = append(ids, startRun(t, c.apis[i%2], code))
		subs = append(subs, subscribe(t, c.apis[(i+1)%2], transportWS, ids[i], 0))
	}
	for i, sub := range subs {
		all := sub.rest(30 * time.Second)
		final := checkStream(t, ids[i], all)
		if final.Status != "COMPLETED" || stdoutOf(all) != "one\ntwo\n" {
			t.Errorf("run %d after the restart: %s, streamed %q; want COMPLETED, \"one\\ntwo\\n\"", i, final.Status, stdoutOf(all))
		}
	}
	c.waitAcked()
	total := 0
	for _, w := range c.workers {
		n := completedRuns(t, w) - before[w]
		if n == 0 {
			t.Errorf("%s completed no run after the restart", w.name)
		}
		total += n
	}
	if total != 4 {
		t.Errorf("workers completed %d runs after the restart; want 4", total)
	}
}

// TestInputThroughOtherAPI types into a program through api B while its
// subscriber is on api A: when the program waits in input(), and when the
// input comes before the program has even started.
func TestInputThroughOtherAPI(t *testing.T) {
	c := startCluster(t, 2, 2)
	apiA, apiB := c.apis[0], c.apis[1]
	const code = "name = input(\"name? \")\nprint(\"Hello, \" + name)\n"
	tests := []struct {
		name string
		// waitPrompt: type only once the prompt has been streamed.
		waitPrompt bool
	}{
		{"program waits in input()", true},
		{"input before the program starts", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := startRun(t, apiA, code)
			sub := subscribe(t, apiA, transportWS, id, 0)
			var seen []event
			if tt.waitPrompt {
				var out strings.Builder
				seen = sub.until(30*time.Second, func(e event) bool {
					if e.Type == "STDOUT" && e.Text != nil {
						out.WriteString(*e.Text)
					}
					return strings.Contains(out.String(), "name? ")
				})
			}
			sendInput(t, apiB, id, "Ada\n")
			all := append(seen, sub.rest(30*time.Second)...)
			final := checkStream(t, id, all)
			const want = "name? Hello, Ada\n"
			if got := stdoutOf(all); got != want || final.Status != "COMPLETED" || final.Stdout != want {
				t.Errorf("streamed %q, FINISHED %s with stdout %q; want COMPLETED, %q", got, final.Status, final.Stdout, want)
			}
		})
	}
}
