package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/metrics"
)

// TestExposition checks that every series the README documents is served,
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
	m.WatchQueueDepth(q)
	m.WatchPoolSize(func() int { return 2 })
	m.SandboxMode("jail")
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

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"coderunner_queue_depth 3",
		"coderunner_queue_wait_seconds_count 1",
		`coderunner_run_duration_seconds_count{status="COMPLETED"} 1`,
		`coderunner_runs_total{status="TIME_LIMIT_EXCEEDED"} 1`,
		"coderunner_dead_lettered_total 1",
		"coderunner_runs_deleted_total 507",
		"coderunner_tests_graded_total 3",
		`coderunner_grading_duration_seconds_count{verdict="WRONG_ANSWER"} 1`,
		"coderunner_warm_pool_size 2",
		`coderunner_sandbox_mode{mode="jail"} 1`,
		"coderunner_active_subscriptions 1",
		`coderunner_cache_hits_total{cache="apq"} 5`,
		`coderunner_cache_misses_total{cache="curriculum"} 2`,
		`coderunner_refused_total{limit="streams_per_address"} 1`,
		`coderunner_streams_dropped_total{reason="write_timeout"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
