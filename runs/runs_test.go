package runs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
	"coderunner/broker/memory"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

type fixture struct {
	svc    *runs.Service
	broker *memory.Broker
	now    time.Time
}

// guest is the caller of the fixture's runs.
var guest = coderunner.Caller{Addr: "192.0.2.1"}

func newFixture(t *testing.T, opts broker.Options) *fixture {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{broker: memory.New(opts), now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { f.broker.Close() })
	f.svc = &runs.Service{Store: db, Broker: f.broker, Now: func() time.Time { return f.now }, CancelWait: 50 * time.Millisecond}
	return f
}

func (f *fixture) start(t *testing.T) coderunner.Run {
	t.Helper()
	run, err := f.svc.Start(t.Context(), guest, "python", coderunner.RunRequest{Code: "print(1)"}, false)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func (f *fixture) events(t *testing.T, id string, after int64) []coderunner.RunEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ch, err := f.svc.Events(ctx, guest, id, after)
	if err != nil {
		t.Fatal(err)
	}
	var out []coderunner.RunEvent
	for e := range ch {
		out = append(out, e)
	}
	return out
}

func TestStartValidates(t *testing.T) {
	f := newFixture(t, broker.Options{})
	tests := []struct {
		name     string
		language string
		req      coderunner.RunRequest
	}{
		{"language", "ruby", coderunner.RunRequest{Code: "puts 1"}},
		{"time limit", "python", coderunner.RunRequest{Code: "1", TimeLimitMs: 60_000}},
		{"source size", "python", coderunner.RunRequest{Code: strings.Repeat("#", coderunner.MaxSourceBytes+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Start(t.Context(), guest, tt.language, tt.req, false)
			if coderunner.ErrorCode(err) != coderunner.BadUserInput {
				t.Errorf("Start: %v, want BAD_USER_INPUT", err)
			}
		})
	}
	if n, _ := f.broker.Depth(t.Context()); n != 0 {
		t.Errorf("%d jobs queued by rejected runs, want 0", n)
	}
}

// TestEventsOfAFinishedRun: replayed from the buffer while it lasts, and
// rebuilt from the store once it has expired.
func TestEventsOfAFinishedRun(t *testing.T) {
	f := newFixture(t, broker.Options{})
	run := f.start(t)
	f.broker.Publish(t.Context(), coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventStarted})
	f.broker.Publish(t.Context(), coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventStdout, Text: "1\n"})
	run.Status, run.Stdout, run.Stderr = coderunner.StatusCompleted, "1\n", "warning\n"
	if ok, err := f.svc.Finish(t.Context(), run); !ok || err != nil {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if got := brokertest.Types(f.events(t, run.ID, 0)); got != "QUEUED STARTED STDOUT FINISHED" {
		t.Errorf("from the buffer: %s", got)
	}
	if got := brokertest.Types(f.events(t, run.ID, 3)); got != "FINISHED" {
		t.Errorf("from the buffer after seq 3: %s", got)
	}
	if got := f.events(t, run.ID, 4); len(got) != 0 {
		t.Errorf("after FINISHED's own seq: %+v; want nothing, the client has seen the end", got)
	}

	// Another process's broker has no buffer for the run: the store answers.
	other := &runs.Service{Store: f.svc.Store, Broker: memory.New(broker.Options{})}
	defer other.Broker.Close()
	f.svc = other
	events := f.events(t, run.ID, 0)
	if got := brokertest.Types(events); got != "QUEUED STARTED STDOUT STDERR FINISHED" {
		t.Fatalf("from the store: %s", got)
	}
	if events[2].Text != "1\n" || events[3].Text != "warning\n" || events[4].Run.Status != coderunner.StatusCompleted {
		t.Errorf("from the store: %+v", events)
	}
	if got := f.events(t, run.ID, 40); len(got) != 1 || got[0].Type != coderunner.EventFinished || got[0].Seq != 41 {
		t.Errorf("from the store after a seq it never had: %+v", got)
	}
}

// TestLiveSubscriptionEndsUnseenFinish: a subscription to a live run ends
// with FINISHED from the store when the broker never delivers one in
// order — its publish was lost, or the subscriber's afterSeq is past the
// run's events (Redis or the process restarted and numbering began again).
func TestLiveSubscriptionEndsUnseenFinish(t *testing.T) {
	tests := []struct {
		name     string
		afterSeq int64
		// publish: FINISHED is published (seq 2); otherwise only stored.
		publish bool
		want    string
		lastSeq int64
	}{
		{"publish lost", 0, false, "QUEUED FINISHED", 2},
		{"subscriber ahead of the run", 9, true, "FINISHED", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, broker.Options{})
			f.svc.FinishCheck = 50 * time.Millisecond
			run := f.start(t)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			ch, err := f.svc.Events(ctx, guest, run.ID, tt.afterSeq)
			if err != nil {
				t.Fatal(err)
			}
			run.Status, run.Stdout = coderunner.StatusCompleted, "1\n"
			if tt.publish {
				_, err = f.svc.Finish(t.Context(), run)
			} else {
				_, err = f.svc.Store.UpdateRun(t.Context(), run)
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []coderunner.RunEvent
			for e := range ch {
				got = append(got, e)
			}
			if ctx.Err() != nil {
				t.Fatalf("subscription still open after 5 s; got %s", brokertest.Types(got))
			}
			end := got[len(got)-1]
			if brokertest.Types(got) != tt.want || end.Seq != tt.lastSeq || end.Run.Stdout != "1\n" {
				t.Errorf("events %s ending at seq %d with stdout %q; want %s ending at %d with the stored run",
					brokertest.Types(got), end.Seq, end.Run.Stdout, tt.want, tt.lastSeq)
			}
		})
	}
}

