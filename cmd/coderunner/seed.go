package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"coderunner"
	"coderunner/content"
	"coderunner/curriculum"
	"coderunner/executor"
)

// seedCheckUsage documents seed's -check flag.
const seedCheckUsage = `check every problem in the sandbox before storing anything — its reference solution must pass every test, its starter code must not: ` +
	`auto (the default) checks when a Docker engine answers, and seeds unchecked, saying so, when none does; yes fails without one; no never checks`

// seeder is who a seed's sandbox check runs as: its check submissions
// are owned by "check:seed" and charged to no one (seed sets no quotas).
var seeder = coderunner.Caller{User: &coderunner.User{ID: "seed", Name: "seed", Role: coderunner.RoleAdmin}}

// seedCmd applies a curriculum file — the shipped one by default — to the
// store as one validated change: the file is parsed and validated whole,
// then every problem is checked in the sandbox (see -check), and only
// then is anything stored.
//
// The check runs in this process: an in-memory queue and a worker of its
// own on the local Docker engine (DOCKER_HOST), as `serve` grades, so that
// seeding needs no running cluster and puts no work on the production
// queue. Its check submissions and their gradings are kept in the store,
// owned by "check:seed", as every check submission is (see
// coderunner.CheckOwnerPrefix).
func seedCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("seed", flag.ContinueOnError)
	file := flags.String("file", "", "curriculum YAML file (default: the curriculum shipped in the binary)")
	check := flags.String("check", "auto", seedCheckUsage)
	if err := flags.Parse(args); err != nil {
		return err
	}
	switch *check {
	case "auto", "yes", "no":
	default:
		return fmt.Errorf("seed: -check=%s: want auto, yes or no", *check)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	c, err := curriculum.Shipped()
	if *file != "" {
		data, ferr := os.ReadFile(*file)
		if ferr != nil {
			return ferr
		}
		c, err = curriculum.Parse(data)
	}
	if err != nil {
		return err
	}
	if *check == "auto" {
		if err := dockerAnswers(ctx); err != nil {
			fmt.Fprintf(stdout, "no sandbox to check the problems in (%v): seeding them unchecked; -check=yes requires the check\n", err)
			*check = "no"
		}
	}
	// Seeding needs no Redis: the check's queue is this process's own.
	cfg.RedisURL = ""
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	checked := ""
	if *check != "no" {
		if err := a.checkProblems(ctx, c.Problems); err != nil {
			return fmt.Errorf("nothing was seeded: %w", err)
		}
		checked = fmt.Sprintf(" (all %d checked in the sandbox)", len(c.Problems))
	}
	if err := curriculum.Seed(ctx, a.store, c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d age groups, %d levels, %d problems%s into %s\n", len(c.AgeGroups), len(c.Levels), len(c.Problems), checked, storeKind(cfg))
	return nil
}

// dockerAnswers reports whether the Docker engine answers a ping.
func dockerAnswers(ctx context.Context) error {
	cli, err := executor.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cli.Ping(ctx)
	return err
}

// checkProblems checks problems in the sandbox (see content.Checker) with
// a worker of this process's own, which it stops before returning.
func (a *app) checkProblems(ctx context.Context, problems []coderunner.Problem) error {
	a.submissions.Quotas = nil // a seed is no one's budget
	w, err := a.worker(ctx)
	if err != nil {
		return err
	}
	workerCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(workerCtx) }()
	defer func() { stop(); <-done }()
	checker := content.Checker{Submissions: a.submissions, Parallel: max(a.cfg.Workers, content.DefaultParallel)}
	return checker.CheckAll(ctx, seeder, problems)
}
