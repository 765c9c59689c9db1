package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/metrics"
)

// TestExposition checks that every series docs/operations.md lists is served,
// with the values recorded.
func TestExposition(t *testing.T) {
	m := metrics.New()
	q := memory.New(broker.Options{})
	defer q.Close()
	for range 3 {
		if err := q.Enqueue(context.Background(), coderunner.Job{RunID: "r", EnqueuedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	m.WatchQueue(q)
	m.WatchRedis(func(context.Context) error { return nil })
	m.WatchReady(func(context.Context) error { return nil })
	m.BuildInfo("worker", "abc123")
	m.WatchPoolSize(func() int { return 2 })
	m.SandboxMode("jail", "container")
	m.WatchCache("apq", func() (uint64, uint64) { return 5, 1 })
	m.WatchCache("curriculum", func() (uint64, uint64) { return 7, 2 })
	m.QueueWait(30 * time.Millisecond)
	m.RunFinished(coderunner.StatusCompleted, 40*time.Millisecond)
	m.RunFinished(coderunner.StatusTimeLimitExceeded, 2*time.Second)
	m.DeadLettered()
	m.RunsDeleted(500)
	m.RunsDeleted(7)
	m.SubmissionGraded(coderunner.WrongAnswer, 3, time.Second)
	ended := m.SubscriptionStarted()
	m.SubscriptionStarted()
	ended()
	m.Refused("streams_per_address")
	m.Dropped("write_timeout")
	m.ErrorAnswered(coderunner.RateLimited)
	m.ContentChangeApplied()
	m.CDNPurged("ok")
	m.ProgramCPU("test", 1500*time.Millisecond)
	m.RunnerMeasured(3, 8)
	m.UsageRolledUp(coderunner.UsageDay{ActiveUsers: 12, PeakUsers: 4}, 40)

	body := scrape(m)
	for _, want := range []string{
		"coderunner_queue_depth 3",
		"coderunner_queue_oldest_job_age_seconds ",
		"coderunner_redis_up 1",
		"coderunner_ready 1",
		`coderunner_build_info{process="worker",version="abc123"} 1`,
		"coderunner_queue_wait_seconds_count 1",
		`coderunner_run_duration_seconds_count{status="COMPLETED"} 1`,
		`coderunner_runs_total{status="TIME_LIMIT_EXCEEDED"} 1`,
		"coderunner_dead_lettered_total 1",
		"coderunner_runs_deleted_total 507",
		"coderunner_tests_graded_total 3",
		`coderunner_grading_duration_seconds_count{verdict="WRONG_ANSWER"} 1`,
		"coderunner_warm_pool_size 2",
		`coderunner_sandbox_mode{mode="container",requested="jail"} 1`,
		"coderunner_active_subscriptions 1",
		`coderunner_cache_hits_total{cache="apq"} 5`,
		`coderunner_cache_misses_total{cache="curriculum"} 2`,
		`coderunner_refused_total{limit="streams_per_address"} 1`,
		`coderunner_streams_dropped_total{reason="write_timeout"} 1`,
		`coderunner_errors_total{code="RATE_LIMITED"} 1`,
		"coderunner_content_changes_applied_total 1",
		`coderunner_cdn_purges_total{result="ok"} 1`,
		`coderunner_program_cpu_seconds_total{kind="test"} 1.5`,
		"coderunner_runner_busy_cpu_seconds_total 3",
		"coderunner_runner_provisioned_vcpu_seconds_total 8",
		`coderunner_active_users{period="day"} 12`,
		`coderunner_active_users{period="month"} 40`,
		"coderunner_peak_users 4",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func scrape(m *metrics.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// value is the value of the series line starting with series in body.
func value(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("/metrics lacks %s", series)
	return 0
}

// TestQueueAge: the oldest waiting job's age, 0 when none waits.
func TestQueueAge(t *testing.T) {
	m := metrics.New()
	q := memory.New(broker.Options{ClaimTimeout: time.Minute, MaxWaiting: 10})
	defer q.Close()
	m.WatchQueue(q)
	if v := value(t, scrape(m), "coderunner_queue_oldest_job_age_seconds"); v != 0 {
		t.Errorf("age with no job waiting = %v; want 0", v)
	}
	start := time.Now()
	if err := q.Enqueue(t.Context(), coderunner.Job{RunID: "r", EnqueuedAt: start}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if v := value(t, scrape(m), "coderunner_queue_oldest_job_age_seconds"); v < 0.05 || v > time.Since(start).Seconds() {
		t.Errorf("age = %v; want between 0.05 and %v", v, time.Since(start).Seconds())
	}
}

// brokenQueue fails every read.
type brokenQueue struct{ coderunner.Queue }

func (brokenQueue) Depth(context.Context) (int64, error) { return 0, errors.New("down") }
func (brokenQueue) OldestWaiting(context.Context) (time.Duration, error) {
	return 0, errors.New("down")
}

// TestUnreachable: what the gauges say when what they read fails or hangs
// (each read is bounded: the registry reads them concurrently).
func TestUnreachable(t *testing.T) {
	m := metrics.New()
	m.WatchQueue(brokenQueue{})
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	m.WatchRedis(hang)
	m.WatchReady(func(context.Context) error { return errors.New("store: down") })
	start := time.Now()
	body := scrape(m)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("scrape took %v with Redis hanging", d)
	}
	for series, want := range map[string]float64{
		"coderunner_queue_depth":                  -1,
		"coderunner_queue_oldest_job_age_seconds": -1,
		"coderunner_redis_up":                     0,
		"coderunner_ready":                        0,
	} {
		if v := value(t, body, series); v != want {
			t.Errorf("%s = %v; want %v", series, v, want)
		}
	}
}
