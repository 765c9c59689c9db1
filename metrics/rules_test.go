package metrics

import (
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"
)

// The alerting rules and their promtool unit tests live beside the other
// deployment files; these tests keep them and the code in step.
var (
	rulesDir  = filepath.Join("..", "deploy", "prometheus")
	rulesFile = filepath.Join(rulesDir, "alerts.yml")
	rulesTest = filepath.Join(rulesDir, "alerts_test.yml")
	alertsDoc = filepath.Join("..", "docs", "alerts.md")
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", rulesFile)
	}
	return rules
}

// TestPromtool checks the rules and runs their unit tests with promtool
// (Debian's prometheus package; scripts/setup-prometheus.sh installs it).
// Without promtool it fails under CI=true and skips, saying why, otherwise.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool unavailable with CI=true: %v", err)
		}
		t.Skipf("promtool unavailable (install with scripts/setup-prometheus.sh; fails instead under CI=true): %v", err)
	}
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(rulesTest)},
	} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertsAreComplete: every alert waits (for:), has a severity, a
// summary and a runbook, is documented in docs/alerts.md, and has a
// promtool test case that fires it and one in which it stays silent.
func TestAlertsAreComplete(t *testing.T) {
	doc, err := os.ReadFile(alertsDoc)
	if err != nil {
		t.Fatal(err)
	}
	fires, silent := promtoolCases(t)
	for _, r := range alertRules(t) {
		if r.Alert == "" {
			t.Errorf("%s: a recording rule (%s); the tests expect alerts only", rulesFile, r.Expr)
			continue
		}
		if r.For == "" {
			t.Errorf("%s: no for:", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q; want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "runbook"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		if !strings.Contains(string(doc), "`"+r.Alert+"`") {
			t.Errorf("%s is not in %s", r.Alert, alertsDoc)
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no case in %s fires it", r.Alert, rulesTest)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no case in %s keeps it silent throughout", r.Alert, rulesTest)
		}
	}
}

// promtoolCases reads the unit tests: which alerts some eval expects to
// fire, and which some test case never expects to fire.
func promtoolCases(t *testing.T) (fires, silent map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(rulesTest)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			Name  string `yaml:"name"`
			Evals []struct {
				Alert     string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", rulesTest, err)
	}
	fires, silent = map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		firesHere, evaluated := map[string]bool{}, map[string]bool{}
		for _, e := range tc.Evals {
			evaluated[e.Alert] = true
			if len(e.ExpAlerts) > 0 {
				firesHere[e.Alert], fires[e.Alert] = true, true
			}
		}
		for a := range evaluated {
			if !firesHere[a] {
				silent[a] = true
			}
		}
	}
	return fires, silent
}

// TestRulesUseExportedMetrics: every coderunner_ metric an alert reads is
// one a process exports, with the labels the alert matches on, so that
// renaming a metric or a label cannot silently disarm an alert.
func TestRulesUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	selector := regexp.MustCompile(`\b(coderunner_[A-Za-z0-9_]+)\s*(\{[^}]*\})?`)
	matcher := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	grouping := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// Labels every scraped series has, or that histogram_quantile reads.
	targetLabels := []string{"job", "instance", "le"}
	for _, r := range alertRules(t) {
		used := map[string]bool{}
		for _, m := range selector.FindAllStringSubmatch(r.Expr, -1) {
			name := m[1]
			labels, ok := exported[name]
			if !ok {
				t.Errorf("%s reads %s, which no process exports", r.Alert, name)
				continue
			}
			for _, l := range labels {
				used[l] = true
			}
			for _, lm := range matcher.FindAllStringSubmatch(m[2], -1) {
				if l := lm[1]; !slices.Contains(labels, l) && !slices.Contains(targetLabels, l) {
					t.Errorf("%s matches %s on label %q; it has %v", r.Alert, name, l, labels)
				}
			}
		}
		if len(used) == 0 && !strings.Contains(r.Expr, "coderunner_") {
			continue // up{job=...}: Prometheus's own
		}
		for _, g := range grouping.FindAllStringSubmatch(r.Expr, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !used[l] && !slices.Contains(targetLabels, l) {
					t.Errorf("%s groups by %q, a label of none of its metrics", r.Alert, l)
				}
			}
		}
	}
}

// exportedMetrics lists the coderunner_ series names a process exports,
// with their label names: a Metrics with every gauge watched, as serve
// (api and worker in one) sets it up. A histogram's name stands for its
// _bucket (with le), _sum and _count series.
func exportedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	m := New()
	fail := func(context.Context) error { return errors.New("unused") }
	m.WatchQueue(nil) // read only at a scrape
	m.WatchRedis(fail)
	m.WatchReady(fail)
	m.BuildInfo("serve", "test")
	m.SandboxMode("jail", "jail")
	m.WatchPoolSize(func() int { return 0 })
	m.WatchCache("apq", func() (uint64, uint64) { return 0, 0 })

	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	labelSets := regexp.MustCompile(`constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)
	out := map[string][]string{}
	for _, c := range m.collectors {
		descs := make(chan *prometheus.Desc)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			s := d.String()
			name := fqName.FindStringSubmatch(s)
			sets := labelSets.FindStringSubmatch(s)
			if name == nil || sets == nil {
				t.Fatalf("cannot read the name and labels of %s", s)
			}
			var labels []string
			for l := range strings.SplitSeq(sets[1], ",") {
				if n, _, _ := strings.Cut(l, "="); n != "" {
					labels = append(labels, n)
				}
			}
			for l := range strings.SplitSeq(sets[2], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					labels = append(labels, l)
				}
			}
			out[name[1]] = labels
		}
	}
	for name, labels := range maps.Clone(out) {
		out[name+"_bucket"] = append(slices.Clone(labels), "le")
		out[name+"_sum"] = labels
		out[name+"_count"] = labels
	}
	if _, ok := out["coderunner_queue_depth"]; !ok {
		t.Fatalf("the metrics listed lack coderunner_queue_depth: %v", out)
	}
	return out
}
