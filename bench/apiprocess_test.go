package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"coderunner/accounts"
	"coderunner/broker/redis"
	"coderunner/cache"
	"coderunner/internal/procfs"
	"coderunner/metrics"
	"coderunner/runs"
	"coderunner/server"
	"coderunner/store/sqlite"
)

// The subscription benchmark runs the api in a child process — this test
// binary, started again with these variables set — so that the memory it
// reports is the server's alone, not the 5,000 clients'.
const (
	childDirEnv   = "CODERUNNER_BENCH_API_DIR"   // the directory of the SQLite file
	childRedisEnv = "CODERUNNER_BENCH_API_REDIS" // the Redis URL
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(apiChild(dir, os.Getenv(childRedisEnv)))
	}
	os.Exit(m.Run())
}

// apiChild is the child process: an api as `coderunner api` wires it (SQLite
// instead of MongoDB), on a loopback port it prints, until its standard
// input closes. Besides the api's routes it serves /bench/memory.
func apiChild(dir, redisURL string) int {
	log := logger()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "bench api child:", err)
		return 1
	}
	if path := os.Getenv("CODERUNNER_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "coderunner.db"))
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	rb, err := redis.Open(redisURL, redis.Config{Log: log})
	if err != nil {
		return fail(err)
	}
	defer rb.Close()
	m := metrics.New()
	queries, err := cache.NewQueries(8<<20, rb.QueryStore(0))
	if err != nil {
		return fail(err)
	}
	api := server.New(server.Config{
		Store:             db,
		Queries:           queries,
		Limits:            server.DefaultLimits,
		Runs:              &runs.Service{Store: db, Broker: rb},
		Accounts:          &accounts.Service{Store: db, Broker: rb},
		Revocations:       rb,
		Checks:            map[string]server.Check{"redis": rb.Ping, "broker": rb.Ping},
		Metrics:           m.Handler(),
		TrackSubscription: m.SubscriptionStarted,
		Logger:            log,
	})
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /bench/memory", serveMemory)
	mux.HandleFunc("GET /bench/gc", serveGC)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("listening on %s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin) // until the parent closes it, or dies
	api.CloseSubscriptions()
	srv.Close()
	return 0
}

// memStats is what /bench/memory reports, after a garbage collection.
type memStats struct {
	HeapInuse  uint64 // bytes in in-use heap spans
	StackInuse uint64 // bytes of goroutine stacks
	Sys        uint64 // bytes obtained from the OS
	Goroutines int
}

func serveMemory(w http.ResponseWriter, _ *http.Request) {
	ms := readMemStats()
	if path := os.Getenv("CODERUNNER_BENCH_HEAPPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	json.NewEncoder(w).Encode(ms)
}

// gcStats is what /bench/gc reports, without collecting.
type gcStats struct {
	NumGC        uint32
	PauseTotalNs uint64
	HeapAlloc    uint64
	NextGC       uint64
}

func serveGC(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	json.NewEncoder(w).Encode(gcStats{ms.NumGC, ms.PauseTotalNs, ms.HeapAlloc, ms.NextGC})
}

func readMemStats() memStats {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memStats{HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Sys: ms.Sys, Goroutines: runtime.NumGoroutine()}
}

// apiProcess is a running api child.
type apiProcess struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
}

// startAPIProcess starts an api child on the SQLite file in dir and the
// Redis at redisURL; it stops when tb ends.
func startAPIProcess(tb testing.TB, dir, redisURL string) *apiProcess {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childRedisEnv+"="+redisURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &apiProcess{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		addr <- strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
		io.Copy(io.Discard, r)
		cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(p.stop)
	select {
	case a := <-addr:
		if a == "" {
			tb.Fatal("the api child exited before listening")
		}
		p.URL = "http://" + a
	case <-time.After(30 * time.Second):
		tb.Fatal("the api child did not start listening within 30 s")
	}
	return p
}

// stop closes the child's standard input, which makes it exit, and kills
// it if it has not within 10 s.
func (p *apiProcess) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// rssBytes is the child's resident set size.
func (p *apiProcess) rssBytes() (uint64, error) { return procfs.RSS(p.cmd.Process.Pid) }

// memory returns the child's runtime figures, after a collection.
func (p *apiProcess) memory() (memStats, error) {
	var ms memStats
	err := p.getJSON("/bench/memory", &ms)
	return ms, err
}

func (p *apiProcess) getJSON(path string, v any) error {
	resp, err := http.Get(p.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// activeSubscriptions reads the child's coderunner_active_subscriptions.
func (p *apiProcess) activeSubscriptions() (int, error) {
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, "coderunner_active_subscriptions "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no coderunner_active_subscriptions in /metrics")
}
