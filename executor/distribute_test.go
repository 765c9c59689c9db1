package executor

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"coderunner"
)

// testRegistry is where the round trip pushes: scripts/setup-registry.sh
// starts Debian's docker-registry there, and the engine talks to a
// registry on a loopback address over plain HTTP without configuration.
const testRegistry = "localhost:5000"

// requireRegistry stops t when the engine or the registry is not there: a
// failure in CI, a skip with the reason elsewhere.
func requireRegistry(t *testing.T) {
	t.Helper()
	requireEngine(t)
	err := func() error {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + testRegistry + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		return nil
	}()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no registry on %s with CI=true: %v", testRegistry, err)
	}
	t.Skipf("no registry on %s (scripts/setup-registry.sh starts one; fails instead under CI=true): %v", testRegistry, err)
}

// TestPinnedImageRoundTrip is the sandbox image's way to a worker that
// never builds it: pushed to a real registry, gone from the engine, pulled
// by digest, run. Then someone pushes other content under the same name
// and tag, and a worker gets exactly the content its digest names — the
// original for the original digest, whatever the tag now says and whatever
// the engine has under that name — and refuses what no pinned digest
// names.
//
// Each run pushes to a repository of its own and removes only that
// repository's references: the content-tagged sandbox image stays, for
// the tests of other packages running meanwhile.
func TestPinnedImageRoundTrip(t *testing.T) {
	requireRegistry(t)
	ctx := t.Context()
	log := testWriter{t}
	repo := fmt.Sprintf("%s/coderunner-sandbox-test-%d-%d", testRegistry, os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { forget(t, repo, true) })

	// Push: under a tag, and under the content tag by default; one
	// manifest, so one digest.
	pinned, err := PushImage(ctx, engine, repo+":v1", log)
	if err != nil {
		t.Fatalf("PushImage: %v", err)
	}
	t.Cleanup(func() { deleteManifest(t, pinned) })
	if !strings.HasPrefix(pinned, repo+"@sha256:") {
		t.Fatalf("PushImage returned %q, want %s@sha256:…", pinned, repo)
	}
	if again, err := PushImage(ctx, engine, repo, log); err != nil || again != pinned {
		t.Errorf("PushImage without a tag: %q, %v; want %q", again, err, pinned)
	}
	if tags := inspect(t, ImageRef()).RepoTags; !slices.Contains(tags, repo+":"+imageTag(ImageRef())) {
		t.Errorf("sandbox image tagged %v, want the content tag in %s among them", tags, repo)
	}
	sandboxID := inspect(t, ImageRef()).ID

	// Gone from the engine: the worker must pull.
	forget(t, repo, true)
	if _, err := engine.ImageInspect(ctx, pinned); !cerrdefs.IsNotFound(err) {
		t.Fatalf("the engine still has %s (%v): the pull below would not be one", pinned, err)
	}
	if pulled, err := EnsurePinnedImage(ctx, engine, pinned, log); err != nil || !pulled {
		t.Fatalf("EnsurePinnedImage: pulled %v, %v; want a pull", pulled, err)
	}
	if pulled, err := EnsurePinnedImage(ctx, engine, pinned, log); err != nil || pulled {
		t.Fatalf("EnsurePinnedImage again: pulled %v, %v; want the image found", pulled, err)
	}
	ex := newTestExecutorWith(t, engine, Options{Image: pinned, PoolSize: 1})
	if res := run(t, ex, coderunner.RunRequest{Code: `print("hi")`}); res.Status != coderunner.StatusCompleted || res.Stdout != "hi\n" {
		t.Fatalf("run in the pulled image: %+v", res)
	}

	// The tag moved: other content pushed as repo:v1. The engine keeps
	// repo:v1 naming that content throughout the cases below.
	otherID := importImage(t, repo+":v1", "not the sandbox "+repo)
	tampered, err := pushImage(ctx, engine, repo+":v1", repo+":v1", log)
	if err != nil {
		t.Fatalf("push other content: %v", err)
	}
	t.Cleanup(func() { deleteManifest(t, tampered) })
	if tampered == pinned {
		t.Fatalf("other content pushed under the same digest %s", pinned)
	}
	// A registry that answers for a digest with other content: one the
	// engine has never seen, since it keeps the manifests it pulled and
	// would not ask again for the original's.
	named, _ := reference.ParseNormalizedNamed(repo)
	path, digest := reference.Path(named), strings.TrimPrefix(pinned, repo+"@")
	unseen := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(repo)))
	lying := lyingRegistry(t, path, unseen, strings.TrimPrefix(tampered, repo+"@"))
	t.Cleanup(func() { forget(t, lying+"/"+path, true) })

	tests := []struct {
		name   string
		pinned string
		wantID string // empty: refused
	}{
		{"the original digest: the original content, though the tag and the engine's repo:v1 moved", pinned, sandboxID},
		{"the new digest: the new content, since it is the one pinned", tampered, otherID},
		{"a digest the repository never had", repo + "@" + unseen, ""},
		{"the original digest under a name that never had it", repo + "-other@" + digest, ""},
		{"a registry that serves other content for the pinned digest", lying + "/" + path + "@" + unseen, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only the digest references go: every case pulls.
			forget(t, repo, false)
			forget(t, lying+"/"+path, false)
			pulled, err := EnsurePinnedImage(ctx, engine, tt.pinned, log)
			if tt.wantID == "" {
				if err == nil {
					t.Fatalf("EnsurePinnedImage(%s) accepted it (image %s)", tt.pinned, inspect(t, tt.pinned).ID)
				}
				t.Logf("refused, as it should be: %v", err)
				if _, err := engine.ImageInspect(ctx, tt.pinned); !cerrdefs.IsNotFound(err) {
					t.Errorf("after the refusal the engine has %s (%v)", tt.pinned, err)
				}
				return
			}
			if err != nil || !pulled {
				t.Fatalf("EnsurePinnedImage(%s): pulled %v, %v", tt.pinned, pulled, err)
			}
			if id := inspect(t, tt.pinned).ID; id != tt.wantID {
				t.Errorf("%s is image %s, want %s", tt.pinned, id, tt.wantID)
			}
			if id := inspect(t, repo+":v1").ID; id != otherID {
				t.Errorf("the engine's %s:v1 is now %s, want it left naming %s", repo, id, otherID)
			}
		})
	}
	if err := engineRemove(otherID, true); err != nil {
		t.Errorf("remove the other content: %v", err)
	}
}

