// Command coderunner is the coderunner platform in one binary:
//
//	coderunner serve                 API and worker in one process (embedded defaults: SQLite, in-process broker)
//	coderunner api                   the GraphQL API only (workers behind Redis)
//	coderunner worker                a worker only (health and metrics on $CODERUNNER_WORKER_ADDR)
//	coderunner seed [--file F] [--check auto|yes|no]
//	                                 load a curriculum file into the store, every problem checked in the sandbox first
//	coderunner user create ...       create an account (the first admin)
//	coderunner image build           build the sandbox image
//	coderunner image push REPO[:TAG] push it to a registry; prints REPO@sha256:… for CODERUNNER_SANDBOX_IMAGE
//	coderunner exec [flags] FILE.py  run one program in the sandbox, print JSON
//	coderunner cost [flags]          the per-user cost model for the inputs given (table or --json)
//
// Configuration is by environment variables; see config.go and the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "coderunner:", err)
		os.Exit(1)
	}
}

const mainUsage = `usage: coderunner <command> [arguments]

commands:
  serve                  API and worker in one process; the API on $CODERUNNER_ADDR
  api                    the API only; runs go to workers through Redis ($REDIS_URL)
  worker                 a worker only; health and metrics on $CODERUNNER_WORKER_ADDR
  seed [--file F] [--check auto|yes|no]
                         load a curriculum (default: the one shipped) into the store as one
                         validated change: with a Docker engine (auto) or always (yes), every
                         problem is checked in the sandbox first and nothing is stored if one fails
  user create --name N [--role ROLE] --password-stdin
                         create an account, such as the first admin (ROLE: STUDENT, EDITOR, ADMIN)
  image build            build the sandbox image if it is not up to date
  image push REPOSITORY[:TAG]
                         push the sandbox image to a registry; prints it pinned by digest,
                         the value for $CODERUNNER_SANDBOX_IMAGE
  exec [flags] FILE.py   run one program in the sandbox and print the result as JSON
  cost [flags] [--json]  the per-user cost model (exec-seconds, vCPU-hours, price per user and
                         for the platform); no flags: the report's base case`

// run carries out one command. getenv, stdin and stdout are parameters so
// that tests can run commands without touching the process environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(mainUsage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, getenv)
	case "api":
		return apiCmd(ctx, args, getenv)
	case "worker":
		return workerCmd(ctx, args, getenv)
	case "seed":
		return seedCmd(ctx, args, getenv, stdout)
	case "user":
		return userCmd(ctx, args, getenv, stdin, stdout)
	case "image":
		return imageCmd(ctx, args, stdout)
	case "exec":
		return execCmd(ctx, args, getenv)
	case "cost":
		return costCmd(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, mainUsage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, mainUsage)
}
