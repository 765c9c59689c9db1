package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"coderunner"
	"coderunner/accounts"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/cache"
	"coderunner/executor"
	"coderunner/internal/floor"
	"coderunner/runs"
	"coderunner/server"
	"coderunner/store/sqlite"
)

// helloProgram is the trivial program every run benchmark runs.
const helloProgram = `print("hi")`

// runMutation starts a run that is not interactive, like executor.Run of
// the same request: its standard input is closed at once.
const runMutation = `mutation($code: String!) {
	run(input: {language: "python", code: $code, interactive: false}) { id status } }`

// logger reports warnings and errors of the parts under test.
func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// stack is the whole system in one process, as `coderunner serve` wires
// it: SQLite store, in-memory broker, run service, GraphQL server on a
// loopback HTTP server, and a worker on the given sandbox.
type stack struct {
	URL    string
	runs   *runs.Service
	client *http.Client
	// token, if set, signs the run mutations in (Authorization: Bearer).
	token string
}

// newStack starts a stack whose worker runs concurrency runs at once on
// sandbox; everything stops when tb ends.
func newStack(tb testing.TB, sandbox coderunner.Sandbox, concurrency int) *stack {
	tb.Helper()
	log := logger()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "coderunner.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	brk := memory.New(broker.Options{MaxWaiting: 10_000})
	tb.Cleanup(func() { brk.Close() })
	svc := &runs.Service{Store: db, Broker: brk}
	queries, err := cache.NewQueries(8<<20, nil)
	if err != nil {
		tb.Fatal(err)
	}
	api := server.New(server.Config{
		Store:       db,
		Queries:     queries,
		Limits:      server.DefaultLimits,
		Runs:        svc,
		Accounts:    &accounts.Service{Store: db, Broker: brk},
		Revocations: brk,
		Logger:      log,
	})
	ts := httptest.NewServer(api)
	tb.Cleanup(ts.Close)
	tb.Cleanup(api.CloseSubscriptions)

	w := &executor.Worker{
		Name:           fmt.Sprintf("bench-%d", os.Getpid()),
		Broker:         brk,
		Runs:           svc,
		Sandbox:        sandbox,
		Concurrency:    concurrency,
		MaxDeliveries:  3,
		KeepAliveEvery: 10 * time.Second,
		Grace:          10 * time.Second,
		Log:            log.With("component", "worker"),
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	tb.Cleanup(func() { stop(); <-done })

	return &stack{
		URL:  ts.URL,
		runs: svc,
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 16},
		},
	}
}