// TestPinnedImageRefusesAnEngineThatAnswersWithOtherContent: an engine
// that has an image for the pinned reference is believed only if that
// image lists the pinned digest; anything else is refused before a
// container starts. (The real engine answers a digest reference only with
// an image pulled or pushed under it; this is the check that stands
// between a tampered engine and the sandbox.)
func TestPinnedImageRefusesAnEngineThatAnswersWithOtherContent(t *testing.T) {
	const pinned = "localhost:5000/coderunner-sandbox@sha256:6fe0af37bf167cadd8f3e846f016969bac2e7b5b159947b12a3a128aa2fd09d4"
	const other = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name        string
		repoDigests []string
		ok          bool
	}{
		{"lists the pinned digest", []string{pinned}, true},
		{"lists it beside others", []string{"localhost:5000/elsewhere@" + other, pinned}, true},
		{"lists another digest of the same name", []string{"localhost:5000/coderunner-sandbox@" + other}, false},
		{"lists the digest under another name", []string{"localhost:5000/elsewhere@" + strings.TrimPrefix(pinned, "localhost:5000/coderunner-sandbox@")}, false},
		{"lists none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli := &answeringEngine{img: image.InspectResponse{ID: "sha256:feed", RepoDigests: tt.repoDigests}}
			pulled, err := EnsurePinnedImage(t.Context(), cli, pinned, io.Discard)
			if pulled {
				t.Errorf("pulled an image the engine had")
			}
			if tt.ok != (err == nil) {
				t.Fatalf("EnsurePinnedImage with repository digests %v: %v; want ok %v", tt.repoDigests, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "refusing") {
				t.Errorf("error %q does not say it refuses the image", err)
			}
		})
	}
}

