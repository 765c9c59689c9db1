package main

import (
	"context"
	"flag"
	"net/http"

	"golang.org/x/sync/errgroup"

	"coderunner/executor"
	"coderunner/server"
)

// serveCmd runs the API and a worker in one process: the embedded default,
// and the README's first command.
func serveCmd(ctx context.Context, args []string, getenv func(string) string) error {
	return runProcess(ctx, "serve", args, getenv, true, true)
}

// serveInProductionWarning is what `serve` logs under CODERUNNER_ENV=production.
const serveInProductionWarning = "serve runs children's programs in the API process: in production run `api` and `worker` separately, " +
	"so that the internet-facing API holds no access to the Docker engine, a program that exhausts its host cannot take the API down, " +
	"and API replicas (on requests) and workers (on queue lag) deploy and scale independently"

// apiCmd runs the API only; workers run elsewhere, behind Redis.
func apiCmd(ctx context.Context, args []string, getenv func(string) string) error {
	return runProcess(ctx, "api", args, getenv, true, false)
}

// workerCmd runs a worker only, with health and metrics on its own port.
func workerCmd(ctx context.Context, args []string, getenv func(string) string) error {
	return runProcess(ctx, "worker", args, getenv, false, true)
}

func runProcess(ctx context.Context, name string, args []string, getenv func(string) string, withAPI, withWorker bool) error {
	if err := flag.NewFlagSet(name, flag.ContinueOnError).Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := cfg.checkProcess(name); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	if name == "serve" && cfg.Production {
		// First thing once there are logs, before the slow parts of start-up.
		// A warning, not a refusal: one small machine may run serve in
		// production knowingly.
		a.log.Warn(serveInProductionWarning)
	}
	a.log.Info("starting", "process", name, "store", storeKind(cfg), "broker", map[bool]string{true: "redis", false: "memory"}[cfg.RedisURL != ""])

	// Everything that can fail at start-up happens before anything runs,
	// so that a failure never closes resources under a running worker.
	var api *server.Server
	if withAPI {
		if err := a.seedIfEmpty(ctx); err != nil {
			return err
		}
		if api, err = a.apiServer(); err != nil {
			return err
		}
	}
	var w *executor.Worker
	if withWorker {
		if w, err = a.worker(ctx); err != nil {
			return err
		}
		if cfg.RedisURL == "" {
			// The in-memory queue died with the previous process: carry
			// out again what it left unfinished.
			if err := a.requeue(ctx); err != nil {
				return err
			}
		}
	}

	// Every check is in place: scrapes may run them from now on.
	a.metrics.WatchReady(a.ready)
	a.metrics.BuildInfo(name, buildVersion())

	g, ctx := errgroup.WithContext(ctx)
	// A worker-only process keeps answering health checks and scrapes
	// while it drains, until its runs in flight are done.
	drained, drainDone := context.WithCancel(context.WithoutCancel(ctx))
	defer drainDone()
	if withWorker {
		g.Go(func() error { defer drainDone(); return w.Run(ctx) })
		g.Go(func() error { a.reapStaleRuns(ctx); return nil })
		g.Go(func() error { a.maintain(ctx); return nil })
		g.Go(func() error { a.meterHost(ctx, w.Name); return nil })
	} else {
		drainDone()
	}
	if withAPI {
		g.Go(func() error { return serveHTTP(ctx, cfg.Addr, api, a.log, api.CloseSubscriptions) })
	} else {
		mux := http.NewServeMux()
		server.HealthRoutes(mux, a.checks, a.facts, a.log)
		if cfg.MetricsAddr == "" {
			mux.Handle("GET /metrics", a.metrics.Handler())
		}
		g.Go(func() error { return serveHTTP(drained, cfg.WorkerAddr, mux, a.log, nil) })
	}
	if cfg.MetricsAddr != "" {
		// An internal address, out of the public's reach: metrics tell
		// how busy the platform is and how to hurt it.
		metricsCtx := ctx
		if withWorker {
			metricsCtx = drained
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		g.Go(func() error { return serveHTTP(metricsCtx, cfg.MetricsAddr, mux, a.log, nil) })
	}
	return g.Wait()
}
