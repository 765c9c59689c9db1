// Package procfs reads what Linux's /proc says: of a process — its
// resident memory and open files — for coderunner's benchmarks and
// end-to-end tests, which watch a server process from outside; and of the
// host — the CPU time it spent — for the worker's usage figures and the
// overhead benchmark.
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

// HostCPU is the CPU time the whole host has spent since boot, from the
// first line of /proc/stat (every CPU together): Busy is the time not
// idle (user, nice, system, irq, softirq, steal; guest time is already in
// user), Total includes idle and iowait. Both are in seconds, at the
// kernel's USER_HZ of 100 ticks a second. The kernel does not namespace
// /proc/stat: inside a container it is still the host's.
type HostCPU struct {
	Busy, Total float64
}

// ReadHostCPU reads HostCPU from /proc/stat.
func ReadHostCPU() (HostCPU, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return HostCPU{}, err
	}
	return parseHostCPU(string(data))
}

func parseHostCPU(stat string) (HostCPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return HostCPU{}, fmt.Errorf("/proc/stat starts %q, not the cpu line", line)
	}
	// cpu user nice system idle iowait irq softirq [steal [guest [guest_nice]]]
	const ticksPerSecond = 100
	var c HostCPU
	for i, f := range fields[1:min(len(fields), 9)] {
		ticks, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return HostCPU{}, fmt.Errorf("/proc/stat cpu field %d: %w", i+1, err)
		}
		s := float64(ticks) / ticksPerSecond
		c.Total += s
		if i != 3 && i != 4 { // idle, iowait
			c.Busy += s
		}
	}
	return c, nil
}
