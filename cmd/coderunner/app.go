package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/docker/docker/client"
	"golang.org/x/sync/errgroup"

	"coderunner"
	"coderunner/accounts"
	"coderunner/broker"
	"coderunner/broker/memory"
	"coderunner/broker/redis"
	"coderunner/cache"
	"coderunner/content"
	"coderunner/curriculum"
	"coderunner/executor"
	"coderunner/metrics"
	"coderunner/report"
	"coderunner/runs"
	"coderunner/server"
	"coderunner/store/mongo"
	"coderunner/store/sqlite"
	"coderunner/submissions"
	"coderunner/usage"
)

// app is what every long-running command shares: configuration, logs, the
// store, the broker, metrics and the run service. close releases them in
// reverse order.
type app struct {
	cfg     config
	log     *slog.Logger
	store   coderunner.Store
	broker  coderunner.Broker
	metrics *metrics.Metrics
	// report is told of panics and INTERNAL failures (report.Nop
	// without SENTRY_DSN).
	report      report.Reporter
	runs        *runs.Service
	submissions *submissions.Service
	accounts    *accounts.Service
	checks      map[string]server.Check
	// facts are reported by /readyz: the worker's sandbox mode.
	facts   map[string]string
	closers []func() error
}

func newApp(ctx context.Context, cfg config) (*app, error) {
	a := &app{cfg: cfg, log: cfg.logger(), metrics: metrics.New(), checks: map[string]server.Check{}, facts: map[string]string{}}
	var err error
	if a.report, err = report.New(report.Options{DSN: cfg.SentryDSN, Environment: cfg.environment()}); err != nil {
		return nil, err
	}
	// Closed last: what went wrong while closing is sent too.
	a.closers = append(a.closers, func() error {
		if !a.report.Flush(5 * time.Second) {
			a.log.Warn("not every error report could be sent before exiting")
		}
		return nil
	})
	if a.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.store.Close)
	a.checks["store"] = a.store.Ping
	opts := broker.Options{ClaimTimeout: cfg.ClaimTimeout, MaxWaiting: cfg.QueueMax}
	if cfg.RedisURL != "" {
		rb, err := redis.Open(cfg.RedisURL, redis.Config{Options: opts, Log: a.log})
		if err != nil {
			a.close()
			return nil, err
		}
		a.broker = rb
		a.checks["redis"] = rb.Ping
		a.metrics.WatchRedis(rb.Ping)
	} else {
		a.broker = memory.New(opts)
	}
	a.closers = append(a.closers, a.broker.Close)
	a.checks["broker"] = a.broker.Ping
	a.metrics.WatchQueue(a.broker)
	a.accounts = &accounts.Service{Store: a.store, Broker: a.broker, Config: accounts.Config{
		TokenTTL: cfg.TokenTTL, Guests: cfg.Guests, Quotas: cfg.Quotas, GuestQuota: cfg.GuestQuota,
	}}
	a.runs = &runs.Service{Store: a.store, Broker: a.broker, Quotas: a.accounts, Log: a.log}
	a.submissions = &submissions.Service{Store: a.store, Broker: a.broker, Quotas: a.accounts, Log: a.log}
	return a, nil
}

