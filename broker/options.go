// Package broker holds what the coderunner.Broker implementations share:
// the options both accept (broker/memory, broker/redis), the dead-letter
// record both keep, the Limiter's windows, lifetimes and errors, and the
// fan-out of revocations to a Broker's listeners. The conformance suite is
// broker/brokertest.
package broker

import (
	"time"

	"coderunner"
)

// Options tunes a Broker. Zero fields take the defaults below.
type Options struct {
	// ClaimTimeout is how long a claimed job may go without KeepAlive or
	// Ack before it is delivered again. Default 30 s.
	ClaimTimeout time.Duration
	// MaxWaiting is how many jobs may wait to be claimed; Enqueue fails
	// with QUEUE_FULL beyond it. Claimed jobs do not count. Default 1,000.
	MaxWaiting int64
	// ReserveTTL is how long a room taken by Queue.Reserve stays held
	// when it is neither taken by Enqueue nor given back: the caller died
	// in between. Default 1 min.
	ReserveTTL time.Duration
	// ReplaySize is how many of a run's latest events its replay buffer
	// keeps; older ones are dropped, and a subscriber that needs them
	// misses them. Default 5,000, enough for a whole run: one attempt
	// publishes at most 2 streams × 30 s wall time / 50 ms flushes, plus
	// 1 MiB of output / 4 KiB chunks, plus QUEUED, STARTED and FINISHED,
	// about 1,460 events, and a job is attempted at most 3 times by
	// default. The bytes stay bounded by the output limit either way.
	ReplaySize int
	// ReplayTTL is how long a run's replay buffer is kept after its last
	// event. Control messages not yet read expire as long after the last
	// one was sent. Default 15 min.
	ReplayTTL time.Duration
}

// WithDefaults returns o with its zero fields set to the defaults.
func (o Options) WithDefaults() Options {
	if o.ClaimTimeout <= 0 {
		o.ClaimTimeout = 30 * time.Second
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = 1000
	}
	if o.ReserveTTL <= 0 {
		o.ReserveTTL = time.Minute
	}
	if o.ReplaySize <= 0 {
		o.ReplaySize = 5000
	}
	if o.ReplayTTL <= 0 {
		o.ReplayTTL = 15 * time.Minute
	}
	return o
}

// DeadLetter is a job a worker gave up on, as the dead-letter queue keeps
// it. Both implementations list them with DeadLetters(ctx), oldest first.
type DeadLetter struct {
	Job        coderunner.Job
	Reason     string
	Deliveries int
	At         time.Time
}

// MaxDeadLetters bounds the dead-letter queue; the oldest are dropped.
const MaxDeadLetters = 10_000

// ErrQueueFull is the error of Reserve and Enqueue when MaxWaiting jobs
// are waiting or have room reserved.
func ErrQueueFull(maxWaiting int64) error {
	return coderunner.Errorf(coderunner.QueueFull,
		"too many runs are waiting (%d): try again in a minute", maxWaiting)
}

// A run's unread control messages are bounded, so that input sent faster
// than a program reads it (or to a run still waiting in the queue) cannot
// fill Redis or the api's memory. A cancel always gets through.
const (
	MaxPendingControl      = 64
	MaxPendingControlBytes = 1 << 20
)

// ErrControlBacklog is SendControl's error when a run already has as many
// unread messages, or bytes of input, as it may.
func ErrControlBacklog(runID string) error {
	return coderunner.Errorf(coderunner.BadUserInput,
		"run %s has not read the input already sent (at most %d messages or %d KiB wait): send more once it has read some",
		runID, MaxPendingControl, MaxPendingControlBytes>>10)
}
