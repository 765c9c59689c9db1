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

// coalescer gathers a run's output chunks into text events. Order across
// streams is kept: a chunk of the other stream flushes what is pending
// first. Text is valid UTF-8: a character split between two chunks is
// held back until it is whole, and invalid bytes become U+FFFD.
type coalescer struct {
	emit func(coderunner.OutputStream, string)

	mu      sync.Mutex
	stream  coderunner.OutputStream
	pending []byte
	timer   *time.Timer
}

func newCoalescer(emit func(coderunner.OutputStream, string)) *coalescer {
	return &coalescer{emit: emit}
}

// add takes a chunk as the sandbox produced it.
func (c *coalescer) add(chunk coderunner.OutputChunk) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 && chunk.Stream != c.stream {
		c.flushLocked(true)
	}
	c.stream = chunk.Stream
	c.pending = append(c.pending, chunk.Data...)
	for len(c.pending) >= maxChunk {
		c.flushLocked(false)
	}
	if len(c.pending) > 0 && c.timer == nil {
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

// flushLocked emits up to maxChunk pending bytes; unless all is set it
// holds back an incomplete UTF-8 character at the end.
func (c *coalescer) flushLocked(all bool) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	for len(c.pending) > 0 {
		n := min(len(c.pending), maxChunk)
		if !all || n < len(c.pending) {
			n = completeUTF8(c.pending[:n])
		}
		if n == 0 {
			if !all {
				return
			}
			n = min(len(c.pending), maxChunk)
		}
		c.emit(c.stream, toValidUTF8(c.pending[:n]))
		c.pending = c.pending[n:]
		if !all {
			break
		}
	}
	if len(c.pending) == 0 {
		c.pending = nil
	}
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