// startRun sends the run mutation for code and returns the run's id.
func (s *stack) startRun(ctx context.Context, code string) (string, error) {
	body, _ := json.Marshal(map[string]any{"query": runMutation, "variables": map[string]any{"code": code}})
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var out struct {
		Data struct {
			Run struct{ ID, Status string }
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.Errors) > 0 || out.Data.Run.Status != "QUEUED" {
		return "", fmt.Errorf("run mutation: HTTP %d %s (%v)", resp.StatusCode, data, err)
	}
	return out.Data.Run.ID, nil
}

// stackClient is one editor: a WebSocket kept open, and for each run the
// mutation, then a subscription followed until FINISHED.
type stackClient struct {
	s    *stack
	ws   *wsClient
	subs int
}

func (s *stack) newClient(ctx context.Context) (*stackClient, error) {
	ws, err := dialWS(ctx, s.URL)
	if err != nil {
		return nil, err
	}
	return &stackClient{s: s, ws: ws}, nil
}

// run runs code through the stack and returns the time from sending the
// mutation to receiving FINISHED, and the mutation's round trip.
func (c *stackClient) run(ctx context.Context, code string) (total, mutation time.Duration, err error) {
	began := time.Now()
	id, err := c.s.startRun(ctx, code)
	if err != nil {
		return 0, 0, err
	}
	mutation = time.Since(began)
	c.subs++
	sub := fmt.Sprint(c.subs)
	if err := c.ws.subscribe(sub, id, 0); err != nil {
		return 0, 0, err
	}
	finished, err := c.ws.followRun(sub, 60*time.Second)
	if err != nil {
		return 0, 0, fmt.Errorf("run %s: %w", id, err)
	}
	return finished.Sub(began), mutation, nil
}

// dockerExecutor starts an executor with a warm pool of poolSize on the
// local engine, building the sandbox image if it is missing. Without an
// engine the benchmark is skipped.
func dockerExecutor(tb testing.TB, poolSize int) (*executor.Executor, *quietWaiter) {
	tb.Helper()
	cli, err := executor.NewClient()
	if err != nil {
		tb.Skipf("no Docker client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pingCtx, cancelPing := context.WithTimeout(ctx, 10*time.Second)
	defer cancelPing()
	if _, err := cli.Ping(pingCtx); err != nil {
		tb.Skipf("no Docker engine (bash scripts/setup-docker.sh starts one): %v", err)
	}
	if _, err := executor.EnsureImage(ctx, cli, executor.FromDebootstrap, os.Stderr); err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("bench-%d-%d", os.Getpid(), poolSeq.Add(1))
	// CODERUNNER_SANDBOX=jail measures the stack in jail mode.
	mode, err := executor.ParseMode(os.Getenv("CODERUNNER_SANDBOX"))
	if err != nil {
		tb.Fatal(err)
	}
	ex, err := executor.New(ctx, cli, executor.Options{PoolSize: poolSize, PoolName: name, Mode: mode, Logger: logger()})
	if err != nil {
		tb.Fatal(err)
	}
	if ex.Mode() != mode {
		tb.Fatalf("executor in %s mode, want %s", ex.Mode(), mode)
	}
	tb.Logf("sandbox mode: %s", mode)
	tb.Cleanup(func() { ex.Close() })
	q := &quietWaiter{cli: cli, ex: ex, pool: name, size: poolSize}
	if err := q.wait(); err != nil {
		tb.Fatal(err)
	}
	return ex, q
}

var poolSeq atomic.Int64

// floorRoot unpacks the sandbox image for the floor; without root the
// benchmark is skipped.
func floorRoot(tb testing.TB, cli client.APIClient) string {
	tb.Helper()
	root := tb.TempDir()
	if err := floor.Export(context.Background(), cli, executor.ImageRef(), root); errors.Is(err, floor.ErrNotRoot) {
		tb.Skip(err)
	} else if err != nil {
		tb.Fatal(err)
	}
	return root
}

// quietWaiter waits until an executor's pool is full and the containers of
// its past runs are gone, so that a sample or phase starts on a quiet
// engine and pays for its own runs' removals and refills only.
type quietWaiter struct {
	cli  client.APIClient
	ex   *executor.Executor
	pool string
	size int
}

func (q *quietWaiter) wait() error {
	deadline := time.Now().Add(2 * time.Minute)
	f := filters.NewArgs(filters.Arg("label", "coderunner.pool="+q.pool))
	for {
		if q.ex.WarmContainers() >= q.size {
			list, err := q.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
			if err != nil {
				return err
			}
			if len(list) <= q.size {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pool %s not quiet after 2 minutes", q.pool)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runHello runs helloProgram on the executor alone and checks its result.
func runHello(ctx context.Context, sb coderunner.Sandbox) error {
	res, err := sb.Run(ctx, coderunner.RunRequest{Code: helloProgram}, nil)
	if err != nil {
		return err
	}
	if res.Status != coderunner.StatusCompleted || res.Stdout != "hi\n" {
		return fmt.Errorf("executor run: %+v", res)
	}
	return nil
}

// concurrently calls run n times in all from callers goroutines, each with
// its index (0 ≤ caller < callers); it returns the first error.
func concurrently(callers, n int, run func(caller int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for caller := range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := run(caller); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
