package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"coderunner/executor"
)

const imageUsage = `usage: coderunner image build [--from debootstrap|dockerfile]
       coderunner image ref
       coderunner image push REPOSITORY[:TAG]

build  builds the sandbox image unless the engine already has it; prints its reference
       --from debootstrap (default) makes a root file system from this machine's Debian
       mirror, no registry needed (root, debootstrap); --from dockerfile builds
       sandbox/Dockerfile from an official Python base image
ref    prints the image reference, derived from the image definition
push   tags the built sandbox image as REPOSITORY:TAG (TAG defaults to the image's content
       tag) and pushes it to that registry; prints REPOSITORY@sha256:<digest>, the value
       for CODERUNNER_SANDBOX_IMAGE (a registry on a loopback address needs no TLS)`

// imageCmd implements `coderunner image`.
func imageCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(imageUsage)
	}
	switch args[0] {
	case "ref":
		fmt.Fprintln(stdout, executor.ImageRef())
		return nil
	case "push":
		if len(args) != 2 {
			return errors.New(imageUsage)
		}
		cli, err := executor.NewClient()
		if err != nil {
			return err
		}
		defer cli.Close()
		pinned, err := executor.PushImage(ctx, cli, args[1], os.Stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, pinned)
		return nil
	case "build":
		fs := flag.NewFlagSet("image build", flag.ContinueOnError)
		from := fs.String("from", string(executor.FromDebootstrap), "how to build: debootstrap or dockerfile")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cli, err := executor.NewClient()
		if err != nil {
			return err
		}
		defer cli.Close()
		began := time.Now()
		built, err := executor.EnsureImage(ctx, cli, executor.BuildSource(*from), os.Stderr)
		if err != nil {
			return err
		}
		if built {
			fmt.Fprintf(os.Stderr, "built in %s\n", time.Since(began).Round(time.Second))
		}
		fmt.Fprintln(stdout, executor.ImageRef())
		return nil
	}
	return fmt.Errorf("unknown image command %q\n%s", args[0], imageUsage)
}
