package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// config is everything the environment can set. The README's configuration
// table lists the same variables; keep them in step.
type config struct {
	Addr          string // CODERUNNER_ADDR
	DataDir       string // CODERUNNER_DATA
	MongoURI      string // MONGODB_URI: empty means the embedded SQLite store
	Production    bool   // CODERUNNER_ENV=production
	Introspection bool   // CODERUNNER_INTROSPECTION, default on except in production
	CacheMB       int    // CODERUNNER_CACHE_MB: 0 turns curriculum and response caching off
	LogFormat     string // CODERUNNER_LOG_FORMAT: text or json
	LogLevel      slog.Level
}

// requiredInProduction are the variables production cannot run without:
// there, embedded defaults would silently lose data or scale wrong.
var requiredInProduction = []string{"MONGODB_URI"}

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
		Addr:       env("CODERUNNER_ADDR", ":8080"),
		DataDir:    env("CODERUNNER_DATA", "./data"),
		MongoURI:   env("MONGODB_URI", ""),
		Production: env("CODERUNNER_ENV", "development") == "production",
		LogFormat:  env("CODERUNNER_LOG_FORMAT", "text"),
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
	if cfg.CacheMB, err = strconv.Atoi(env("CODERUNNER_CACHE_MB", "64")); err != nil || cfg.CacheMB < 0 {
		problems = append(problems, "CODERUNNER_CACHE_MB must be a whole number of megabytes (0 turns caching off)")
	}
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

func (c config) sqlitePath() string { return filepath.Join(c.DataDir, "coderunner.db") }

func (c config) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