// TestRequeue: the runs left unfinished by a process whose queue died with
// it are queued again in the new process's queue, as far as it has room;
// the others end CANCELLED, and runs lost for longer than the reaper's age
// end INTERNAL_ERROR at once — none waits for the reaper.
func TestRequeue(t *testing.T) {
	tests := []struct {
		name       string
		maxWaiting int64
		queued     int
	}{
		{"room for all", 10, 3},
		{"room for one", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, broker.Options{})
			old := f.start(t)
			f.now = f.now.Add(20 * time.Minute)
			var ids []string
			for range 3 {
				ids = append(ids, f.start(t).ID)
				f.now = f.now.Add(time.Second)
			}
			for _, id := range []string{old.ID, ids[0]} { // the old run's claim, then a young one's
				if c, err := f.broker.Claim(t.Context(), "old-worker"); err != nil || c.Job().RunID != id {
					t.Fatalf("Claim = %v, %v; want %s", c, err, id)
				}
			}
			running, _ := f.svc.Get(t.Context(), guest, ids[0])
			running.Status, running.StartedAt = coderunner.StatusRunning, f.now
			if _, err := f.svc.Store.UpdateRun(t.Context(), running); err != nil {
				t.Fatal(err)
			}

			// The process restarts: same store, a new, empty queue.
			f.now = f.now.Add(time.Minute)
			restarted := memory.New(broker.Options{MaxWaiting: tt.maxWaiting})
			defer restarted.Close()
			f.svc.Broker = restarted
			queued, gaveUp, err := f.svc.Requeue(t.Context(), 10*time.Minute)
			if err != nil || queued != tt.queued || gaveUp != 1 {
				t.Fatalf("Requeue = %d queued, %d given up, %v; want %d, 1", queued, gaveUp, err, tt.queued)
			}
			var got []string
			for _, job := range brokertest.ClaimAll(t.Context(), restarted, "new-worker", 200*time.Millisecond) {
				got = append(got, job.RunID)
			}
			if !slices.Equal(got, ids[:tt.queued]) {
				t.Errorf("queued again %v; want the oldest %d of %v", got, tt.queued, ids)
			}
			want := map[string]coderunner.RunStatus{old.ID: coderunner.StatusInternalError}
			for _, id := range ids[tt.queued:] {
				want[id] = coderunner.StatusCancelled
			}
			for id, status := range want {
				if run, _ := f.svc.Get(t.Context(), guest, id); run.Status != status {
					t.Errorf("run %s: %s; want %s", id, run.Status, status)
				}
			}
		})
	}
}

// startsAfterRead is the real store, except that right after the first
// read of a run, a worker starts it: the read copy says QUEUED, the store
// RUNNING.
type startsAfterRead struct {
	coderunner.RunStore
	started coderunner.Run
	once    sync.Once
}

func (s *startsAfterRead) Run(ctx context.Context, id string) (coderunner.Run, error) {
	run, err := s.RunStore.Run(ctx, id)
	s.once.Do(func() {
		if _, err := s.RunStore.UpdateRun(ctx, s.started); err != nil {
			panic(err)
		}
	})
	return run, err
}

