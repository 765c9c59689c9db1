package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"coderunner"
	"coderunner/cache"
	"coderunner/curriculum"
	"coderunner/server"
	"coderunner/store/mongo"
	"coderunner/store/sqlite"
)

// shutdownGrace bounds how long in-flight requests may finish after SIGTERM.
const shutdownGrace = 15 * time.Second

func serveCmd(ctx context.Context, args []string, getenv func(string) string) error {
	if err := flag.NewFlagSet("serve", flag.ContinueOnError).Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	log := cfg.logger()
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := seedIfEmpty(ctx, store, log); err != nil {
		return err
	}
	handler, err := newHandler(cfg, store, log)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "addr", ln.Addr().String(), "store", storeKind(cfg), "introspection", cfg.Introspection, "cacheMB", cfg.CacheMB)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", shutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHandler builds the HTTP handler over store, with caches sized by the
// configuration (none when CODERUNNER_CACHE_MB is 0).
func newHandler(cfg config, store coderunner.Store, log *slog.Logger) (http.Handler, error) {
	queries, err := cache.NewQueries(8 << 20)
	if err != nil {
		return nil, err
	}
	scfg := server.Config{
		Store:         store,
		Queries:       queries,
		Limits:        server.DefaultLimits,
		Introspection: cfg.Introspection,
		Logger:        log,
	}
	if cfg.CacheMB > 0 {
		budget := int64(cfg.CacheMB) << 20
		cached, err := cache.NewStore(store, budget/2)
		if err != nil {
			return nil, err
		}
		responses, err := cache.NewResponses(budget / 2)
		if err != nil {
			return nil, err
		}
		scfg.Store, scfg.Responses, scfg.Generation = cached, responses, cached.Generation
	}
	return server.New(scfg), nil
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
func seedIfEmpty(ctx context.Context, store coderunner.Store, log *slog.Logger) error {
	groups, err := store.AgeGroups(ctx)
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
	log.Info("store is empty: seeding the shipped curriculum", "problems", len(c.Problems))
	return curriculum.Seed(ctx, store, c)
}

func seedCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("seed", flag.ContinueOnError)
	file := flags.String("file", "", "curriculum YAML file (default: the curriculum shipped in the binary)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	c, err := curriculum.Shipped()
	if *file != "" {
		f, ferr := os.Open(*file)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		c, err = curriculum.Load(f)
	}
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := curriculum.Seed(ctx, store, c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d age groups, %d levels, %d problems into %s\n", len(c.AgeGroups), len(c.Levels), len(c.Problems), storeKind(cfg))
	return nil
}
