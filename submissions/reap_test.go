package submissions_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/brokertest"
	"coderunner/broker/memory"
	"coderunner/submissions"
)

// claim claims the oldest waiting job, which must be submission id's.
func (f *fixture) claim(t *testing.T, id string) coderunner.Claim {
	t.Helper()
	c, err := f.broker.Claim(t.Context(), "worker")
	if err != nil || c.Job().SubmissionID != id {
		t.Fatalf("Claim = %v, %v; want the job of %s", c, err, id)
	}
	return c
}

// loseJob takes submission id's job out of the queue for good, as a Redis
// restart without persistence would: claimed, then acknowledged.
func (f *fixture) loseJob(t *testing.T, c coderunner.Claim) {
	t.Helper()
	if err := c.Ack(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) wantStatus(t *testing.T, want map[string]coderunner.SubmissionStatus, verdict map[string]coderunner.Verdict) {
	t.Helper()
	for id, status := range want {
		sub, err := f.svc.Store.Submission(t.Context(), id)
		if err != nil || sub.Status != status || sub.Verdict != verdict[id] {
			t.Errorf("submission %s: %s %s (%v); want %s %s", id, sub.Status, sub.Verdict, err, status, verdict[id])
		}
	}
}

// TestReap: a submission still unfinished after the reaper's age whose job
// is gone is finished INTERNAL_ERROR, with the tests graded so far; one
// whose job waits or is held by a worker, one created or started since
// the cutoff, are left alone.
func TestReap(t *testing.T) {
	f := newFixture(t, broker.Options{})
	f.svc.Quotas = fixedQuota(plenty)
	ctx := t.Context()

	lostQueued := f.submit(t, student, "print(1)")
	f.loseJob(t, f.claim(t, lostQueued.ID))
	lostRunning := f.submit(t, student, "print(2)")
	lostClaim := f.claim(t, lostRunning.ID)
	f.start(t, lostRunning.ID, coderunner.Accepted, coderunner.WrongAnswer)
	f.loseJob(t, lostClaim)
	held := f.submit(t, student, "print(3)")
	f.claim(t, held.ID) // a worker grades it still
	restarted := f.submit(t, student, "print(4)")
	waiting := f.submit(t, student, "print(5)") // in a long queue
	f.now = f.now.Add(15 * time.Minute)
	// Its job lost too, but started again since the cutoff.
	f.loseJob(t, f.claim(t, restarted.ID))
	f.start(t, restarted.ID)
	f.now = f.now.Add(5 * time.Minute)
	recent := f.submit(t, student, "print(6)")

	n, err := f.svc.Reap(ctx, 10*time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("Reap = %d, %v; want 2", n, err)
	}
	f.wantStatus(t, map[string]coderunner.SubmissionStatus{
		lostQueued.ID: coderunner.SubmissionFinished, lostRunning.ID: coderunner.SubmissionFinished,
		held.ID: coderunner.SubmissionQueued, waiting.ID: coderunner.SubmissionQueued,
		restarted.ID: coderunner.SubmissionRunning, recent.ID: coderunner.SubmissionQueued,
	}, map[string]coderunner.Verdict{lostQueued.ID: coderunner.InternalError, lostRunning.ID: coderunner.InternalError})

	given, err := f.svc.Store.Submission(ctx, lostRunning.ID)
	if err != nil || len(given.Tests) != 2 || given.Passed != 1 || given.FinishedAt != f.now {
		t.Errorf("the lost running submission: %d tests, %d passed, finished %v (%v); want its 2 tests kept, 1 passed, finished now", len(given.Tests), given.Passed, given.FinishedAt, err)
	}
	for id, want := range map[string]string{
		lostQueued.ID:  "QUEUED FINISHED",
		lostRunning.ID: "QUEUED STARTED TEST_FINISHED TEST_FINISHED FINISHED",
	} {
		if got := brokertest.Types(f.events(t, student, id, 0)); got != want {
			t.Errorf("subscribers of %s see %s; want %s", id, got, want)
		}
	}
	// Settled: their place among the work in flight is free, their CPU
	// time charged; our failure is no attempt of the child's.
	usage, err := f.broker.Usage(ctx, student.Owner(), f.now)
	if err != nil || usage.ActiveRuns != 4 || usage.ExecToday != 200*time.Millisecond {
		t.Errorf("usage %+v (%v); want 4 active, 200 ms charged", usage, err)
	}
	if p, err := f.db.Progress(ctx, "u1", []string{"double"}); err != nil || p["double"].Attempts != 0 {
		t.Errorf("progress %+v (%v); want no attempt counted", p, err)
	}

	if n, err := f.svc.Reap(ctx, 10*time.Minute); n != 0 || err != nil {
		t.Errorf("second Reap = %d, %v; want 0", n, err)
	}
	if got := brokertest.Types(f.published.Events(lostQueued.ID)); got != "QUEUED FINISHED" {
		t.Errorf("published of the lost queued submission: %s; want one FINISHED", got)
	}
}

// TestReapManyPages: after an outage, the lost submissions are many, some
// made in one instant, and a page boundary falls among them: every one is
// given up, and none whose job waits.
func TestReapManyPages(t *testing.T) {
	f := newFixture(t, broker.Options{})
	var waiting []string
	for range 3 {
		waiting = append(waiting, f.submit(t, student, "print(1)").ID)
	}
	// Stored by an api process that died before it queued them.
	var lost []string
	for i := range 130 {
		sub := coderunner.Submission{ID: fmt.Sprintf("lost-%03d", i), Owner: "u1", ProblemID: "double", Code: "print(1)",
			Status: coderunner.SubmissionQueued, Total: 3, CreatedAt: f.now.Add(time.Duration(i/3) * time.Millisecond)}
		if err := f.db.CreateSubmission(t.Context(), sub); err != nil {
			t.Fatal(err)
		}
		lost = append(lost, sub.ID)
	}
	f.now = f.now.Add(20 * time.Minute)
	if n, err := f.svc.Reap(t.Context(), 10*time.Minute); n != len(lost) || err != nil {
		t.Errorf("Reap = %d, %v; want all %d whose job is gone", n, err, len(lost))
	}
	want, verdicts := map[string]coderunner.SubmissionStatus{}, map[string]coderunner.Verdict{}
	for _, id := range waiting {
		want[id] = coderunner.SubmissionQueued
	}
	for _, id := range lost {
		want[id], verdicts[id] = coderunner.SubmissionFinished, coderunner.InternalError
	}
	f.wantStatus(t, want, verdicts)
}

// startsAfterRead is the real store, except that right after the reaper
// reads the unfinished submissions, a worker starts one of them: the read
// copy says QUEUED, the store RUNNING.
type startsAfterRead struct {
	submissions.Store
	svc  *submissions.Service
	id   string
	at   time.Time
	once sync.Once
}

func (s *startsAfterRead) UnfinishedSubmissions(ctx context.Context, before time.Time, after coderunner.SubmissionCursor, limit int) ([]coderunner.Submission, error) {
	subs, err := s.Store.UnfinishedSubmissions(ctx, before, after, limit)
	s.once.Do(func() {
		sub, err := s.Store.Submission(ctx, s.id)
		if err == nil {
			_, _, err = s.svc.Start(ctx, sub, s.at)
		}
		if err != nil {
			panic(err)
		}
	})
	return subs, err
}

// TestReapRacingAStart: the reaper gives up a submission only in the
// status it read it in; one started since is left to its worker.
func TestReapRacingAStart(t *testing.T) {
	f := newFixture(t, broker.Options{})
	sub := f.submit(t, student, "print(1)")
	f.loseJob(t, f.claim(t, sub.ID))
	f.now = f.now.Add(20 * time.Minute)
	f.svc.Store = &startsAfterRead{Store: f.svc.Store, svc: f.svc, id: sub.ID, at: f.now}
	if n, err := f.svc.Reap(t.Context(), 10*time.Minute); n != 0 || err != nil {
		t.Errorf("Reap = %d, %v; want 0", n, err)
	}
	f.wantStatus(t, map[string]coderunner.SubmissionStatus{sub.ID: coderunner.SubmissionRunning}, nil)
}

// TestRequeue: the submissions left unfinished by a process whose queue
// died with it are queued again in the new process's queue, oldest first,
// as far as it has room; the others, and those lost for longer than the
// reaper's age, end INTERNAL_ERROR at once — none waits for the reaper.
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
			old := f.submit(t, student, "print(0)")
			f.now = f.now.Add(20 * time.Minute)
			var ids []string
			for range 3 {
				ids = append(ids, f.submit(t, student, "print(1)").ID)
				f.now = f.now.Add(time.Second)
			}
			f.claim(t, old.ID)
			f.claim(t, ids[0])
			f.start(t, ids[0], coderunner.Accepted)

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
				got = append(got, job.SubmissionID)
			}
			if !slices.Equal(got, ids[:tt.queued]) {
				t.Errorf("queued again %v; want the oldest %d of %v", got, tt.queued, ids)
			}
			want := map[string]coderunner.SubmissionStatus{old.ID: coderunner.SubmissionFinished, ids[0]: coderunner.SubmissionRunning}
			verdicts := map[string]coderunner.Verdict{old.ID: coderunner.InternalError}
			for _, id := range ids[1:tt.queued] {
				want[id] = coderunner.SubmissionQueued
			}
			for _, id := range ids[tt.queued:] {
				want[id], verdicts[id] = coderunner.SubmissionFinished, coderunner.InternalError
			}
			f.wantStatus(t, want, verdicts)
			if running, _ := f.svc.Store.Submission(t.Context(), ids[0]); tt.queued > 0 && len(running.Tests) != 1 {
				t.Errorf("the running submission queued again has %d tests; want its graded test kept", len(running.Tests))
			}
		})
	}
}