// TestCancelRacingAStart: a cancel that read its run QUEUED just before a
// worker started it leaves the running run alone — the worker, told by the
// cancel message, stops the program and records CANCELLED itself — rather
// than overwrite it from its outdated copy.
func TestCancelRacingAStart(t *testing.T) {
	f := newFixture(t, broker.Options{})
	run := f.start(t)
	started := run
	started.Status, started.StartedAt = coderunner.StatusRunning, f.now
	f.svc.Store = &startsAfterRead{RunStore: f.svc.Store, started: started}

	got, err := f.svc.Cancel(t.Context(), guest, run.ID)
	if err != nil || got.Status != coderunner.StatusRunning || got.StartedAt.IsZero() {
		t.Fatalf("Cancel = %s (started %v), %v; want the run RUNNING, as the worker left it", got.Status, got.StartedAt, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	messages, err := f.broker.ControlMessages(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m := <-messages; !m.Cancel {
		t.Errorf("the worker was sent %+v; want a cancel", m)
	}
}

// loseJob takes the oldest job out of the queue for good, as a Redis
// restart without persistence would.
func (f *fixture) loseJob(t *testing.T, runID string) {
	t.Helper()
	c, err := f.broker.Claim(t.Context(), "lost")
	if err != nil || c.Job().RunID != runID {
		t.Fatalf("Claim = %v, %v; want the job of %s", c, err, runID)
	}
	if err := c.Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestReap(t *testing.T) {
	f := newFixture(t, broker.Options{})
	lost := f.start(t)
	f.loseJob(t, lost.ID)
	f.now = f.now.Add(20 * time.Minute)
	recent := f.start(t)
	n, err := f.svc.Reap(t.Context(), 10*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]coderunner.RunStatus{lost.ID: coderunner.StatusInternalError, recent.ID: coderunner.StatusQueued} {
		run, err := f.svc.Get(t.Context(), guest, id)
		if err != nil || run.Status != want {
			t.Errorf("run %s: %s (%v), want %s", id, run.Status, err, want)
		}
	}
	if got := brokertest.Types(f.events(t, lost.ID, 0)); got != "QUEUED FINISHED" {
		t.Errorf("subscribers of the lost run see %s", got)
	}
	if n, _ := f.svc.Reap(t.Context(), 10*time.Minute); n != 0 {
		t.Errorf("second Reap finished %d runs, want 0", n)
	}
}

// TestFinishedCarriesNoInputs: the FINISHED event the broker buffers and
// fans out holds the run's output and status but not its code and stdin
// (up to 3 MiB a run); subscribers still get them, from the store.
func TestFinishedCarriesNoInputs(t *testing.T) {
	f := newFixture(t, broker.Options{})
	run, err := f.svc.Start(t.Context(), guest, "python", coderunner.RunRequest{Code: "print(input())", Stdin: "hi\n"}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	live, err := f.svc.Events(ctx, guest, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	run.Status, run.Stdout = coderunner.StatusCompleted, "hi\n"
	if ok, err := f.svc.Finish(t.Context(), run); !ok || err != nil {
		t.Fatalf("Finish = %v, %v", ok, err)
	}

	buffered, err := f.broker.Replay(t.Context(), run.ID, 0)
	if err != nil || len(buffered) != 2 {
		t.Fatalf("Replay = %d events, %v; want QUEUED FINISHED", len(buffered), err)
	}
	if got := buffered[1].Run; got == nil || got.Code != "" || got.Stdin != "" || got.Stdout != "hi\n" || got.Status != coderunner.StatusCompleted {
		t.Errorf("published FINISHED carries %+v; want the output and status without code and stdin", got)
	}

	var followed []coderunner.RunEvent
	for e := range live {
		followed = append(followed, e)
	}
	for name, events := range map[string][]coderunner.RunEvent{
		"live":        followed,
		"from buffer": f.events(t, run.ID, 0),
	} {
		end := events[len(events)-1]
		if end.Type != coderunner.EventFinished || end.Run.Code != "print(input())" || end.Run.Stdin != "hi\n" || end.Run.Stdout != "hi\n" {
			t.Errorf("%s: subscribers get %s %+v; want FINISHED with the run's code, stdin and output", name, end.Type, end.Run)
		}
	}
	if again, _ := f.broker.Replay(t.Context(), run.ID, 1); len(again) != 1 || again[0].Run.Code != "" {
		t.Error("after subscribers read it, the buffered FINISHED has code: withInputs must copy the run")
	}
}

// TestReapLongQueue: after an outage, the queue is long and many runs are
// older than the reaper's age. Those whose job still waits, or is held by
// a worker, are left to run; every one whose job is gone is given up,
// however many there are.
func TestReapLongQueue(t *testing.T) {
	f := newFixture(t, broker.Options{})
	var waiting []string
	for range 5 {
		waiting = append(waiting, f.start(t).ID)
	}
	running, err := f.broker.Claim(t.Context(), "worker")
	if err != nil {
		t.Fatal(err)
	}
	run, _ := f.svc.Get(t.Context(), guest, running.Job().RunID)
	run.Status, run.StartedAt = coderunner.StatusRunning, f.now
	if _, err := f.svc.Store.UpdateRun(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	// Stored by an api process that died before it queued them; several in
	// one instant, as a page boundary may fall among them.
	var lost []string
	for i := range 230 {
		r := coderunner.Run{ID: fmt.Sprintf("lost-%03d", i), Owner: guest.Owner(), Language: "python", Code: "print(1)",
			CreatedAt: f.now.Add(time.Duration(i/3) * time.Millisecond)}
		r.Status = coderunner.StatusQueued
		if err := f.svc.Store.CreateRun(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		lost = append(lost, r.ID)
	}

	f.now = f.now.Add(20 * time.Minute)
	n, err := f.svc.Reap(t.Context(), 10*time.Minute)
	if err != nil || n != len(lost) {
		t.Errorf("Reap = %d, %v; want all %d runs whose job is gone", n, err, len(lost))
	}
	want := map[string]coderunner.RunStatus{run.ID: coderunner.StatusRunning}
	for _, id := range waiting[1:] {
		want[id] = coderunner.StatusQueued
	}
	for _, id := range lost {
		want[id] = coderunner.StatusInternalError
	}
	for id, status := range want {
		if got, err := f.svc.Get(t.Context(), guest, id); err != nil || got.Status != status {
			t.Errorf("run %s: %s (%v); want %s", id, got.Status, err, status)
		}
	}
}
