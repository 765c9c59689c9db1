package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/executor"
	"coderunner/report"
)

// config is everything the environment can set. The README's configuration
// table lists the same variables; keep them in step.
type config struct {
	Addr          string   // CODERUNNER_ADDR
	WorkerAddr    string   // CODERUNNER_WORKER_ADDR: health and metrics of `worker`
	MetricsAddr   string   // CODERUNNER_METRICS_ADDR: if set, /metrics is served there only
	DataDir       string   // CODERUNNER_DATA
	MongoURI      string   // MONGODB_URI: empty means the embedded SQLite store
	RedisURL      string   // REDIS_URL: empty means the in-process broker
	Production    bool     // CODERUNNER_ENV: development (the default) or production
	Introspection bool     // CODERUNNER_INTROSPECTION, default on except in production
	GraphiQL      bool     // CODERUNNER_GRAPHIQL, default on except in production
	Origins       []string // CODERUNNER_ORIGINS: web origins allowed to call with credentials and open WebSockets
	CacheMB       int      // CODERUNNER_CACHE_MB: 0 turns curriculum and response caching off
	CDNPurgeURL   string   // CODERUNNER_CDN_PURGE_URL: if set, content changes POST {"tags": [...]} there
	LogFormat     string   // CODERUNNER_LOG_FORMAT: text or json
	LogLevel      slog.Level

	Workers       int           // CODERUNNER_WORKERS: runs at once per worker process
	PoolSize      int           // CODERUNNER_POOL_SIZE: warm sandbox containers
	Sandbox       executor.Mode // CODERUNNER_SANDBOX: container (default) or jail
	SandboxImage  string        // CODERUNNER_SANDBOX_IMAGE: REPOSITORY@sha256:… to pull; empty: build the image here
	JailRuns      int           // CODERUNNER_JAIL_RUNS: runs per container in jail mode
	QueueMax      int64         // CODERUNNER_QUEUE_MAX: waiting runs before QUEUE_FULL
	ClaimTimeout  time.Duration // CODERUNNER_CLAIM_TIMEOUT: a vanished worker's job is retried after this
	MaxDeliveries int           // CODERUNNER_MAX_DELIVERIES: deliveries before a job is dead-lettered
	Grace         time.Duration // CODERUNNER_GRACE: how long runs in flight may finish on SIGTERM
	StaleAfter    time.Duration // CODERUNNER_STALE_AFTER: unfinished runs older than this are given up
	RunRetention  time.Duration // CODERUNNER_RUN_RETENTION: finished runs older than this are deleted

	SentryDSN string // SENTRY_DSN: if set, panics and INTERNAL errors are reported to Sentry

	TokenTTL       time.Duration                        // CODERUNNER_TOKEN_TTL: how long a session lasts
	Guests         bool                                 // CODERUNNER_GUESTS: callers who have not signed in may run programs
	TrustedProxies []netip.Prefix                       // CODERUNNER_TRUSTED_PROXIES: whose X-Forwarded-For is believed
	Quotas         map[coderunner.Role]coderunner.Quota // CODERUNNER_QUOTA_STUDENT, _EDITOR, _ADMIN
	GuestQuota     coderunner.Quota                     // CODERUNNER_QUOTA_GUEST
}

// requiredInProduction are the variables production cannot run without:
// there, embedded defaults would silently lose data or scale wrong.
// CODERUNNER_ORIGINS: without it browsers could not send credentials,
// and any web page could open a WebSocket.
var requiredInProduction = []string{"MONGODB_URI", "REDIS_URL", "CODERUNNER_ORIGINS"}