// answeringEngine has every image asked for, as img. Any other call
// panics (the embedded nil interface).
type answeringEngine struct {
	client.APIClient
	img image.InspectResponse
}

func (e *answeringEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return e.img, nil
}

// lyingRegistry starts a registry in front of testRegistry that serves
// path's manifest of the digest `instead` whenever it is asked for the one
// of `digest`, claiming it is that one: a registry whose storage someone
// tampered with. It returns its address; the engine talks to it over plain
// HTTP, as to any registry on a loopback address.
func lyingRegistry(t *testing.T, path, digest, instead string) string {
	t.Helper()
	upstream := &url.URL{Scheme: "http", Host: testRegistry}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/"+path+"/manifests/"+digest {
			proxy.ServeHTTP(w, r)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, upstream.String()+"/v2/"+path+"/manifests/"+instead, nil)
		req.Header["Accept"] = r.Header["Accept"]
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Header().Set("Docker-Content-Digest", digest) // the lie
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(resp.StatusCode)
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// importImage makes an image of one file holding text, tagged ref, and
// returns its ID.
func importImage(t *testing.T, ref, text string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "content.txt", Mode: 0o644, Size: int64(len(text))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(text))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := engine.ImageImport(t.Context(), image.ImportSource{Source: &buf, SourceName: "-"}, ref, image.ImportOptions{})
	if err != nil {
		t.Fatalf("import %s: %v", ref, err)
	}
	defer resp.Close()
	if err := readProgress(resp, io.Discard, nil); err != nil {
		t.Fatalf("import %s: %v", ref, err)
	}
	return inspect(t, ref).ID
}

func inspect(t *testing.T, ref string) image.InspectResponse {
	t.Helper()
	img, err := engine.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return img
}

// forget removes the engine's digest references to images in repo, and
// with tags its tags too. The images stay as long as other references
// name them: the sandbox image keeps its content tag.
func forget(t *testing.T, repo string, tags bool) {
	t.Helper()
	images, err := engine.ImageList(context.Background(), image.ListOptions{})
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	for _, img := range images {
		refs := img.RepoDigests
		if tags {
			refs = append(refs, img.RepoTags...)
		}
		for _, ref := range refs {
			// Removing an image's last tag in a repository removes its
			// digest references there too: gone already is fine.
			if strings.HasPrefix(ref, repo+"@") || strings.HasPrefix(ref, repo+":") {
				if err := engineRemove(ref, false); err != nil && !cerrdefs.IsNotFound(err) {
					t.Errorf("remove %s: %v", ref, err)
				}
			}
		}
	}
}

func engineRemove(ref string, force bool) error {
	_, err := engine.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: force, PruneChildren: true})
	return err
}

// deleteManifest removes a pushed manifest from the test registry, so
// that test runs do not pile up repositories there (its blobs are shared
// and stay).
func deleteManifest(t *testing.T, pinned string) {
	t.Helper()
	repo, digest, _ := strings.Cut(strings.TrimPrefix(pinned, testRegistry+"/"), "@")
	req, _ := http.NewRequest(http.MethodDelete, "http://"+testRegistry+"/v2/"+repo+"/manifests/"+digest, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("delete %s from the registry: %v", pinned, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Logf("delete %s from the registry: %s", pinned, resp.Status)
	}
}

// testWriter sends engine progress to the test's log, shown on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if s := strings.TrimRight(string(p), "\n"); s != "" {
		w.t.Log(s)
	}
	return len(p), nil
}
