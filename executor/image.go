package executor

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"coderunner/sandbox"
)

// ImageRepository is the repository of the sandbox image; its tag is derived
// from the image definition (see ImageRef).
const ImageRepository = "coderunner-sandbox"

// BuildSource says how the sandbox image is built.
type BuildSource string

const (
	// FromDebootstrap builds a root file system from Debian packages with
	// sandbox/rootfs.sh and imports it: no container registry needed.
	FromDebootstrap BuildSource = "debootstrap"
	// FromDockerfile builds sandbox/Dockerfile, whose base image comes from
	// a registry.
	FromDockerfile BuildSource = "dockerfile"
)

// ImageRef returns the sandbox image's reference, "coderunner-sandbox:<hash>",
// where the hash covers every file of the definition: a change to any of
// them names a new image, and an unchanged definition is found as built.
func ImageRef() string {
	sum := sha256.New()
	names, err := fs.Glob(sandbox.Files, "*")
	if err != nil {
		panic(err) // "*" is a valid pattern
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := fs.ReadFile(sandbox.Files, name)
		if err != nil {
			panic(err) // embedded at build time, so always readable
		}
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(data))
		sum.Write(data)
	}
	return ImageRepository + ":" + hex.EncodeToString(sum.Sum(nil))[:16]
}

// EnsureImage builds the sandbox image from src unless the engine already
// has ImageRef(). It reports whether it built; build progress goes to log.
func EnsureImage(ctx context.Context, cli client.APIClient, src BuildSource, log io.Writer) (built bool, err error) {
	ref := ImageRef()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return false, nil
	} else if !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("look for image %s: %w", ref, err)
	}
	switch src {
	case FromDebootstrap:
		err = buildFromDebootstrap(ctx, cli, ref, log)
	case FromDockerfile:
		err = buildFromDockerfile(ctx, cli, ref, log)
	default:
		err = fmt.Errorf("unknown image source %q: use %q or %q", src, FromDebootstrap, FromDockerfile)
	}
	if err != nil {
		return false, fmt.Errorf("build image %s from %s: %w", ref, src, err)
	}
	return true, nil
}

// imageConfig is what the Dockerfile sets with USER, WORKDIR and ENTRYPOINT,
// applied to the imported root file system.
var imageConfig = []string{
	"USER 65534:65534",
	"WORKDIR /tmp",
	`ENTRYPOINT ["/usr/bin/python3", "-I", "-S", "` + sandbox.LauncherPath + `"]`,
}

func buildFromDebootstrap(ctx context.Context, cli client.APIClient, ref string, log io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("debootstrap needs root: run as root (or build from the Dockerfile where a registry is reachable)")
	}
	work, err := os.MkdirTemp("", "coderunner-image-")
	if err != nil {
		return fmt.Errorf("make work directory: %w", err)
	}
	defer os.RemoveAll(work)
	for _, name := range []string{"rootfs.sh", "launcher.py"} {
		data, err := fs.ReadFile(sandbox.Files, name)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	root := filepath.Join(work, "root")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(work, "rootfs.sh"), root, filepath.Join(work, "launcher.py"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("sandbox/rootfs.sh: %w", err)
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, root)) }()
	resp, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{
		Message: "coderunner sandbox from Debian packages (sandbox/rootfs.sh)",
		Changes: imageConfig,
	})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("import root file system: %w", err)
	}
	defer resp.Close()
	return readProgress(resp, log, nil)
}

// writeTar writes the tree under root as a tar stream, with owners and
// modes as they are on disk (root-owned, as debootstrap made them).
func writeTar(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("tar %s: %w", root, err)
	}
	return tw.Close()
}

func buildFromDockerfile(ctx context.Context, cli client.APIClient, ref string, log io.Writer) error {
	var buildContext bytes.Buffer
	tw := tar.NewWriter(&buildContext)
	for _, name := range []string{"Dockerfile", "launcher.py"} {
		data, err := fs.ReadFile(sandbox.Files, name)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", name, err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buildContext, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("build Dockerfile: %w", err)
	}
	defer resp.Body.Close()
	return readProgress(resp.Body, log, nil)
}

// readProgress copies the engine's JSON progress messages to log as text and
// returns the error the engine reports in-band, if any. Progress bars (a
// layer's bytes so far) are left out: they are for terminals. aux, if not
// nil, is given each message's result object, such as a push's digest.
func readProgress(r io.Reader, log io.Writer, aux func(json.RawMessage) error) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Stream   string          `json:"stream"`
			Status   string          `json:"status"`
			ID       string          `json:"id"`
			Progress string          `json:"progress"`
			Error    string          `json:"error"`
			Aux      json.RawMessage `json:"aux"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read engine progress: %w", err)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
		if msg.Aux != nil && aux != nil {
			if err := aux(msg.Aux); err != nil {
				return err
			}
		}
		if msg.Status != "" && msg.Progress == "" {
			if msg.ID != "" {
				fmt.Fprintf(log, "%s: ", msg.ID)
			}
			fmt.Fprintln(log, msg.Status)
		}
		fmt.Fprint(log, msg.Stream) // already ends in a newline
	}
}
