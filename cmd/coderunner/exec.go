package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"coderunner"
	"coderunner/executor"
)

const execUsage = `usage: coderunner exec [--stdin TEXT | --stdin-file F] [--time-limit DURATION] [--memory-limit MB] FILE.py

Runs FILE.py once in the sandbox and prints the result as one JSON object. It
exits 0 whatever the program did, and non-zero only if the run could not be
carried out.`

// execCmd implements `coderunner exec`.
func execCmd(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), execUsage); fs.PrintDefaults() }
	stdin := fs.String("stdin", "", "the program's standard input")
	stdinFile := fs.String("stdin-file", "", "read the program's standard input from this file")
	timeLimit := fs.Duration("time-limit", coderunner.DefaultTimeLimitMs*time.Millisecond, "CPU-time limit")
	memoryMB := fs.Int("memory-limit", coderunner.DefaultMemoryMB, "memory limit in MB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(execUsage)
	}
	code, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read program: %w", err)
	}
	req := coderunner.RunRequest{Code: string(code), Stdin: *stdin, TimeLimitMs: int(timeLimit.Milliseconds()), MemoryMB: *memoryMB}
	if *stdinFile != "" {
		if *stdin != "" {
			return errors.New("give --stdin or --stdin-file, not both")
		}
		data, err := os.ReadFile(*stdinFile)
		if err != nil {
			return fmt.Errorf("read stdin file: %w", err)
		}
		req.Stdin = string(data)
	}
	if req.TimeLimitMs <= 0 {
		return fmt.Errorf("--time-limit %s: give at least 1ms", timeLimit)
	}
	if _, err := req.Normalize(); err != nil {
		return err
	}

	cli, err := executor.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	// The image a worker configured alike would use: the pinned one,
	// pulled if need be; else the one built here.
	var image string
	if pinned := strings.TrimSpace(getenv("CODERUNNER_SANDBOX_IMAGE")); pinned != "" {
		if _, err := executor.EnsurePinnedImage(ctx, cli, pinned, os.Stderr); err != nil {
			return fmt.Errorf("CODERUNNER_SANDBOX_IMAGE: %w", err)
		}
		image = pinned
	}
	// One container, named for this process: a concurrent exec or a worker
	// on the same engine keeps its own.
	ex, err := executor.New(ctx, cli, executor.Options{
		Image:    image,
		PoolSize: 1,
		PoolName: fmt.Sprintf("exec-%d", os.Getpid()),
		MemoryMB: req.MemoryMB,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer ex.Close()
	res, err := ex.Run(ctx, req, nil)
	if err != nil {
		return err
	}
	return writeJSON(os.Stdout, res)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
