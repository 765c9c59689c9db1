// Package redistest starts real redis-server processes for tests: on a
// free loopback port, in a temporary directory, with no persistence (so a
// restart loses everything, like a crash of a cache-only Redis).
//
// Without redis-server on PATH, tests skip with a message saying how to
// install it — except when CI is set, where they fail: CI must not pass
// by skipping. scripts/setup-redis.sh installs it.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ErrNotInstalled means redis-server is not on PATH.
var ErrNotInstalled = errors.New("redis-server is not installed: run scripts/setup-redis.sh (or apt-get install redis-server)")

// Server is a running redis-server.
type Server struct {
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start starts a redis-server for tb, stops it when tb ends, and returns
// its URL.
func Start(tb testing.TB) string {
	return StartServer(tb).URL()
}

// StartServer is Start for tests that restart the server.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	s, err := Launch()
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("stop redis-server: %v", err)
		}
	})
	return s
}

// Launch starts a redis-server; Close stops it. It is for TestMain, where
// there is no testing.TB (see Main); tests use Start.
func Launch() (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	// The free port may be taken between finding and using it: try again.
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		s := &Server{port: port, dir: dir}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return fmt.Sprintf("redis://%s/0", s.Addr()) }

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop stops the server; its data is lost.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("redistest: redis-server ignored SIGTERM for 10 s and was killed")
	}
}

// Restart stops the server and starts a new, empty one on the same port.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start()
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	return errors.Join(err, os.RemoveAll(s.dir))
}

func (s *Server) start() error {
	logFile := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logFile,
		"--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(10 * time.Second)
	for !s.answers() {
		select {
		case <-exited:
			s.cmd = nil
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("redistest: redis-server on port %d exited at start:\n%s", s.port, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return fmt.Errorf("redistest: redis-server on port %d did not answer PING within 10 s", s.port)
		}
	}
	return nil
}

// answers reports whether the server replies to PING: it is ready.
func (s *Server) answers() bool {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.TrimSpace(line) == "+PONG"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		tb.Skip(err)
	}
	tb.Fatal(err)
}

// shared is the server Main started for a test binary.
var shared struct {
	url string
	err error
}

// Main starts one redis-server for a whole test binary, runs its tests
// and stops the server: call it from TestMain as os.Exit(redistest.Main(m)).
// Tests then get its URL from Shared.
func Main(m *testing.M) int {
	s, err := Launch()
	if err != nil {
		shared.err = err
		return m.Run() // the tests that need the server skip or fail
	}
	shared.url = s.URL()
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return max(code, 1)
	}
	return code
}

// Shared returns the URL of the server Main started. Tests that use it
// must not disturb each other: give each its own key prefix or database.
func Shared(tb testing.TB) string {
	tb.Helper()
	switch {
	case shared.err != nil:
		skipOrFail(tb, shared.err)
	case shared.url == "":
		tb.Fatal("redistest.Shared: TestMain did not call redistest.Main")
	}
	return shared.url
}