// loadConfig reads the configuration and reports every problem at once.
func loadConfig(getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var problems []string
	cfg := config{
		Addr:        env("CODERUNNER_ADDR", ":8080"),
		WorkerAddr:  env("CODERUNNER_WORKER_ADDR", ":9090"),
		MetricsAddr: env("CODERUNNER_METRICS_ADDR", ""),
		DataDir:     env("CODERUNNER_DATA", "./data"),
		MongoURI:    env("MONGODB_URI", ""),
		RedisURL:    env("REDIS_URL", ""),
		CDNPurgeURL: env("CODERUNNER_CDN_PURGE_URL", ""),
		LogFormat:   env("CODERUNNER_LOG_FORMAT", "text"),
	}
	switch environment := env("CODERUNNER_ENV", "development"); environment {
	case "production":
		cfg.Production = true
	case "development":
	default:
		// A typo such as "prod" would otherwise run production with
		// development's defaults.
		problems = append(problems, fmt.Sprintf("CODERUNNER_ENV must be development or production, not %q", environment))
	}
	if cfg.Production {
		var missing []string
		for _, name := range requiredInProduction {
			if env(name, "") == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, "CODERUNNER_ENV=production needs "+strings.Join(missing, ", ")+" to be set")
		}
		cfg.LogFormat = env("CODERUNNER_LOG_FORMAT", "json")
	}
	var err error
	if cfg.Introspection, err = strconv.ParseBool(env("CODERUNNER_INTROSPECTION", strconv.FormatBool(!cfg.Production))); err != nil {
		problems = append(problems, "CODERUNNER_INTROSPECTION must be true or false")
	}
	if cfg.GraphiQL, err = strconv.ParseBool(env("CODERUNNER_GRAPHIQL", strconv.FormatBool(!cfg.Production))); err != nil {
		problems = append(problems, "CODERUNNER_GRAPHIQL must be true or false")
	}
	if cfg.CacheMB, err = strconv.Atoi(env("CODERUNNER_CACHE_MB", "64")); err != nil || cfg.CacheMB < 0 {
		problems = append(problems, "CODERUNNER_CACHE_MB must be a whole number of megabytes (0 turns caching off)")
	}
	if origins := env("CODERUNNER_ORIGINS", ""); origins != "" {
		for _, o := range strings.Split(origins, ",") {
			cfg.Origins = append(cfg.Origins, strings.TrimSpace(o))
		}
	}
	number := func(name string, def, least int) int {
		n, err := strconv.Atoi(env(name, strconv.Itoa(def)))
		if err != nil || n < least {
			problems = append(problems, fmt.Sprintf("%s must be a whole number of at least %d", name, least))
		}
		return n
	}
	duration := func(name string, def time.Duration) time.Duration {
		d, err := time.ParseDuration(env(name, def.String()))
		if err != nil || d <= 0 {
			problems = append(problems, name+" must be a positive duration such as 30s")
		}
		return d
	}
	cfg.Workers = number("CODERUNNER_WORKERS", runtime.NumCPU(), 1)
	cfg.PoolSize = number("CODERUNNER_POOL_SIZE", cfg.Workers, 0)
	if cfg.Sandbox, err = executor.ParseMode(env("CODERUNNER_SANDBOX", string(executor.ModeContainer))); err != nil {
		problems = append(problems, "CODERUNNER_SANDBOX must be container or jail")
	}
	if cfg.SandboxImage = env("CODERUNNER_SANDBOX_IMAGE", ""); cfg.SandboxImage != "" {
		if _, err := executor.ParsePinned(cfg.SandboxImage); err != nil {
			problems = append(problems, "CODERUNNER_SANDBOX_IMAGE: "+err.Error())
		}
	}
	cfg.JailRuns = number("CODERUNNER_JAIL_RUNS", executor.DefaultJailRuns, 1)
	cfg.QueueMax = int64(number("CODERUNNER_QUEUE_MAX", 1000, 1))
	cfg.MaxDeliveries = number("CODERUNNER_MAX_DELIVERIES", 3, 1)
	cfg.ClaimTimeout = duration("CODERUNNER_CLAIM_TIMEOUT", 30*time.Second)
	cfg.Grace = duration("CODERUNNER_GRACE", 30*time.Second)
	cfg.StaleAfter = duration("CODERUNNER_STALE_AFTER", 10*time.Minute)
	cfg.RunRetention = duration("CODERUNNER_RUN_RETENTION", 30*24*time.Hour)
	if cfg.SentryDSN = env("SENTRY_DSN", ""); cfg.SentryDSN != "" {
		if err := report.CheckDSN(cfg.SentryDSN); err != nil {
			problems = append(problems, "SENTRY_DSN: "+err.Error())
		}
	}
	cfg.TokenTTL = duration("CODERUNNER_TOKEN_TTL", accounts.DefaultTokenTTL)
	if cfg.Guests, err = strconv.ParseBool(env("CODERUNNER_GUESTS", "true")); err != nil {
		problems = append(problems, "CODERUNNER_GUESTS must be true or false")
	}
	if proxies := env("CODERUNNER_TRUSTED_PROXIES", ""); proxies != "" {
		for _, p := range strings.Split(proxies, ",") {
			prefix, err := parsePrefix(strings.TrimSpace(p))
			if err != nil {
				problems = append(problems, "CODERUNNER_TRUSTED_PROXIES must list addresses or CIDR prefixes, such as 10.0.0.0/8")
				break
			}
			cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
		}
	}
	cfg.Quotas = map[coderunner.Role]coderunner.Quota{}
	quota := func(name string, def coderunner.Quota) coderunner.Quota {
		q, err := parseQuota(env(name, ""), def)
		if err != nil {
			problems = append(problems, name+": "+err.Error())
		}
		return q
	}
	for _, role := range coderunner.Roles {
		cfg.Quotas[role] = quota("CODERUNNER_QUOTA_"+string(role), accounts.DefaultQuotas[role])
	}
	cfg.GuestQuota = quota("CODERUNNER_QUOTA_GUEST", accounts.DefaultGuestQuota)
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		problems = append(problems, "CODERUNNER_LOG_FORMAT must be text or json")
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(env("CODERUNNER_LOG_LEVEL", "info"))); err != nil {
		problems = append(problems, "CODERUNNER_LOG_LEVEL must be debug, info, warn or error")
	}
	if len(problems) > 0 {
		return config{}, fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return cfg, nil
}

