package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	goredis "github.com/redis/go-redis/v9"

	"coderunner"
	"coderunner/broker/redis/redistest"
	"coderunner/executor"
	"coderunner/store/mongo/mongotest"
)

// Settings every process of a cluster shares. The claim timeout is short
// so that a dead worker's job is taken over within seconds.
const (
	claimTimeout = 3 * time.Second
	grace        = 15 * time.Second
	// readyWithin bounds a process's start-up, up to a green /readyz.
	readyWithin = 60 * time.Second
	// stopWithin bounds a process's exit after SIGTERM at clean-up.
	stopWithin = grace + 10*time.Second
)

// The broker's Redis names that the tests look at directly (see
// broker/redis): the job stream and its consumer group.
const (
	jobStream = "coderunner:jobs"
	jobGroup  = "workers"
)

// cluster is a deployment: one Redis, one database on the shared FerretDB,
// and coderunner processes.
type cluster struct {
	t       *testing.T
	redis   *redistest.Server
	rdb     *goredis.Client // the tests' own view of the queue
	env     []string        // shared by every process
	db      string          // the test's database on the shared FerretDB
	apis    []*proc
	workers []*proc
}

// proc is one coderunner process.
type proc struct {
	name    string // api-a, worker-b, …
	addr    string // host:port of its HTTP server
	logPath string
	cmd     *exec.Cmd

	done    chan struct{} // closed when it has exited; then waitErr is set
	waitErr error
	// signalled records that a test signalled it on purpose, so that
	// clean-up does not judge how it exited.
	mu        sync.Mutex
	signalled bool
}

// startCluster starts Redis and apis + workers processes, and waits until
// every process reports ready; env (NAME=value) adds to or overrides the
// settings every process shares. Clean-up stops them all (SIGTERM, and checks
// that each exits 0), and prints their logs if the test failed. Processes
// started later with c.start are stopped too.
func startCluster(t *testing.T, apis, workers int, env ...string) *cluster {
	t.Helper()
	requireDocker(t)
	begin := time.Now()
	c := &cluster{t: t, redis: redistest.StartServer(t)}
	opt, err := goredis.ParseURL(c.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1 // a look at the queue must not wait out a Redis restart
	c.rdb = goredis.NewClient(opt)
	t.Cleanup(func() { c.rdb.Close() })
	c.db = mongotest.NewName(t)
	c.env = []string{
		"CODERUNNER_ENV=development",
		"CODERUNNER_DATA=" + t.TempDir(),
		"MONGODB_URI=" + mongotest.Database(mongoURI, c.db),
		"REDIS_URL=" + c.redis.URL(),
		"CODERUNNER_CLAIM_TIMEOUT=" + claimTimeout.String(),
		"CODERUNNER_WORKERS=2",
		"CODERUNNER_POOL_SIZE=1",
		"CODERUNNER_GRACE=" + grace.String(),
		"CODERUNNER_MAX_DELIVERIES=3",
		"CODERUNNER_LOG_LEVEL=debug",
		// Every test client is a guest from 127.0.0.1: budget them as
		// one busy classroom, not one child.
		"CODERUNNER_QUOTA_GUEST=runsPerMinute=1000,runsPerDay=100000,maxActiveRuns=100",
	}
	c.env = append(c.env, env...) // exec.Cmd keeps the last of a repeated name
	// report runs last, once every process has exited and its log is
	// complete.
	t.Cleanup(c.report)
	t.Cleanup(c.stopAll)
	// The first api seeds the empty database before the others start.
	// Two replicas seeding at once is fine on MongoDB, which retries an
	// upsert that lost a race on _id, but FerretDB v1 does not retry and
	// one replica fails at start-up with E11000 (duplicate key).
	for i := range apis {
		c.start(fmt.Sprintf("api-%c", 'a'+i), "api")
		if i == 0 {
			c.waitReady(c.apis[0], readyWithin)
		}
	}
	for i := range workers {
		c.start(fmt.Sprintf("worker-%c", 'a'+i), "worker")
	}
	for _, p := range c.all() {
		c.waitReady(p, readyWithin)
	}
	t.Logf("cluster ready in %v", time.Since(begin).Round(10*time.Millisecond))
	return c
}

func (c *cluster) all() []*proc { return append(append([]*proc(nil), c.apis...), c.workers...) }

// start starts one process, an api or a worker, and adds it to c.apis or
// c.workers.
func (c *cluster) start(name, command string) *proc {
	t := c.t
	t.Helper()
	p := &proc{name: name, addr: freeAddr(t), logPath: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), c.env...)
	if command == "worker" {
		// A worker serves health and metrics only; CODERUNNER_ADDR is
		// not listened on.
		env = append(env, "CODERUNNER_WORKER_ADDR="+p.addr, "CODERUNNER_ADDR=127.0.0.1:1")
	} else {
		env = append(env, "CODERUNNER_ADDR="+p.addr)
	}
	p.cmd = exec.Command(binary, command)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// Should the test binary die, its processes die with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	if command == "worker" {
		c.workers = append(c.workers, p)
	} else {
		c.apis = append(c.apis, p)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p
}

