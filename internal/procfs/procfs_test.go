package procfs

import (
	"math"
	"net"
	"os"
	"testing"
)

// TestSelf reads the test process itself: it holds some memory, and one
// more open file is one more descriptor.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	rss, err := RSS(pid)
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
	before, err := OpenFiles(pid)
	if err != nil || before < 3 {
		t.Fatalf("OpenFiles(self) = %d, %v; want at least stdin, stdout and stderr", before, err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after, err := OpenFiles(pid); err != nil || after != before+1 {
		t.Fatalf("OpenFiles(self) after opening a file = %d, %v; want %d", after, err, before+1)
	}
	if _, err := RSS(-1); err == nil {
		t.Error("RSS(-1) succeeded; want an error")
	}
}

// TestConnections counts the connections a listener has accepted.
func TestConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for want := range 3 {
		if got, err := Connections(port); err != nil || got != want {
			t.Fatalf("Connections(%d) = %d, %v; want %d", port, got, err, want)
		}
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
}

func TestParseHostCPU(t *testing.T) {
	c, err := parseHostCPU("cpu  100 20 30 400 50 6 7 8 90 0\ncpu0 1 2 3 4 5 6 7\n")
	if err != nil || math.Abs(c.Busy-1.71) > 1e-9 || math.Abs(c.Total-6.21) > 1e-9 {
		t.Fatalf("parseHostCPU = %+v, %v", c, err)
	}
	if _, err := parseHostCPU("intr 1 2 3\n"); err == nil {
		t.Fatal("parseHostCPU of a file without the cpu line did not fail")
	}
	// The host's own counters grow while this process spins.
	before, err := ReadHostCPU()
	if err != nil {
		t.Fatal(err)
	}
	sink := 0
	for after := before; after.Busy <= before.Busy; {
		for i := range 10_000_000 {
			sink += i
		}
		if after, err = ReadHostCPU(); err != nil {
			t.Fatal(err)
		}
	}
	_ = sink
}
