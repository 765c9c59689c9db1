package executor

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"coderunner"
)

type emitted struct {
	stream coderunner.OutputStream
	text   string
}

func collect() (*coalescer, func() []emitted) {
	var mu sync.Mutex
	var out []emitted
	c := newCoalescer(func(s coderunner.OutputStream, text string) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, emitted{s, text})
	})
	return c, func() []emitted {
		mu.Lock()
		defer mu.Unlock()
		return append([]emitted(nil), out...)
	}
}

func chunk(s coderunner.OutputStream, data string) coderunner.OutputChunk {
	return coderunner.OutputChunk{Stream: s, Data: []byte(data)}
}

func TestCoalescer(t *testing.T) {
	out, errs := coderunner.StreamStdout, coderunner.StreamStderr
	snake := "🐍" // 4 bytes
	tests := []struct {
		name   string
		chunks []coderunner.OutputChunk
		want   []emitted
	}{
		{"small writes join", []coderunner.OutputChunk{chunk(out, "a"), chunk(out, "b"), chunk(out, "c")},
			[]emitted{{out, "abc"}}},
		{"streams coalesce apart, the older first", []coderunner.OutputChunk{chunk(errs, "1"), chunk(out, "2"), chunk(errs, "3")},
			[]emitted{{errs, "13"}, {out, "2"}}},
		{"big writes split at 4 KiB", []coderunner.OutputChunk{chunk(out, strings.Repeat("x", 9000))},
			[]emitted{{out, strings.Repeat("x", 4096)}, {out, strings.Repeat("x", 4096)}, {out, strings.Repeat("x", 808)}}},
		{"a character split between chunks stays whole", []coderunner.OutputChunk{chunk(out, snake[:1]), chunk(out, snake[1:3]), chunk(out, snake[3:])},
			[]emitted{{out, snake}}},
		{"a split at 4 KiB does not cut a character", []coderunner.OutputChunk{chunk(out, strings.Repeat("x", 4094)+snake)},
			[]emitted{{out, strings.Repeat("x", 4094)}, {out, snake}}},
		{"invalid bytes and NUL", []coderunner.OutputChunk{chunk(out, "a\xffb\x00c")},
			[]emitted{{out, "a\uFFFDb\x00c"}}},
		{"an incomplete character at the end", []coderunner.OutputChunk{chunk(out, "end"+snake[:2])},
			[]emitted{{out, "end\uFFFD\uFFFD"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := collect()
			for _, ch := range tt.chunks {
				c.add(ch)
			}
			c.close()
			g := got()
			if len(g) != len(tt.want) {
				t.Fatalf("emitted %d events %q, want %d %q", len(g), g, len(tt.want), tt.want)
			}
			for i := range g {
				if g[i] != tt.want[i] {
					t.Errorf("event %d = %q, want %q", i, g[i], tt.want[i])
				}
				if !utf8.ValidString(g[i].text) {
					t.Errorf("event %d is not valid UTF-8", i)
				}
			}
		})
	}
}

// TestAlternatingStreamsStayCoalesced: a program that alternates between
// stdout and stderr on every write still makes few events.
func TestAlternatingStreamsStayCoalesced(t *testing.T) {
	c, got := collect()
	for i := range 1000 {
		c.add(chunk([]coderunner.OutputStream{coderunner.StreamStdout, coderunner.StreamStderr}[i%2], "x\n"))
	}
	c.close()
	g := got()
	total := 0
	for _, e := range g {
		total += len(e.text)
	}
	if total != 2000 || len(g) > 4 {
		t.Errorf("1,000 alternating writes of 2 bytes gave %d events of %d bytes in all; want at most 4 events, 2,000 bytes", len(g), total)
	}
}

// TestCoalescerFlushesOnTime checks that output is not held back waiting
// for more: a lone write is emitted within about flushEvery.
func TestCoalescerFlushesOnTime(t *testing.T) {
	c, got := collect()
	start := time.Now()
	c.add(chunk(coderunner.StreamStdout, "prompt> "))
	for len(got()) == 0 {
		if time.Since(start) > 20*flushEvery {
			t.Fatal("a lone write was never flushed")
		}
		time.Sleep(time.Millisecond)
	}
	if d := time.Since(start); d < flushEvery/2 {
		t.Errorf("flushed after %v, want it coalesced for about %v", d, flushEvery)
	}
}
