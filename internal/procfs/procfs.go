// Package procfs reads what Linux's /proc says of a process — its
// resident memory and open files — for coderunner's benchmarks and
// end-to-end tests, which watch a server process from outside.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSS is the resident set size of process pid in bytes (VmRSS).
func RSS(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// OpenFiles is the number of file descriptors process pid holds open:
// sockets, pipes, files.
func OpenFiles(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}

// Connections is the number of established TCP connections whose local
// port is port, in this network namespace: the clients a server
// listening on port holds open.
func Connections(port int) (int, error) {
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			return 0, err
		}
		for line := range strings.Lines(string(data)) {
			// sl local_address rem_address st …, addresses as HEXIP:HEXPORT
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "01" { // 01: ESTABLISHED
				continue
			}
			_, local, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(local, 16, 16); ok && err == nil && int(p) == port {
				n++
			}
		}
	}
	return n, nil
}
