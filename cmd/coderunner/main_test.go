package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"coderunner"
	"coderunner/accounts"
	"coderunner/store/mongo/mongotest"
)

// TestMain lets a test run the real main() in a child process: the test
// binary re-executes itself with CODERUNNER_TEST_MAIN set.
func TestMain(m *testing.M) {
	if os.Getenv("CODERUNNER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestProductionConfigCheck(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // every string must appear in the one error
	}{
		{"production without services", map[string]string{"CODERUNNER_ENV": "production"}, []string{"MONGODB_URI", "REDIS_URL", "CODERUNNER_ORIGINS"}},
		{"every problem at once", map[string]string{"CODERUNNER_ENV": "production", "CODERUNNER_CACHE_MB": "-1", "CODERUNNER_INTROSPECTION": "maybe", "CODERUNNER_LOG_LEVEL": "loud", "CODERUNNER_WORKERS": "0", "CODERUNNER_GRACE": "soon",
			"CODERUNNER_GUESTS": "sometimes", "CODERUNNER_TOKEN_TTL": "forever", "CODERUNNER_TRUSTED_PROXIES": "the-lb", "CODERUNNER_QUOTA_STUDENT": "runsPerHour=3", "CODERUNNER_QUOTA_GUEST": "runsPerDay=-1",
			"CODERUNNER_SANDBOX": "vm", "CODERUNNER_JAIL_RUNS": "0", "CODERUNNER_RUN_RETENTION": "a month", "SENTRY_DSN": "sentry.example.com",
			"CODERUNNER_SANDBOX_IMAGE": "registry.example.com/sandbox:latest"},
			[]string{"MONGODB_URI", "REDIS_URL", "CODERUNNER_ORIGINS", "CODERUNNER_CACHE_MB", "CODERUNNER_INTROSPECTION", "CODERUNNER_LOG_LEVEL", "CODERUNNER_WORKERS", "CODERUNNER_GRACE",
				"CODERUNNER_GUESTS", "CODERUNNER_TOKEN_TTL", "CODERUNNER_TRUSTED_PROXIES", "CODERUNNER_QUOTA_STUDENT", "CODERUNNER_QUOTA_GUEST",
				"CODERUNNER_SANDBOX", "CODERUNNER_JAIL_RUNS", "CODERUNNER_RUN_RETENTION", "SENTRY_DSN", "CODERUNNER_SANDBOX_IMAGE"}},
		{"production with services", map[string]string{"CODERUNNER_ENV": "production", "MONGODB_URI": "mongodb://db/coderunner", "REDIS_URL": "redis://cache:6379/0", "CODERUNNER_ORIGINS": "app.example.com"}, nil},
		{"development needs nothing", map[string]string{}, nil},
		{"unknown environment", map[string]string{"CODERUNNER_ENV": "prod"}, []string{"CODERUNNER_ENV", "prod"}},
		{"development by name", map[string]string{"CODERUNNER_ENV": "development"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(envOf(tt.env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("loadConfig: %v", err)
				}
				if cfg.Production && (cfg.Introspection || cfg.LogFormat != "json") {
					t.Errorf("production config %+v: want introspection off and JSON logs", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("loadConfig succeeded, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

// TestRetentionAndReportingConfig: runs are kept 30 days unless
// CODERUNNER_RUN_RETENTION says otherwise; SENTRY_DSN, when set, must be
// a DSN, and without it nothing is reported.
func TestRetentionAndReportingConfig(t *testing.T) {
	cfg, err := loadConfig(envOf(map[string]string{}))
	if err != nil || cfg.RunRetention != 720*time.Hour || cfg.SentryDSN != "" {
		t.Fatalf("defaults: retention %v, DSN %q, %v; want 720h, none", cfg.RunRetention, cfg.SentryDSN, err)
	}
	cfg, err = loadConfig(envOf(map[string]string{"CODERUNNER_RUN_RETENTION": "168h", "SENTRY_DSN": "https://key@o1.ingest.sentry.io/42"}))
	if err != nil || cfg.RunRetention != 168*time.Hour || cfg.SentryDSN != "https://key@o1.ingest.sentry.io/42" {
		t.Fatalf("set: retention %v, DSN %q, %v", cfg.RunRetention, cfg.SentryDSN, err)
	}
}

// TestQuotaConfig: CODERUNNER_QUOTA_<ROLE> and _GUEST set any quota field
// by its JSON name, the submission limits included, over the defaults;
// an unknown name or a bad number is an error that lists the names.
func TestQuotaConfig(t *testing.T) {
	student := accounts.DefaultQuotas[coderunner.RoleStudent]
	tests := []struct {
		value   string
		want    coderunner.Quota
		wantErr bool
	}{
		{"", student, false},
		{"submitsPerMinute=3, submitsPerDay=40", func() coderunner.Quota {
			q := student
			q.SubmitsPerMinute, q.SubmitsPerDay = 3, 40
			return q
		}(), false},
		{"runsPerDay=7,maxActiveRuns=0", func() coderunner.Quota {
			q := student
			q.RunsPerDay, q.MaxActiveRuns = 7, 0
			return q
		}(), false},
		{"submitsPerHour=3", student, true},
		{"submitsPerDay=-1", student, true},
		{"submitsPerDay", student, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := loadConfig(envOf(map[string]string{"CODERUNNER_QUOTA_STUDENT": tt.value}))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "submitsPerDay, submitsPerMinute") {
					t.Fatalf("loadConfig: %v; want an error that lists the fields", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if got := cfg.Quotas[coderunner.RoleStudent]; got != tt.want {
				t.Errorf("student quota %+v; want %+v", got, tt.want)
			}
		})
	}
}

// TestSandboxImageConfig: CODERUNNER_SANDBOX_IMAGE must pin an image by
// its sha256 digest alone; a tag, which can be moved to other content, is
// a configuration error that says what to give instead.
func TestSandboxImageConfig(t *testing.T) {
	const digest = "sha256:6fe0af37bf167cadd8f3e846f016969bac2e7b5b159947b12a3a128aa2fd09d4"
	tests := []struct {
		value string
		ok    bool
	}{
		{"", true}, // unset: the image is built here
		{"localhost:5000/coderunner-sandbox@" + digest, true},
		{"registry.example.com:443/team/sandbox@" + digest, true},
		{"sandbox@" + digest, true}, // Docker Hub's library/sandbox
		{"localhost:5000/coderunner-sandbox:37e94e8d751e2378", false},
		{"localhost:5000/coderunner-sandbox", false},
		{"localhost:5000/coderunner-sandbox:37e94e8d751e2378@" + digest, false}, // a tag beside the digest
		{"localhost:5000/coderunner-sandbox@" + digest[:70], false},             // digest cut short
		{"localhost:5000/coderunner-sandbox@sha512:" + strings.Repeat("ab", 64), false},
		{"localhost:5000/Coderunner@" + digest, false}, // not a reference at all
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := loadConfig(envOf(map[string]string{"CODERUNNER_SANDBOX_IMAGE": tt.value}))
			if tt.ok {
				if err != nil || cfg.SandboxImage != tt.value {
					t.Fatalf("loadConfig: image %q, %v; want %q", cfg.SandboxImage, err, tt.value)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "CODERUNNER_SANDBOX_IMAGE") || !strings.Contains(err.Error(), "REPOSITORY@sha256:") {
				t.Fatalf("loadConfig: %v; want an error naming CODERUNNER_SANDBOX_IMAGE and the form it takes", err)
			}
		})
	}
}

// TestProcessNeedsSharedServices: `api` and `worker` run beside other
// processes, so each must reach the same queue (Redis) and the same store
// (MongoDB); an embedded SQLite file of their own would keep runs the
// others never see. `serve` is one process and needs neither.
func TestProcessNeedsSharedServices(t *testing.T) {
	const redisURL, mongoURI = "redis://cache:6379/0", "mongodb://db/coderunner"
	const pinned = "localhost:5000/coderunner-sandbox@sha256:6fe0af37bf167cadd8f3e846f016969bac2e7b5b159947b12a3a128aa2fd09d4"
	production := func(more map[string]string) map[string]string {
		env := map[string]string{"CODERUNNER_ENV": "production", "REDIS_URL": redisURL, "MONGODB_URI": mongoURI, "CODERUNNER_ORIGINS": "app.example.com"}
		maps.Copy(env, more)
		return env
	}
	tests := []struct {
		process string
		env     map[string]string
		wantErr []string // every string must appear in the error; none: no error
	}{
		{"serve", map[string]string{}, nil},
		{"serve", map[string]string{"REDIS_URL": redisURL}, []string{"MONGODB_URI"}},
		{"serve", map[string]string{"REDIS_URL": redisURL, "MONGODB_URI": mongoURI}, nil},
		{"api", map[string]string{}, []string{"REDIS_URL", "MONGODB_URI"}},
		{"api", map[string]string{"REDIS_URL": redisURL}, []string{"MONGODB_URI"}},
		{"worker", map[string]string{"REDIS_URL": redisURL}, []string{"MONGODB_URI"}},
		{"worker", map[string]string{"MONGODB_URI": mongoURI}, []string{"REDIS_URL"}},
		{"api", map[string]string{"REDIS_URL": redisURL, "MONGODB_URI": mongoURI}, nil},
		{"worker", map[string]string{"REDIS_URL": redisURL, "MONGODB_URI": mongoURI}, nil},
		// In production, whatever runs programs needs a pinned sandbox image.
		{"worker", production(nil), []string{"CODERUNNER_SANDBOX_IMAGE", "coderunner image push"}},
		{"serve", production(nil), []string{"CODERUNNER_SANDBOX_IMAGE"}},
		{"api", production(nil), nil},
		{"worker", production(map[string]string{"CODERUNNER_SANDBOX_IMAGE": pinned}), nil},
		{"serve", production(map[string]string{"CODERUNNER_SANDBOX_IMAGE": pinned}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.process+" "+strings.Join(slices.Sorted(maps.Keys(tt.env)), "+"), func(t *testing.T) {
			cfg, err := loadConfig(envOf(tt.env))
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			err = cfg.checkProcess(tt.process)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("checkProcess: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("checkProcess succeeded, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

// TestProductionExitsBeforeListening runs the real binary in production
// without MONGODB_URI: it must exit non-zero, name the variable, and never
// open its port.
func TestProductionExitsBeforeListening(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "CODERUNNER_TEST_MAIN=1", "CODERUNNER_ENV=production", "CODERUNNER_ADDR="+addr,
		"CODERUNNER_DATA="+t.TempDir(), "MONGODB_URI=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve in production without MONGODB_URI: %v, want a non-zero exit", err)
	}
	if !strings.Contains(stderr.String(), "MONGODB_URI") {
		t.Errorf("stderr %q does not name MONGODB_URI", stderr.String())
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Errorf("something listens on %s", addr)
	}
}

// TestServeWarnsInProduction runs the real binary: `serve` under
// CODERUNNER_ENV=production logs a warning to run `api` and `worker`
// apart, before it says it is starting; `api`, `worker` and `serve` in
// development do not. Redis is unreachable and the Docker engine absent
// (DOCKER_HOST points nowhere): start-up gets as far as "starting", and no
// container can be left behind.
func TestServeWarnsInProduction(t *testing.T) {
	mongoURI := mongotest.Start(t)
	tests := []struct {
		process, env string
		wantWarning  bool
	}{
		{"serve", "production", true},
		{"api", "production", false},
		{"worker", "production", false},
		{"serve", "development", false},
	}
	for _, tt := range tests {
		t.Run(tt.process+" "+tt.env, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], tt.process)
			cmd.Env = append(os.Environ(), "CODERUNNER_TEST_MAIN=1", "CODERUNNER_ENV="+tt.env,
				"MONGODB_URI="+mongotest.Database(mongoURI, mongotest.NewName(t)), "REDIS_URL=redis://127.0.0.1:1/0",
				"CODERUNNER_ORIGINS=https://school.example", "CODERUNNER_DATA="+t.TempDir(),
				"CODERUNNER_ADDR="+freeAddr(t), "CODERUNNER_WORKER_ADDR="+freeAddr(t), "DOCKER_HOST=unix:///nonexistent/docker.sock",
				// Production workers run only a pinned image; no engine
				// answers here, so nothing is pulled.
				"CODERUNNER_SANDBOX_IMAGE=localhost:5000/coderunner-sandbox@sha256:"+strings.Repeat("0", 64))
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Lines up to "starting", which is logged right after the
			// warning's place; then the process is stopped.
			var before []string
			scanner := bufio.NewScanner(stderr)
			for scanner.Scan() && !strings.Contains(scanner.Text(), "starting") {
				before = append(before, scanner.Text())
			}
			cmd.Process.Signal(syscall.SIGTERM)
			go io.Copy(io.Discard, stderr) // until it exits, however it does
			cmd.Wait()
			if scanner.Err() != nil || !strings.Contains(scanner.Text(), "starting") {
				t.Fatalf("%s exited before it logged \"starting\": %v\n%s", tt.process, scanner.Err(), strings.Join(before, "\n"))
			}
			warned := slices.ContainsFunc(before, func(line string) bool {
				return strings.Contains(line, "WARN") && strings.Contains(line, "in production run `api` and `worker` separately")
			})
			if warned != tt.wantWarning {
				t.Errorf("warned: %v, want %v; logged before \"starting\":\n%s", warned, tt.wantWarning, strings.Join(before, "\n"))
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServe runs `serve` on a fresh data directory (SQLite) and on MongoDB
// (FerretDB): it seeds the empty store by itself, answers a levels query
// with problems, and shuts down cleanly when its context ends.
func TestServe(t *testing.T) {
	tests := []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"embedded defaults", func(t *testing.T) map[string]string { return map[string]string{} }},
		{"MongoDB", func(t *testing.T) map[string]string {
			return map[string]string{"MONGODB_URI": mongotest.Database(mongotest.Start(t), mongotest.NewName(t))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env(t)
			env["CODERUNNER_ADDR"] = freeAddr(t)
			env["CODERUNNER_DATA"] = t.TempDir()
			env["CODERUNNER_LOG_LEVEL"] = "warn"
			base := "http://" + env["CODERUNNER_ADDR"]
			stop := startServe(t, env)
			body := `{"query":"{ levels(ageGroup: \"7-9\") { id problems { id title } } }"}`
			resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Data struct {
					Levels []struct {
						ID       string
						Problems []struct{ ID, Title string }
					}
				}
				Errors []any
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || len(out.Errors) > 0 || len(out.Data.Levels) == 0 || len(out.Data.Levels[0].Problems) == 0 {
				t.Fatalf("levels query: %v, %+v", err, out)
			}

			// The issue's own example: stdin given up front, so the program
			// reads end-of-file after "ab" and prints at once.
			id := postData(t, base, `mutation { run(input: {language: "python", code: "print(input()*2)", stdin: "ab"}) { id status } }`, "run", "id")
			waitStatus(t, base, id, "COMPLETED")
			if out := postData(t, base, `{ run(id: "`+id+`") { stdout } }`, "run", "stdout"); out != "abab\n" {
				t.Errorf("stdout %q, want %q", out, "abab\n")
			}

			stop()
		})
	}
}

// TestMetricsAddr: with CODERUNNER_METRICS_ADDR, /metrics is served there
// and no longer on the public address.
func TestMetricsAddr(t *testing.T) {
	env := map[string]string{
		"CODERUNNER_ADDR": freeAddr(t), "CODERUNNER_METRICS_ADDR": freeAddr(t),
		"CODERUNNER_DATA": t.TempDir(), "CODERUNNER_LOG_LEVEL": "warn", "CODERUNNER_WORKERS": "1",
	}
	defer startServe(t, env)()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, _ := get("http://" + env["CODERUNNER_ADDR"] + "/metrics"); status != http.StatusNotFound {
		t.Errorf("public /metrics: status %d, want 404", status)
	}
	if status, body := get("http://" + env["CODERUNNER_METRICS_ADDR"] + "/metrics"); status != http.StatusOK || !strings.Contains(body, "coderunner_queue_depth") {
		t.Errorf("internal /metrics: status %d, body %.200s", status, body)
	}
}

// TestSandboxMode: CODERUNNER_SANDBOX picks the mode, which /readyz and
// /metrics report, and runs go through it.
func TestSandboxMode(t *testing.T) {
	for _, mode := range []string{"", "container", "jail"} {
		t.Run("CODERUNNER_SANDBOX="+mode, func(t *testing.T) {
			env := map[string]string{
				"CODERUNNER_ADDR": freeAddr(t), "CODERUNNER_DATA": t.TempDir(), "CODERUNNER_LOG_LEVEL": "warn",
				"CODERUNNER_WORKERS": "1", "CODERUNNER_SANDBOX": mode,
			}
			base := "http://" + env["CODERUNNER_ADDR"]
			defer startServe(t, env)()
			want := cmp.Or(mode, "container")
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			var ready map[string]string
			err = json.NewDecoder(resp.Body).Decode(&ready)
			resp.Body.Close()
			if err != nil || ready["sandboxMode"] != want {
				t.Errorf("/readyz: %v %v, want sandboxMode %s", ready, err, want)
			}
			resp, err = http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if line := `coderunner_sandbox_mode{mode="` + want + `",requested="` + want + `"} 1`; !strings.Contains(string(body), line) {
				t.Errorf("/metrics lacks %s", line)
			}
			id := postData(t, base, `mutation { run(input: {language: "python", code: "print(input()*2)", stdin: "ab"}) { id status } }`, "run", "id")
			waitStatus(t, base, id, "COMPLETED")
			if out := postData(t, base, `{ run(id: "`+id+`") { stdout } }`, "run", "stdout"); out != "abab\n" {
				t.Errorf("stdout %q, want %q", out, "abab\n")
			}
		})
	}
}

// TestServeRestartRunsUnfinishedRuns: `serve` keeps its queue in memory,
// so a run cut short by a shutdown is carried out again when serve starts
// again on the same data, instead of waiting for the reaper.
func TestServeRestartRunsUnfinishedRuns(t *testing.T) {
	env := map[string]string{
		"CODERUNNER_ADDR": freeAddr(t), "CODERUNNER_DATA": t.TempDir(), "CODERUNNER_LOG_LEVEL": "error",
		"CODERUNNER_WORKERS": "1", "CODERUNNER_GRACE": "200ms",
	}
	base := "http://" + env["CODERUNNER_ADDR"]
	stop := startServe(t, env)
	id := postData(t, base, `mutation { run(input: {language: "python", code: "import time\ntime.sleep(2)\nprint('done')"}) { id } }`, "run", "id")
	waitStatus(t, base, id, "RUNNING")
	stop() // the grace period ends before the program does

	defer startServe(t, env)()
	waitStatus(t, base, id, "COMPLETED")
	if out := postData(t, base, `{ run(id: "`+id+`") { stdout } }`, "run", "stdout"); out != "done\n" {
		t.Errorf("stdout %q, want %q", out, "done\n")
	}
}

// TestServeRestartGradesUnfinishedSubmissions: likewise, a submission cut
// short mid-grading is graded on after a restart, from the tests it has:
// every test once.
func TestServeRestartGradesUnfinishedSubmissions(t *testing.T) {
	env := map[string]string{
		"CODERUNNER_ADDR": freeAddr(t), "CODERUNNER_DATA": t.TempDir(), "CODERUNNER_LOG_LEVEL": "error",
		"CODERUNNER_WORKERS": "1", "CODERUNNER_GRACE": "200ms",
	}
	base := "http://" + env["CODERUNNER_ADDR"]
	stop := startServe(t, env)
	token := postDataAs(t, base, "", `mutation { signUp(name: "restarter", password: "correct horse battery") { token } }`, "signUp", "token")
	code := "import time\ntime.sleep(0.5)\nname = input()\nprint('Hello, world!')\nprint('Hello, ' + name + '!')"
	id := postDataAs(t, base, token, `mutation { submit(problemId: "hello-world", code: "`+strings.ReplaceAll(code, "\n", `\n`)+`") { id } }`, "submit", "id")
	status := func() (string, int) {
		out := postAs(t, base, token, `{ submission(id: "`+id+`") { status verdict passed total tests { index } } }`)
		var data struct {
			Submission struct {
				Status, Verdict string
				Passed, Total   int
				Tests           []struct{ Index int }
			}
		}
		if err := json.Unmarshal(out, &data); err != nil {
			t.Fatal(err)
		}
		sub := data.Submission
		if sub.Status == "FINISHED" {
			var indexes []int
			for _, tr := range sub.Tests {
				indexes = append(indexes, tr.Index)
			}
			if sub.Verdict != "ACCEPTED" || sub.Passed != 5 || sub.Total != 5 || !slices.Equal(indexes, []int{0, 1, 2, 3, 4}) {
				t.Fatalf("finished %s %d/%d with tests %v; want ACCEPTED 5/5, each test once", sub.Verdict, sub.Passed, sub.Total, indexes)
			}
		}
		return sub.Status, len(sub.Tests)
	}
	waitFor := func(what string, done func(status string, tests int) bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			st, n := status()
			if done(st, n) {
				return
			}
			if time.Now().After(deadline) || st == "FINISHED" {
				t.Fatalf("submission %s is %s with %d tests; want %s", id, st, n, what)
			}
		}
	}
	waitFor("RUNNING with a test graded", func(st string, n int) bool { return st == "RUNNING" && n >= 1 && n < 4 })
	stop() // the grace period ends before the test in flight does

	defer startServe(t, env)()
	waitFor("FINISHED", func(st string, _ int) bool { return st == "FINISHED" })
}

// startServe runs `serve` with env until the returned stop is called, and
// returns once it is ready. stop checks that it shuts down cleanly.
func startServe(t *testing.T, env map[string]string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envOf(env), nil, io.Discard) }()
	waitReady(t, "http://"+env["CODERUNNER_ADDR"], done)
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after shutdown, want nil", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not shut down")
		}
	}
}

// waitStatus polls run id until its status is want; it fails on any other
// final status, or after 30 s.
func waitStatus(t *testing.T, base, id, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status := postData(t, base, `{ run(id: "`+id+`") { status } }`, "run", "status")
		if status == want {
			return
		}
		if time.Now().After(deadline) || (status != "QUEUED" && status != "RUNNING") {
			t.Fatalf("run %s is %s; want %s", id, status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitReady(t *testing.T, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("serve never became ready")
}

// TestSeed checks that `seed` is idempotent and rejects a bad file whole.
// TestSeedChecks tests its sandbox check.
func TestSeed(t *testing.T) {
	env := envOf(map[string]string{"CODERUNNER_DATA": t.TempDir()})
	for range 2 {
		var out bytes.Buffer
		// Unchecked: TestSeedChecks checks in the sandbox.
		if err := run(t.Context(), []string{"seed", "-check=no"}, env, nil, &out); err != nil {
			t.Fatalf("seed: %v", err)
		}
		if !strings.Contains(out.String(), "seeded 3 age groups") {
			t.Errorf("seed printed %q", out.String())
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("ageGroups:\n- slug: \"NOT A SLUG\"\n  title: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"seed", "--file", bad}, env, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "slug") {
		t.Errorf("seed of a bad file: %v, want an error about the slug", err)
	}
}

// postData posts query to base's /graphql and returns data.<object>.<field>
// as a string, failing the test on any error.
func postData(t *testing.T, base, query, object, field string) string {
	t.Helper()
	return postDataAs(t, base, "", query, object, field)
}

// postDataAs is postData with a session token ("": none).
func postDataAs(t *testing.T, base, token, query, object, field string) string {
	t.Helper()
	var data map[string]map[string]any
	if err := json.Unmarshal(postAs(t, base, token, query), &data); err != nil {
		t.Fatal(err)
	}
	v, _ := data[object][field].(string)
	return v
}

// postAs posts query to base's /graphql with a session token ("": none)
// and returns its data, failing the test on any error.
func postAs(t *testing.T, base, token, query string) json.RawMessage {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/graphql", strings.NewReader(`{"query":`+strconv.Quote(query)+`}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Errors) > 0 {
		t.Fatalf("%s: %v %+v", query, err, out.Errors)
	}
	return out.Data
}
