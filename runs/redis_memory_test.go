package runs_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/broker"
	"coderunner/runs"
	"coderunner/store/sqlite"
)

// Redis memory per run, as MEMORY USAGE counts it (all samples), pinned
// here and stated in docs/redis.md. A queued run holds, whatever its
// inputs (they are in the store, not in Redis): its job in the stream, its
// seq counter and a replay buffer with QUEUED. A finished run holds, for
// ReplayTTL after its last event, its output twice — in the output events
// and in FINISHED (not its code or stdin) — JSON-encoded: up to 6 bytes a
// byte of output ("<" is "\u003c", a control byte "\u0001"), and Redis's
// allocator rounds each large entry up by up to a fourth.
const (
	maxQueuedRunBytes   = 1 << 10
	maxFinishedRunBytes = 2 * 6 * coderunner.MaxOutputLimitBytes * 5 / 4
)

// TestRedisMemoryPerRun measures the Redis keys of one run with maximal
// inputs, queued, then finished with maximal output.
func TestRedisMemoryPerRun(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var kind brokerKind
	for _, k := range brokerKinds {
		if k.name == "redis" {
			kind = k
		}
	}
	b, keys := kind.open(t, broker.Options{MaxWaiting: 10_000})
	svc := &runs.Service{Store: db, Broker: b,
		Quotas: fixedQuota{RunsPerMinute: 10, RunsPerDay: 10, ExecSecondsPerDay: 60, MaxActiveRuns: 5}}

	// One run first, so that the stream and the owner's quota keys exist:
	// what the second adds is what a run costs.
	if _, err := svc.Start(t.Context(), guest, "python", coderunner.RunRequest{Code: "print(1)"}, false); err != nil {
		t.Fatal(err)
	}
	stream := keys.prefix + "jobs"
	quota := keys.list(t, "quota:*")
	streamBefore, quotaBefore := keys.bytes(t, []string{stream}), keys.bytes(t, quota)
	run, err := svc.Start(t.Context(), guest, "python", coderunner.RunRequest{
		Code:  strings.Repeat("#", coderunner.MaxSourceBytes),
		Stdin: strings.Repeat("x", coderunner.MaxStdinBytes),
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	runKeys := keys.list(t, "run:"+run.ID+":*")
	queued := keys.bytes(t, runKeys)
	quotaShare := keys.bytes(t, quota) - quotaBefore
	// A job in the stream: stream nodes hold many entries, so one job's
	// share shows only over many.
	const jobs = 1000
	for i := range jobs {
		job := coderunner.Job{RunID: run.ID[:35] + string(rune('a'+i%26)), EnqueuedAt: time.Now()}
		if err := b.Enqueue(t.Context(), job); err != nil {
			t.Fatal(err)
		}
	}
	perJob := (keys.bytes(t, []string{stream}) - streamBefore) / jobs
	t.Logf("queued run with %d B of code and %d B of stdin: %d B in its keys %v, %d B in the job stream (mean of %d), %d B more in its owner's quota keys (%d B in all for the owner)",
		len(run.Code), len(run.Stdin), queued, runKeys, perJob, jobs, quotaShare, keys.bytes(t, quota))
	if total := queued + perJob + quotaShare; total > maxQueuedRunBytes {
		t.Errorf("a queued run costs Redis %d B; want at most %d", total, maxQueuedRunBytes)
	}

	// It runs, and prints as much as a run may: plain text, and the worst
	// case for JSON, every byte escaped to six.
	tests := []struct {
		name  string
		bytes int
		char  string
		max   int64 // 0: only measured
	}{
		{"64 KiB (the default limit) of text", coderunner.DefaultOutputLimitBytes, "a", 0},
		{"1 MiB (the largest limit) of text", coderunner.MaxOutputLimitBytes, "a", 0},
		{"1 MiB of bytes JSON escapes to six", coderunner.MaxOutputLimitBytes, "<", maxFinishedRunBytes},
	}
	for _, tt := range tests {
		run, err := svc.Start(t.Context(), guest, "python", coderunner.RunRequest{
			Code:  strings.Repeat("#", coderunner.MaxSourceBytes),
			Stdin: strings.Repeat("x", coderunner.MaxStdinBytes),
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(t.Context(), coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventStarted}); err != nil {
			t.Fatal(err)
		}
		const chunk = 4 << 10 // executor's coalescer publishes at most this much an event
		for range tt.bytes / chunk {
			e := coderunner.RunEvent{RunID: run.ID, Type: coderunner.EventStdout, Text: strings.Repeat(tt.char, chunk)}
			if _, err := b.Publish(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		run.Status, run.StartedAt = coderunner.StatusOutputLimitExceeded, time.Now()
		run.Stdout, run.Truncated = strings.Repeat(tt.char, tt.bytes), true
		if ok, err := svc.Finish(t.Context(), run); !ok || err != nil {
			t.Fatalf("Finish = %v, %v", ok, err)
		}
		finished := keys.bytes(t, keys.list(t, "run:"+run.ID+":*"))
		t.Logf("finished run, %s (%d events): %d B in its keys", tt.name, tt.bytes/chunk+3, finished)
		if tt.max > 0 && finished > tt.max {
			t.Errorf("a finished run with %s costs Redis %d B; want at most %d", tt.name, finished, tt.max)
		}
	}
}
