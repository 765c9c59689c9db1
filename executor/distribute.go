package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

// Distributing the sandbox image: CI builds it once and pushes it to a
// registry (PushImage), and workers pull exactly that image, named by its
// digest (EnsurePinnedImage), instead of each building its own. A digest
// names content, not a place: whoever moves a tag in the registry, or
// tags another image with the same name on a worker's engine, cannot
// change what a pinned worker runs.

// anonymous is the X-Registry-Auth of a registry that needs no sign-in,
// such as the one CI runs on 127.0.0.1:5000: an empty credentials object.
// Older engines refuse a push that sends no header at all.
var anonymous = func() string {
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{})
	if err != nil {
		panic(err) // an empty struct always encodes
	}
	return auth
}()

// ParsePinned reads a sandbox image pinned by digest,
// "REPOSITORY@sha256:<64 hex digits>" — what PushImage returns and
// CODERUNNER_SANDBOX_IMAGE holds. A tag, alone or beside the digest, is
// refused: a tag can be moved to other content, and beside a digest it
// would only mislead whoever reads it.
func ParsePinned(s string) (reference.Canonical, error) {
	const want = "want REPOSITORY@sha256:<64 hex digits>, as `coderunner image push` prints"
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an image reference (%w): %s", s, err, want)
	}
	pinned, digested := named.(reference.Canonical)
	_, tagged := named.(reference.Tagged)
	if !digested || tagged || pinned.Digest().Algorithm() != "sha256" {
		return nil, fmt.Errorf("%q is not pinned by digest alone: %s", s, want)
	}
	return pinned, nil
}

// PushImage tags the sandbox image, ImageRef(), as target
// ("REPOSITORY[:TAG]"; without a tag, ImageRef()'s) and pushes it. It
// returns the image pinned by the digest the registry stored it under,
// "REPOSITORY@sha256:…": the value for CODERUNNER_SANDBOX_IMAGE. Push
// progress goes to log.
func PushImage(ctx context.Context, cli client.APIClient, target string, log io.Writer) (pinned string, err error) {
	return pushImage(ctx, cli, ImageRef(), target, log)
}

// pushImage is PushImage of any image the engine has: tests push other
// content under a sandbox image's name, as an attacker who can push would.
func pushImage(ctx context.Context, cli client.APIClient, source, target string, log io.Writer) (pinned string, err error) {
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return "", fmt.Errorf("push target %q: %w", target, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("push target %q: give a repository and tag; the registry picks the digest", target)
	}
	// The content tag by default, so that a pushed tag says which
	// definition it was built from, as the local one does.
	if _, ok := named.(reference.Tagged); !ok {
		if named, err = reference.WithTag(named, imageTag(ImageRef())); err != nil {
			return "", err
		}
	}
	tagged := reference.FamiliarString(named)
	if err := cli.ImageTag(ctx, source, tagged); cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("no image %s to push: build the sandbox image first with `coderunner image build`", source)
	} else if err != nil {
		return "", fmt.Errorf("tag %s as %s: %w", source, tagged, err)
	}
	resp, err := cli.ImagePush(ctx, tagged, image.PushOptions{RegistryAuth: anonymous})
	if err != nil {
		return "", fmt.Errorf("push %s: %w", tagged, err)
	}
	defer resp.Close()
	// The engine reports the manifest's digest, as the registry stored it,
	// in the push's last message.
	var pushed types.PushResult
	err = readProgress(resp, log, func(aux json.RawMessage) error {
		return json.Unmarshal(aux, &pushed)
	})
	if err != nil {
		return "", fmt.Errorf("push %s: %w", tagged, err)
	}
	pinned = reference.FamiliarName(named) + "@" + pushed.Digest
	if _, err := ParsePinned(pinned); err != nil {
		return "", fmt.Errorf("push %s: the engine reported no usable digest (%q): %w", tagged, pushed.Digest, err)
	}
	return pinned, nil
}

// EnsurePinnedImage makes sure the engine holds the image pinned names
// (see ParsePinned), pulling it by digest if it does not, and never builds
// one. It reports whether it pulled; pull progress goes to log.
//
// A pull by digest gets that content or fails: the engine checks what the
// registry serves against the digest. Then, and when the engine had the
// image already, the image found must list the pinned digest among its
// repository digests, or the worker refuses to use it: an engine that
// answers for a pinned name with other content is not trusted.
func EnsurePinnedImage(ctx context.Context, cli client.APIClient, pinned string, log io.Writer) (pulled bool, err error) {
	ref, err := ParsePinned(pinned)
	if err != nil {
		return false, err
	}
	_, err = cli.ImageInspect(ctx, ref.String())
	if cerrdefs.IsNotFound(err) {
		if err := pullImage(ctx, cli, ref.String(), log); err != nil {
			return false, fmt.Errorf("pull sandbox image %s: %w", pinned, err)
		}
		pulled = true
	} else if err != nil {
		return false, fmt.Errorf("look for sandbox image %s: %w", pinned, err)
	}
	return pulled, checkPinned(ctx, cli, ref)
}

// checkPinned verifies that the image the engine finds for ref lists ref
// itself among its repository digests.
func checkPinned(ctx context.Context, cli client.APIClient, ref reference.Canonical) error {
	img, err := cli.ImageInspect(ctx, ref.String())
	if err != nil {
		return fmt.Errorf("look for sandbox image %s: %w", reference.FamiliarString(ref), err)
	}
	if !slices.ContainsFunc(img.RepoDigests, func(d string) bool {
		got, err := reference.ParseNormalizedNamed(d)
		return err == nil && got.String() == ref.String()
	}) {
		return fmt.Errorf("refusing sandbox image %s: the engine answers with image %s, whose repository digests %v do not include it",
			reference.FamiliarString(ref), img.ID, img.RepoDigests)
	}
	return nil
}

func pullImage(ctx context.Context, cli client.APIClient, ref string, log io.Writer) error {
	resp, err := cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: anonymous})
	if err != nil {
		return err
	}
	defer resp.Close()
	return readProgress(resp, log, nil)
}