// ready runs every readiness check concurrently, as /readyz does, and
// fails with the first failure. Call it once the checks are all added.
func (a *app) ready(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for name, check := range a.checks {
		g.Go(func() error {
			if err := check(ctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// buildVersion is the VCS revision the binary was built from (with
// "-dirty" if the tree had changes), else its module version ("(devel)"
// under go run, which records no revision).
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	version := info.Main.Version
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			version = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		version += "-dirty"
	}
	return cmp.Or(version, "unknown")
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Warn("close", "err", err)
		}
	}
}

func storeKind(cfg config) string {
	if cfg.MongoURI != "" {
		return "mongodb"
	}
	return "sqlite:" + cfg.sqlitePath()
}

// openStore opens MongoDB when MONGODB_URI is set, else the embedded SQLite file.
func openStore(ctx context.Context, cfg config) (coderunner.Store, error) {
	if cfg.MongoURI != "" {
		return mongo.Open(ctx, cfg.MongoURI)
	}
	return sqlite.Open(ctx, cfg.sqlitePath())
}

// seedIfEmpty loads the shipped curriculum into a store that has none, so
// that a fresh `serve` has something to show.
func (a *app) seedIfEmpty(ctx context.Context) error {
	groups, err := a.store.AgeGroups(ctx)
	if err != nil {
		return fmt.Errorf("check for content: %w", err)
	}
	if len(groups) > 0 {
		return nil
	}
	c, err := curriculum.Shipped()
	if err != nil {
		return err
	}
	a.log.Info("store is empty: seeding the shipped curriculum", "problems", len(c.Problems))
	return curriculum.Seed(ctx, a.store, c)
}

// apiServer builds the GraphQL server, with caches sized by the
// configuration (none when CODERUNNER_CACHE_MB is 0).
func (a *app) apiServer() (*server.Server, error) {
	var shared cache.QueryStore
	if rb, ok := a.broker.(*redis.Broker); ok {
		shared = rb.QueryStore(0)
	}
	queries, err := cache.NewQueries(8<<20, shared)
	if err != nil {
		return nil, err
	}
	a.metrics.WatchCache("apq", queries.Stats)
	scfg := server.Config{
		Store:             a.store,
		Queries:           queries,
		Limits:            server.DefaultLimits,
		Runs:              a.runs,
		Submissions:       a.submissions,
		Accounts:          a.accounts,
		Revocations:       a.broker,
		TrustedProxies:    a.cfg.TrustedProxies,
		Checks:            a.checks,
		Facts:             a.facts,
		TrackSubscription: a.metrics.SubscriptionStarted,
		CountError:        a.metrics.ErrorAnswered,
		Connections:       server.DefaultConnectionLimits,
		CountRefused:      a.metrics.Refused,
		CountDropped:      a.metrics.Dropped,
		Introspection:     a.cfg.Introspection,
		GraphiQL:          a.cfg.GraphiQL,
		AllowedOrigins:    a.cfg.Origins,
		Reporter:          a.report,
		Logger:            a.log,
	}
	if a.cfg.MetricsAddr == "" {
		scfg.Metrics = a.metrics.Handler()
	}
	if a.cfg.CacheMB > 0 {
		budget := int64(a.cfg.CacheMB) << 20
		cached, err := cache.NewStore(a.store, budget/2, cacheTTL/2)
		if err != nil {
			return nil, err
		}
		responses, err := cache.NewResponses(budget/2, cacheTTL/2, cached.Versions())
		if err != nil {
			return nil, err
		}
		a.metrics.WatchCache("curriculum", cached.Stats)
		scfg.Store, scfg.Responses = cached, responses
		// Every replica applies every replica's content changes.
		scfg.Invalidate, scfg.CountContentChange = cached.Invalidate, a.metrics.ContentChangeApplied
	}
	scfg.ContentChanges = a.broker
	if a.cfg.CDNPurgeURL != "" {
		scfg.Purge = &server.Purger{URL: a.cfg.CDNPurgeURL, Count: a.metrics.CDNPurged, Log: a.log}
	}
	// Editors write through the cache (which drops what each write
	// changes here), and the server announces each change to the other
	// replicas and the CDN.
	editing := &content.Service{Store: scfg.Store, Checker: &content.Checker{Submissions: a.submissions}, Log: a.log}
	scfg.Content = editing
	srv := server.New(scfg)
	editing.Changed = srv.ContentChanged
	return srv, nil
}

// cacheTTL bounds how long a content change takes to show when nobody
// announced it (`coderunner seed` run against a serving deployment) or its
// announcement was lost (a Redis outage): as long as a browser or CDN may
// keep a public response (max-age=60). Announced changes show on every
// replica at once (server.Server.ContentChanged). The store cache and the
// response cache each get half: a response may be built from a store entry
// about to expire.
const cacheTTL = time.Minute

// worker connects to Docker, makes sure the sandbox image exists, and
// returns a worker ready to run.
func (a *app) worker(ctx context.Context) (*executor.Worker, error) {
	cli, err := executor.NewClient()
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, cli.Close)
	a.checks["docker"] = func(ctx context.Context) error {
		_, err := cli.Ping(ctx)
		return err
	}
	image, err := a.sandboxImage(ctx, cli)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s-%d", host, os.Getpid())
	// Each worker process labels its containers with its own name, so that
	// workers sharing an engine never remove each other's warm containers.
	// A dead worker's containers stop by themselves (their launcher reads
	// end-of-file) and any executor removes stopped ones at start-up.
	sandbox, err := executor.New(ctx, cli, executor.Options{
		Image: image, PoolSize: a.cfg.PoolSize, PoolName: name, Mode: a.cfg.Sandbox, JailRuns: a.cfg.JailRuns, Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, sandbox.Close)
	a.metrics.WatchPoolSize(sandbox.WarmContainers)
	// The mode in effect, which is container mode where jail mode was
	// asked for but failed its probe.
	a.facts["sandboxMode"] = string(sandbox.Mode())
	a.metrics.SandboxMode(string(a.cfg.Sandbox), string(sandbox.Mode()))
	return &executor.Worker{
		Name:           name,
		Broker:         a.broker,
		Runs:           a.runs,
		Submissions:    a.submissions,
		Sandbox:        sandbox,
		Concurrency:    a.cfg.Workers,
		MaxDeliveries:  a.cfg.MaxDeliveries,
		KeepAliveEvery: a.cfg.ClaimTimeout / 3,
		Grace:          a.cfg.Grace,
		Log:            a.log.With("component", "worker"),
		Reporter:       a.report,
		Metrics: executor.Metrics{
			QueueWait:        a.metrics.QueueWait,
			RunFinished:      a.metrics.RunFinished,
			DeadLettered:     a.metrics.DeadLettered,
			SubmissionGraded: a.metrics.SubmissionGraded,
			ProgramCPU:       a.metrics.ProgramCPU,
		},
	}, nil
}

// sandboxImage makes sure the engine has the sandbox image and returns its
// reference: the one pinned by CODERUNNER_SANDBOX_IMAGE, pulled by digest
// if the engine lacks it (never built); else the one this binary's image
// definition names, built here if the engine lacks it.
func (a *app) sandboxImage(ctx context.Context, cli client.APIClient) (string, error) {
	if pinned := a.cfg.SandboxImage; pinned != "" {
		pulled, err := executor.EnsurePinnedImage(ctx, cli, pinned, os.Stderr)
		if err != nil {
			return "", fmt.Errorf("sandbox image (CODERUNNER_SANDBOX_IMAGE): %w", err)
		}
		if pulled {
			a.log.Info("pulled the sandbox image", "image", pinned)
		}
		return pinned, nil
	}
	built, err := executor.EnsureImage(ctx, cli, executor.FromDebootstrap, os.Stderr)
	if err != nil {
		return "", fmt.Errorf("sandbox image: %w (is the Docker engine running? scripts/setup-docker.sh starts it)", err)
	}
	if built {
		a.log.Info("built the sandbox image", "image", executor.ImageRef())
	}
	return executor.ImageRef(), nil
}

// reapStaleRuns gives up, every minute until ctx ends, on runs and
// submissions whose job was lost (see runs.Service.Reap and
// submissions.Service.Reap), so that none waits forever; and deletes
// expired sessions, so that they do not pile up.
func (a *app) reapStaleRuns(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range a.reapers() {
			n, err := r.reap(ctx, a.cfg.StaleAfter)
			if err != nil && ctx.Err() == nil {
				a.log.Warn("reap stale "+r.what, "err", err)
			}
			if n > 0 {
				a.log.Warn("gave up on lost "+r.what, "count", n, "staleAfter", a.cfg.StaleAfter)
				a.report.Report(report.Event{Kind: report.GaveUp, Role: "worker", Operation: "reap", Message: "gave up on lost " + r.what})
			}
		}
		if _, err := a.accounts.DeleteExpiredSessions(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("delete expired sessions", "err", err)
		}
	}
}

