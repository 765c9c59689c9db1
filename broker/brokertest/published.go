package brokertest

import (
	"context"
	"strings"
	"sync"
	"time"

	"coderunner"
)

// Published is a broker, for the tests of what uses one, that notes the
// events published through it.
type Published struct {
	coderunner.Broker
	mu     sync.Mutex
	events []coderunner.RunEvent
}

// Publish notes e and publishes it.
func (b *Published) Publish(ctx context.Context, e coderunner.RunEvent) (coderunner.RunEvent, error) {
	b.mu.Lock()
	b.events = append(b.events, e)
	b.mu.Unlock()
	return b.Broker.Publish(ctx, e)
}

// Events returns the events published so far of id, or of every run and
// submission when id is empty, in the order published.
func (b *Published) Events(id string) []coderunner.RunEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []coderunner.RunEvent
	for _, e := range b.events {
		if id == "" || e.RunID == id {
			out = append(out, e)
		}
	}
	return out
}

// Types returns the types of events, space-separated: "QUEUED STARTED …".
func Types(events []coderunner.RunEvent) string {
	s := make([]string, len(events))
	for i, e := range events {
		s[i] = string(e.Type)
	}
	return strings.Join(s, " ")
}

// ClaimAll claims every job waiting in q, as consumer, and returns them
// in the order claimed: it stops once no job comes for wait.
func ClaimAll(ctx context.Context, q coderunner.Queue, consumer string, wait time.Duration) []coderunner.Job {
	var jobs []coderunner.Job
	for {
		claimCtx, cancel := context.WithTimeout(ctx, wait)
		c, err := q.Claim(claimCtx, consumer)
		cancel()
		if err != nil {
			return jobs
		}
		jobs = append(jobs, c.Job())
	}
}
