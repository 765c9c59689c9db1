package reap_test

import (
	"testing"
	"time"

	"coderunner/reap"
)

func TestStale(t *testing.T) {
	cutoff := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	before, after := cutoff.Add(-time.Second), cutoff.Add(time.Second)
	tests := []struct {
		name string
		work reap.Work
		want bool
	}{
		{"queued before the cutoff", reap.Work{CreatedAt: before}, true},
		{"queued at the cutoff", reap.Work{CreatedAt: cutoff}, false},
		{"queued since", reap.Work{CreatedAt: after}, false},
		{"running, started before", reap.Work{CreatedAt: before, Running: true, StartedAt: before}, true},
		{"running, started at the cutoff", reap.Work{CreatedAt: before, Running: true, StartedAt: cutoff}, true},
		{"running, started since", reap.Work{CreatedAt: before, Running: true, StartedAt: after}, false},
		{"queued again after a start since (StartedAt kept)", reap.Work{CreatedAt: before, StartedAt: after}, true},
		{"created since, started since", reap.Work{CreatedAt: after, Running: true, StartedAt: after}, false},
	}
	for _, tt := range tests {
		if got := tt.work.Stale(cutoff); got != tt.want {
			t.Errorf("%s: Stale = %v, want %v", tt.name, got, tt.want)
		}
	}
}
