package procfs

import (
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