// stopAll stops every process at clean-up, all at once.
func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, p := range c.all() {
		wg.Go(func() { c.stop(p) })
	}
	wg.Wait()
}

// stop ends p at clean-up: SIGTERM, then SIGKILL if it does not exit
// within stopWithin. A process no test signalled must exit 0.
func (c *cluster) stop(p *proc) {
	if p.exited() {
		if !p.wasSignalled() && p.waitErr != nil {
			c.t.Errorf("%s exited by itself during the test: %v", p.name, p.waitErr)
		}
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitErr != nil {
			c.t.Errorf("%s: exit after SIGTERM: %v; want status 0", p.name, p.waitErr)
		}
	case <-time.After(stopWithin):
		_ = p.cmd.Process.Kill()
		<-p.done
		c.t.Errorf("%s did not exit within %v of SIGTERM: killed", p.name, stopWithin)
	}
}

// report fails the test if a process reported a data race, and prints
// every process's log if the test failed (or E2E_LOGS is set).
func (c *cluster) report() {
	for _, p := range c.all() {
		if log, _ := os.ReadFile(p.logPath); strings.Contains(string(log), "WARNING: DATA RACE") {
			c.t.Errorf("%s reported a data race (its log follows)", p.name)
		}
	}
	if !c.t.Failed() && os.Getenv("E2E_LOGS") == "" {
		return
	}
	const tail = 48 << 10
	for _, p := range c.all() {
		log, _ := os.ReadFile(p.logPath)
		if len(log) > tail {
			log = append([]byte("[…]\n"), log[len(log)-tail:]...)
		}
		c.t.Logf("----- %s (pid %d) log -----\n%s", p.name, p.cmd.Process.Pid, log)
	}
}

// String names p, or nobody.
func (p *proc) String() string {
	if p == nil {
		return "nobody"
	}
	return p.name
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) wasSignalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signalled
}

// signal sends sig to p, on purpose: clean-up leaves its exit to the test.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	p.signalled = true
	p.mu.Unlock()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// waitExit waits up to d for p to exit and returns how it did.
func (p *proc) waitExit(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(d):
		t.Fatalf("%s has not exited within %v", p.name, d)
		return nil
	}
}

// readyz returns p's /readyz status and body.
func (p *proc) readyz() (int, string, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.url("/readyz"))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// waitReady waits until p's /readyz answers 200; p exiting fails the test
// at once.
func (c *cluster) waitReady(p *proc, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, body, err := p.readyz()
		if err == nil && status == http.StatusOK {
			return
		}
		if p.exited() {
			c.t.Fatalf("%s exited before it was ready: %v", p.name, p.waitErr)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready within %v: %d %s %v", p.name, within, status, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric returns the value of one sample of p's /metrics, such as
// `coderunner_runs_total{status="COMPLETED"}`; a sample not exported
// (a counter never incremented) is 0.
func (p *proc) metric(t *testing.T, sample string) float64 {
	t.Helper()
	v, err := p.scrape(sample)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scrape is metric for any goroutine: it returns what fails instead of
// failing the test.
func (p *proc) scrape(sample string) (float64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.url("/metrics"))
	if err != nil {
		return 0, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s /metrics: %d %v", p.name, resp.StatusCode, err)
	}
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return 0, fmt.Errorf("%s /metrics: %q: %w", p.name, line, err)
			}
			return v, nil
		}
	}
	return 0, nil
}

func completedRuns(t *testing.T, worker *proc) int {
	t.Helper()
	return int(worker.metric(t, `coderunner_runs_total{status="COMPLETED"}`))
}

// waitAcked waits until no job is pending in the consumer group. A worker
// counts a run in its metrics after publishing FINISHED and before
// acknowledging the job, so once every job is acknowledged completedRuns
// counts every run a subscriber saw finish.
func (c *cluster) waitAcked() {
	c.t.Helper()
	eventually(c.t, 10*time.Second, "every job is acknowledged", func() error {
		pending, err := c.rdb.XPending(c.t.Context(), jobStream, jobGroup).Result()
		if err == nil && pending.Count > 0 {
			err = fmt.Errorf("%d jobs pending", pending.Count)
		}
		return err
	})
}