// maintain keeps the usage figures and expires old runs, at once and then
// every hour until ctx ends: it rolls up the days due (usage.Roller: today,
// yesterday, and at the first pass any day of the retention window that
// has no roll-up), and only then deletes finished runs older than
// CODERUNNER_RUN_RETENTION, in batches (see runs.Retention), so that no
// run expires before its day is rolled up. Every process that reaps does;
// several at once make the same roll-ups and delete different batches.
func (a *app) maintain(ctx context.Context) {
	roller := &usage.Roller{Store: a.store, Lookback: a.cfg.RunRetention - 24*time.Hour, Rolled: a.metrics.UsageRolledUp}
	retention := &runs.Retention{Store: a.store, MaxAge: a.cfg.RunRetention, Deleted: a.metrics.RunsDeleted}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := roller.Pass(ctx); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("roll up usage; expiring no runs until it works", "err", err)
			}
		} else if n, err := retention.Sweep(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("delete expired runs", "err", err, "deleted", n)
		} else if n > 0 {
			a.log.Info("deleted expired runs", "count", n, "retention", a.cfg.RunRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// meterHost measures the runner host's CPU for the cost model (see
// usage.Meter), every minute until ctx ends.
func (a *app) meterHost(ctx context.Context, runner string) {
	host, _ := os.Hostname()
	m := &usage.Meter{Store: a.store, Runner: runner, Host: host, VCPUs: runtime.NumCPU(), Measured: a.metrics.RunnerMeasured, Log: a.log}
	if err := m.Start(); err != nil {
		a.log.Warn("not measuring the runner host", "err", err)
		return
	}
	m.Run(ctx, time.Minute)
}

// reaper is a service whose work may be lost with its job.
type reaper struct {
	what    string
	reap    func(ctx context.Context, maxAge time.Duration) (int, error)
	requeue func(ctx context.Context, maxAge time.Duration) (queued, gaveUp int, err error)
}

func (a *app) reapers() []reaper {
	return []reaper{
		{"runs", a.runs.Reap, a.runs.Requeue},
		{"submissions", a.submissions.Reap, a.submissions.Requeue},
	}
}

// requeue queues again what the previous process left unfinished in an
// in-memory queue that died with it (see runs.Service.Requeue and
// submissions.Service.Requeue).
func (a *app) requeue(ctx context.Context) error {
	for _, r := range a.reapers() {
		queued, gaveUp, err := r.requeue(ctx, a.cfg.StaleAfter)
		if err != nil {
			return fmt.Errorf("queue again the %s left unfinished: %w", r.what, err)
		}
		if queued+gaveUp > 0 {
			a.log.Info("queued again the "+r.what+" the previous process left unfinished",
				"queued", queued, "gaveUp", gaveUp, "staleAfter", a.cfg.StaleAfter)
		}
	}
	return nil
}

// serveHTTP serves handler on addr until ctx ends, then shuts down
// gracefully: beforeShutdown runs first (to end subscriptions, which
// http.Server.Shutdown does not).
func serveHTTP(ctx context.Context, addr string, handler http.Handler, log *slog.Logger, beforeShutdown func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := server.NewHTTPServer(handler, server.DefaultTimeouts)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	if beforeShutdown != nil {
		beforeShutdown()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown %s: %w", addr, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdownGrace bounds how long in-flight requests may finish after SIGTERM.
const shutdownGrace = 15 * time.Second
