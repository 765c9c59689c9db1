package executor

import (
	"sync"
	"time"
	"unicode/utf8"

	"coderunner"
)

// Output is coalesced into events of at most maxChunk bytes, each published
// at most flushEvery after its first byte was written: few enough events
// for a program printing a line at a time in a loop, soon enough to feel
// live.
const (
	flushEvery = 50 * time.Millisecond
	maxChunk   = 4 << 10
)

// coalescer gathers a run's output chunks into text events, one pending
// buffer per stream, so that a program alternating between stdout and
// stderr still makes at most a few events per flushEvery. A flush emits the
// streams in the order their pending bytes began; within one window, the
// interleaving of the two streams is not kept. Text is valid UTF-8: a
// character split between two chunks is held back until it is whole, and
// invalid bytes become U+FFFD.
type coalescer struct {
	emit func(coderunner.OutputStream, string)

	mu      sync.Mutex
	pending map[coderunner.OutputStream][]byte
	order   []coderunner.OutputStream // streams with pending bytes, oldest first
	timer   *time.Timer
}

func newCoalescer(emit func(coderunner.OutputStream, string)) *coalescer {
	return &coalescer{emit: emit, pending: map[coderunner.OutputStream][]byte{}}
}

// add takes a chunk as the sandbox produced it.
func (c *coalescer) add(chunk coderunner.OutputChunk) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending[chunk.Stream]) == 0 {
		c.order = append(c.order, chunk.Stream)
	}
	c.pending[chunk.Stream] = append(c.pending[chunk.Stream], chunk.Data...)
	if len(c.pending[chunk.Stream]) >= maxChunk {
		c.flushLocked(false)
	}
	if len(c.order) > 0 && c.timer == nil {
		c.timer = time.AfterFunc(flushEvery, c.flushOnTimer)
	}
}

func (c *coalescer) flushOnTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = nil
	c.flushLocked(false)
}

// close emits whatever is pending, incomplete characters included.
func (c *coalescer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked(true)
}

// flushLocked emits the pending bytes of every stream, oldest first, in
// events of at most maxChunk bytes. Unless all is set, it holds back an
// incomplete UTF-8 character at the end of a stream.
func (c *coalescer) flushLocked(all bool) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	var still []coderunner.OutputStream
	for _, stream := range c.order {
		buf := c.pending[stream]
		for len(buf) > 0 {
			n := min(len(buf), maxChunk)
			if !all {
				n = completeUTF8(buf[:n])
				if n == 0 {
					break
				}
			}
			c.emit(stream, toValidUTF8(buf[:n]))
			buf = buf[n:]
		}
		c.pending[stream] = buf
		if len(buf) > 0 {
			still = append(still, stream)
		}
	}
	c.order = still
}

// completeUTF8 returns the length of b without a trailing incomplete
// UTF-8 character (one that more bytes could still complete).
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if !utf8.RuneStart(b[i]) {
			continue
		}
		if !utf8.FullRune(b[i:]) {
			return i
		}
		break
	}
	return len(b)
}

func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b)))
}