// parsePrefix reads a CIDR prefix, or a single address as its own prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if addr, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// parseQuota reads "runsPerMinute=10,runsPerDay=500" over def: the fields
// named, by their JSON names, replace def's.
func parseQuota(s string, def coderunner.Quota) (coderunner.Quota, error) {
	q := def
	fields := q.Fields()
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, value, _ := strings.Cut(item, "=")
		field, ok := fields[name]
		n, err := strconv.Atoi(value)
		if !ok || err != nil || n < 0 || n > coderunner.MaxQuotaValue {
			return def, fmt.Errorf("%q: want name=number pairs, such as runsPerMinute=10,runsPerDay=500, of %s", item, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		*field = n
	}
	return q, nil
}

// checkProcess reports what keeps process from running on c, every
// problem at once.
//
// `api` and `worker` run beside other processes and must share their
// state with them: the queue through Redis and the store through MongoDB,
// since an embedded SQLite file would be each process's own, and runs an
// api stores there would never be seen by a worker. `serve` needs neither.
//
// In production, a process that runs programs (`serve`, `worker`) runs
// them only in a sandbox image pinned by digest, pulled from a registry:
// one built on the worker itself would be whatever that machine's Debian
// mirror served that day, different on every worker, and a build needs
// root and minutes at every start.
func (c config) checkProcess(process string) error {
	var problems []string
	if process == "serve" {
		if c.RedisURL != "" && c.MongoURI == "" {
			// Two such processes would share a queue but not a store:
			// each would claim the other's runs and find no such run.
			problems = append(problems, "`serve` with REDIS_URL shares its queue with other processes, so it needs their store too: set MONGODB_URI, or unset REDIS_URL")
		}
	} else {
		var missing []string
		if c.RedisURL == "" {
			missing = append(missing, "REDIS_URL (the queue)")
		}
		if c.MongoURI == "" {
			missing = append(missing, "MONGODB_URI (the store)")
		}
		if len(missing) > 0 {
			problems = append(problems, "`"+process+"` shares its queue and store with other processes: set "+
				strings.Join(missing, " and ")+", or run `serve`, which needs neither")
		}
	}
	if c.Production && c.SandboxImage == "" && (process == "serve" || process == "worker") {
		problems = append(problems, "CODERUNNER_ENV=production: `"+process+"` runs programs only in a sandbox image pinned by digest, never one it builds: "+
			"set CODERUNNER_SANDBOX_IMAGE to what `coderunner image push` printed (REPOSITORY@sha256:…)")
	}
	if len(problems) > 0 {
		return errors.New("configuration: " + strings.Join(problems, "; "))
	}
	return nil
}

// environment names the deployment for the error tracker.
func (c config) environment() string {
	if c.Production {
		return "production"
	}
	return "development"
}

func (c config) sqlitePath() string { return filepath.Join(c.DataDir, "coderunner.db") }

func (c config) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
