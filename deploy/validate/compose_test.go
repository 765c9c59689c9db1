package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const (
	composeFile = "../compose.yaml"
	envExample  = "../.env.example"
	caddyfile   = "../Caddyfile"
)

// tool finds a command the test needs: outside CI a missing one skips the
// test, in CI (scripts/test.sh installs them) it fails it.
func tool(t *testing.T, name, setup string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: %s installs it", name, setup)
	}
	t.Skipf("%s is missing (%s installs it)", name, setup)
	return ""
}

// composeService is the part of a service in `docker-compose config`'s
// output that the checks read.
type composeService struct {
	Image           string            `json:"image"`
	Command         []string          `json:"command"`
	Environment     map[string]string `json:"environment"`
	Volumes         []string          `json:"volumes"`
	GroupAdd        []string          `json:"group_add"`
	ReadOnly        bool              `json:"read_only"`
	CapDrop         []string          `json:"cap_drop"`
	StopGracePeriod string            `json:"stop_grace_period"`
	Restart         string            `json:"restart"`
	Healthcheck     *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
}

func TestCompose(t *testing.T) {
	compose := tool(t, "docker-compose", "scripts/setup-compose.sh")
	f := sourceFacts(t)
	// Validated as an operator would run it, with the example's settings.
	cmd := exec.Command(compose, "--project-directory", "..", "-f", composeFile, "--env-file", envExample, "config")
	cmd.Env = append(os.Environ(), "COMPOSE_INTERACTIVE_NO_CLI=1")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("docker-compose config: %s", msg)
	}
	var config struct {
		Services map[string]composeService `json:"services"`
	}
	if err := yaml.Unmarshal(out, &config); err != nil {
		t.Fatalf("docker-compose config's output: %v", err)
	}
	services := config.Services
	api1, api2, worker := services["api-1"], services["api-2"], services["worker"]

	// Two api replicas and a worker, of one image.
	if api1.Image == "" || api2.Image != api1.Image || worker.Image != api1.Image {
		t.Errorf("images: api-1 %q, api-2 %q, worker %q: want one coderunner image", api1.Image, api2.Image, worker.Image)
	}
	for name, want := range map[string]string{"api-1": "api", "api-2": "api", "worker": "worker"} {
		s := services[name]
		if !slices.Equal(s.Command, []string{want}) {
			t.Errorf("%s: command %q, want [%s]", name, s.Command, want)
		}
		for k := range s.Environment {
			if !f.documented[k] {
				t.Errorf("%s: %s is not in docs/configuration.md's table", name, k)
			}
		}
		for _, req := range f.requiredInProduction {
			if s.Environment["CODERUNNER_ENV"] == "production" && s.Environment[req] == "" {
				t.Errorf("%s: CODERUNNER_ENV=production needs %s", name, req)
			}
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || s.Restart == "" {
			t.Errorf("%s: want a read-only root, every capability dropped and a restart policy", name)
		}
		for _, dep := range []string{"redis", "mongodb"} {
			if s.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("%s: does not wait for %s to be healthy", name, dep)
			}
		}
	}

	// Stopping: the api's requests in flight, the worker's runs.
	if g := stopGrace(t, "api-1", api1.StopGracePeriod); g <= f.shutdownGrace {
		t.Errorf("api-1: stop_grace_period %s, want more than the server's %s for requests in flight", g, f.shutdownGrace)
	}
	grace := f.duration(t, worker.Environment, "CODERUNNER_GRACE")
	if g := stopGrace(t, "worker", worker.StopGracePeriod); g < grace+f.shutdownGrace {
		t.Errorf("worker: stop_grace_period %s, want at least CODERUNNER_GRACE (%s) + %s to shut down", g, grace, f.shutdownGrace)
	}

	// The worker: the host's engine, the sandbox image by digest.
	if !slices.ContainsFunc(worker.Volumes, func(v string) bool { return strings.HasPrefix(v, "/var/run/docker.sock:") }) ||
		worker.Environment["DOCKER_HOST"] != "unix:///var/run/docker.sock" || len(worker.GroupAdd) == 0 {
		t.Errorf("worker: want the host's Docker socket mounted, DOCKER_HOST on it and its group added")
	}
	if !pinned(worker.Environment["CODERUNNER_SANDBOX_IMAGE"]) {
		t.Errorf("worker: CODERUNNER_SANDBOX_IMAGE %q is not pinned by digest", worker.Environment["CODERUNNER_SANDBOX_IMAGE"])
	}

	// The stores: persistent, and checked before anyone uses them.
	redis := services["redis"]
	if args := strings.Join(redis.Command, " "); !strings.Contains(args, "--appendonly yes") || !strings.Contains(args, "--maxmemory-policy noeviction") {
		t.Errorf("redis: command %q: want AOF persistence and noeviction (docs/redis.md)", args)
	}
	for name, dir := range map[string]string{"redis": "/data", "mongodb": "/data/db"} {
		s := services[name]
		if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.Contains(v, ":"+dir) }) {
			t.Errorf("%s: no volume on %s: its data would go with the container", name, dir)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", name)
		}
	}

	// The proxy in front of both replicas.
	proxy := services["proxy"]
	if _, ok := proxy.DependsOn["api-1"]; !ok {
		t.Errorf("proxy: does not front api-1")
	}
	if _, ok := proxy.DependsOn["api-2"]; !ok {
		t.Errorf("proxy: does not front api-2")
	}
	if trusted := api1.Environment["CODERUNNER_TRUSTED_PROXIES"]; trusted == "" || !strings.Contains(string(out), "ipv4_address: "+trusted) {
		t.Errorf("api-1: CODERUNNER_TRUSTED_PROXIES %q is not the proxy's fixed address", trusted)
	}
}

func stopGrace(t *testing.T, service, v string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: stop_grace_period %q: %v", service, v, err)
	}
	return d
}

// TestCaddyfile validates the proxy's configuration with Caddy itself
// (Debian's caddy, 2.6; the image runs a later 2.x).
func TestCaddyfile(t *testing.T) {
	caddy := tool(t, "caddy", "scripts/setup-compose.sh")
	cmd := exec.Command(caddy, "validate", "--adapter", "caddyfile", "--config", caddyfile)
	// Caddy keeps its state under XDG_DATA_HOME and XDG_CONFIG_HOME.
	dir := t.TempDir()
	cmd.Env = append(os.Environ(), "SITE_ADDRESS=api.example.com",
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
}
