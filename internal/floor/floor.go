// Package floor is the benchmarks' floor: the sandbox image's bare
// interpreter under chroot, with no Docker, no launcher and no isolation
// beyond the chroot. The executor's and the stack's benchmarks measure it
// side by side with what they measure, at the same parallelism.
package floor

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// ErrNotRoot: chroot needs root.
var ErrNotRoot = errors.New("the chroot floor needs root")

// Export unpacks image's file system into root (an empty directory),
// through the engine's export of a container that never starts.
func Export(ctx context.Context, cli client.APIClient, image, root string) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: image}, nil, nil, nil, "")
	if err != nil {
		return err
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	export, err := cli.ContainerExport(ctx, created.ID)
	if err != nil {
		return err
	}
	defer export.Close()
	return untar(export, root)
}

// Run runs program (Python source) with the interpreter under root and
// checks that it printed want.
func Run(root, program, want string) error {
	cmd := exec.Command("/usr/bin/python3", "-I", "-u", "-c", program)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin", "LANG=C.UTF-8"}
	out, err := cmd.Output()
	if err != nil || string(out) != want {
		return fmt.Errorf("chroot run: %q, %w", out, err)
	}
	return nil
}

func untar(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		path := filepath.Join(root, filepath.Clean("/"+hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, hdr.FileInfo().Mode().Perm())
		case tar.TypeSymlink:
			err = os.Symlink(hdr.Linkname, path)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, filepath.Clean("/"+hdr.Linkname)), path)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, hdr.FileInfo().Mode().Perm()); err == nil {
				_, err = io.Copy(f, tr)
				err = errors.Join(err, f.Close())
			}
		}
		if err != nil {
			return fmt.Errorf("untar %s: %w", hdr.Name, err)
		}
	}
}