// holder is which worker holds the job of runID (a run's or a
// submission's id) now, and how often the job has been delivered; nil
// while no worker holds it.
func (c *cluster) holder(runID string) (*proc, int64, error) {
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	pending, err := c.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: jobStream, Group: jobGroup, Start: "-", End: "+", Count: 100}).Result()
	if err != nil {
		return nil, 0, err
	}
	for _, e := range pending {
		entries, err := c.rdb.XRange(ctx, jobStream, e.ID, e.ID).Result()
		if err != nil || len(entries) == 0 {
			continue // acknowledged meanwhile
		}
		var job coderunner.Job
		payload, _ := entries[0].Values["job"].(string)
		if json.Unmarshal([]byte(payload), &job) != nil || job.ID() != runID {
			continue
		}
		// Workers name themselves host-pid.
		pid, _ := strconv.Atoi(e.Consumer[strings.LastIndexByte(e.Consumer, '-')+1:])
		for _, w := range c.workers {
			if w.pid() == pid {
				return w, e.RetryCount, nil
			}
		}
		return nil, 0, fmt.Errorf("run %s is held by consumer %q, not a worker of this test", runID, e.Consumer)
	}
	return nil, 0, nil
}

// waitHolder waits until a worker holds runID's job and returns it.
func (c *cluster) waitHolder(runID string, within time.Duration) (*proc, int64) {
	c.t.Helper()
	var last error
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		w, deliveries, err := c.holder(runID)
		if err == nil && w != nil {
			return w, deliveries
		}
		last = err
	}
	c.t.Fatalf("no worker holds run %s after %v (%v)", runID, within, last)
	return nil, 0
}

// kill9 kills w with SIGKILL, as a machine that dies, waits for it to
// exit and removes its containers at clean-up.
func (c *cluster) kill9(w *proc) {
	t := c.t
	t.Helper()
	w.signal(t, syscall.SIGKILL)
	if err := w.waitExit(t, 5*time.Second); err == nil {
		t.Fatalf("%s exited 0 after kill -9", w.name)
	}
	t.Cleanup(func() { removeContainers(t, w) })
}

// waitTakeover waits until survivor holds the job of id (a run's or a
// submission's), delivered a second time once the claim of a worker
// killed at killed timed out.
func (c *cluster) waitTakeover(id string, survivor *proc, killed time.Time) {
	t := c.t
	t.Helper()
	var w *proc
	var deliveries int64
	eventually(t, claimTimeout+10*time.Second, "the other worker takes the job over", func() error {
		var err error
		if w, deliveries, err = c.holder(id); err == nil && w != survivor {
			err = fmt.Errorf("held by %s", w.String())
		}
		return err
	})
	if deliveries != 2 {
		t.Errorf("%s took the job over at delivery %d; want 2", w.name, deliveries)
	}
	t.Logf("%s took the job of %s over %v after kill -9", w.name, id, time.Since(killed).Round(10*time.Millisecond))
}

// firstHolder waits until a worker holds the job of id (a run's or a
// submission's) at its first delivery, and returns it and the other
// worker.
func (c *cluster) firstHolder(id string) (holder, other *proc) {
	c.t.Helper()
	holder, deliveries := c.waitHolder(id, 5*time.Second)
	if deliveries != 1 {
		c.t.Fatalf("%s held by %s at delivery %d; want 1", id, holder.name, deliveries)
	}
	return holder, c.other(holder)
}

func (c *cluster) other(w *proc) *proc {
	for _, o := range c.workers {
		if o != w {
			return o
		}
	}
	c.t.Fatal("no other worker")
	return nil
}

// poolContainers lists the sandbox containers of a worker process: the
// executor labels them with the worker's name, host-pid.
func poolContainers(t *testing.T, w *proc) []container.Summary {
	t.Helper()
	cli, err := executor.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	host, _ := os.Hostname()
	// Not t.Context(): clean-up calls this too, after it has ended.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", fmt.Sprintf("coderunner.pool=%s-%d", host, w.pid())))})
	if err != nil {
		t.Fatalf("list containers of %s: %v", w.name, err)
	}
	return list
}

// removeContainers removes whatever containers w left behind.
func removeContainers(t *testing.T, w *proc) {
	cli, err := executor.NewClient()
	if err != nil {
		t.Error(err)
		return
	}
	defer cli.Close()
	for _, ct := range poolContainers(t, w) {
		err := cli.ContainerRemove(context.Background(), ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !strings.Contains(err.Error(), "No such container") {
			t.Errorf("remove container %s of %s: %v", ct.ID[:12], w.name, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// eventually retries f every 100 ms until it succeeds or within passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
