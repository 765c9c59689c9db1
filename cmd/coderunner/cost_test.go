package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"coderunner"
	"coderunner/cost"
	"coderunner/usage"
)

func runCost(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), append([]string{"cost"}, args...), envOf(nil), strings.NewReader(""), &out)
	return out.String(), err
}

// costRow finds the table row that starts with label and returns its cells.
func costRow(t *testing.T, table, label string) []string {
	t.Helper()
	for line := range strings.SplitSeq(table, "\n") {
		if rest, ok := strings.CutPrefix(line, label+"  "); ok {
			return append([]string{label}, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(rest), -1)...)
		}
	}
	t.Fatalf("no row %q in\n%s", label, table)
	return nil
}

// TestCostCommandDefaults: with no flags, the report's base case figures
// exactly, every input marked default.
func TestCostCommandDefaults(t *testing.T) {
	out, err := runCost(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		label string
		want  []string
	}{
		{"exec-seconds (R·t_run + S·t_submit)", []string{"49", "1470"}},
		{"vCPU-seconds (× overhead)", []string{"147", "4410"}},
		{"vCPU-hours", []string{"0.0408", "1.23"}}, // the first vCPU-hours row is per user
		{"cost", []string{"$0.00034", "$0.0102"}},
		{"price per vCPU-hour (VPS / vCPUs / 720 h)", []string{"$0.00833", "default"}},
		{"VPS price per month", []string{"$12", "default"}},
		{"VPS vCPUs", []string{"2", "default"}},
		{"DAU (daily active users)", []string{"1000", "default"}},
		{"runner vCPUs on average", []string{"1.7", "(peaks need more: size runners from measured peaks)"}},
	} {
		if got := costRow(t, out, tt.label); !slices.Equal(got[1:], tt.want) {
			t.Errorf("row %q = %q, want %q", tt.label, got[1:], tt.want)
		}
	}
	if strings.Contains(out, "flag") {
		t.Errorf("an input is marked flag with no flags:\n%s", out)
	}
	for _, want := range []string{"platform at 1000 DAU", "$10.21", "40.83", "1225", "cost per MAU (3000)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	js, err := runCost(t, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep cost.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, js)
	}
	f := rep.Figures
	if f.ExecSecondsPerUserDay != 49 || f.VCPUSecondsPerUserDay != 147 ||
		math.Round(f.VCPUHoursPerUserDay*1e4)/1e4 != 0.0408 || math.Round(f.CostPerUserMonth*1e4)/1e4 != 0.0102 {
		t.Errorf("JSON figures are not the base case: %s", js)
	}
	if rep.DaysPerMonth != 30 || rep.HoursPerMonth != 720 || rep.Inputs.VPSPrice == nil || rep.Inputs.VPSPrice.Value != 12 ||
		rep.Inputs.VCPUHour.Source != "default" || rep.Inputs.Runs != (cost.Input{Value: 20, Source: "default"}) {
		t.Errorf("JSON inputs: %s", js)
	}
}

// TestCostCommandFlags: flags override the defaults, are marked flag, and
// bad ones are refused.
func TestCostCommandFlags(t *testing.T) {
	out, err := runCost(t, "--dau", "3000", "--runs", "10", "--t-submit", "2", "--overhead", "2", "--vcpu-hour", "0.01")
	if err != nil {
		t.Fatal(err)
	}
	// 10×1.2 + 5×2 = 22 s; ×2 = 44 vCPU-s = 0.01222 vCPU-h; ×30×$0.01 = $0.00367 a month.
	for _, tt := range []struct {
		label string
		want  []string
	}{
		{"R: runs per active user per day", []string{"10", "flag"}},
		{"S: submissions per active user per day", []string{"5", "default"}},
		{"t_submit: program CPU seconds per submission", []string{"2", "flag"}},
		{"price per vCPU-hour", []string{"$0.01", "flag"}},
		{"exec-seconds (R·t_run + S·t_submit)", []string{"22", "660"}},
		{"vCPU-hours", []string{"0.0122", "0.367"}},
		{"cost", []string{"$0.000122", "$0.00367"}},
	} {
		if got := costRow(t, out, tt.label); !slices.Equal(got[1:], tt.want) {
			t.Errorf("row %q = %q, want %q", tt.label, got[1:], tt.want)
		}
	}
	if strings.Contains(out, "VPS") {
		t.Errorf("VPS rows with --vcpu-hour:\n%s", out)
	}

	js, err := runCost(t, "--json", "--vps-price", "72", "--vps-vcpus", "4", "--mau", "5000")
	if err != nil {
		t.Fatal(err)
	}
	var rep cost.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	// $72 / (4 × 720 h) = $0.025 a vCPU-hour; 0.040833… × 30 × 0.025 = $0.030625 a user-month.
	if rep.Inputs.VCPUHour != (cost.Input{Value: 0.025, Source: "flag"}) || *rep.Inputs.VPSVCPUs != (cost.Input{Value: 4, Source: "flag"}) || rep.Inputs.MAU.Source != "flag" ||
		math.Abs(rep.Figures.CostPerUserMonth-0.030625) > 1e-12 || math.Abs(rep.Figures.CostPerMAUMonth-0.030625*1000/5000) > 1e-12 {
		t.Errorf("JSON with a VPS price: %s", js)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"not a number", []string{"--dau", "many"}, "invalid value"},
		{"unknown flag", []string{"--bogus"}, "not defined"},
		{"unknown scenario", []string{"--scenario", "median"}, "no scenario"},
		{"days without --measured", []string{"--days", "3"}, "--measured"},
		{"an input with --measured", []string{"--measured", "--runs", "3"}, "--runs"},
		{"no wait target", []string{"--measured", "--target-wait", "0s"}, "--target-wait"},
		{"argument", []string{"extra"}, "no arguments"},
		{"no users", []string{"--dau", "0"}, "DAU"},
		{"MAU below DAU", []string{"--dau", "5000"}, "MAU"},
		{"overhead below 1", []string{"--overhead", "0.5"}, "overhead"},
		{"NaN", []string{"--t-run", "NaN"}, "t-run"},
		{"both prices", []string{"--vcpu-hour", "0.01", "--vps-price", "10"}, "not both"},
		{"no vCPUs", []string{"--vps-vcpus", "0"}, "--vps-vcpus"},
		{"free VPS", []string{"--vps-price", "0"}, "--vps-price"},
		{"free vCPU-hour", []string{"--vcpu-hour", "0"}, "vCPU-hour price"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCost(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed %q on error", out)
			}
		})
	}
}

// TestCostCommandExit runs the real binary: a bad flag exits non-zero with
// the reason on stderr; no flags exits 0.
func TestCostCommandExit(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		exit   int
		stderr string
	}{
		{[]string{"cost"}, 0, ""},
		{[]string{"cost", "--overhead", "0"}, 1, "overhead"},
	} {
		cmd := exec.CommandContext(t.Context(), os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), "CODERUNNER_TEST_MAIN=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		exit := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			exit = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if exit != tt.exit || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: exit %d stderr %q, want %d and %q", tt.args, exit, stderr.String(), tt.exit, tt.stderr)
		}
		if tt.exit == 0 && !strings.Contains(stdout.String(), "$0.0102") {
			t.Errorf("%q: stdout lacks $0.0102:\n%s", tt.args, stdout.String())
		}
	}
}

// TestCostCommandMeasured fills the store the environment names with two
// days of known use and reads the model's inputs back from it.
func TestCostCommandMeasured(t *testing.T) {
	env := map[string]string{"CODERUNNER_DATA": t.TempDir()}
	cfg, err := loadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	db, err := openStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	today := coderunner.DayOf(time.Now())
	// Yesterday and the day before: 4 users, each 10 runs of 500 ms and 2
	// submissions of 3 tests of 1 s; one runner host of 2 vCPUs all day,
	// busy 200 s.
	for d := 1; d <= 2; d++ {
		day := today.AddDate(0, 0, -d)
		for u := range 4 {
			owner := fmt.Sprintf("user-%d", u)
			at := day.Add(time.Duration(u+1) * time.Hour)
			for i := range 10 {
				run := coderunner.Run{ID: fmt.Sprintf("r-%d-%d-%d", d, u, i), Owner: owner, CreatedAt: at, StartedAt: at.Add(100 * time.Millisecond),
					RunResult: coderunner.RunResult{Status: coderunner.StatusCompleted, CPUMs: 500}}
				if err := db.CreateRun(t.Context(), run); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				sub := coderunner.Submission{ID: fmt.Sprintf("s-%d-%d-%d", d, u, i), Owner: owner, Status: coderunner.SubmissionFinished,
					CreatedAt: at, StartedAt: at.Add(100 * time.Millisecond)}
				for k := range 3 {
					sub.Tests = append(sub.Tests, coderunner.TestResult{Index: k, CPUMs: 1000})
				}
				if err := db.CreateSubmission(t.Context(), sub); err != nil {
					t.Fatal(err)
				}
			}
		}
		u := coderunner.RunnerUsage{Day: day, Runner: "w", Host: "h", VCPUs: 2, BusyCPUSeconds: 200, ProvisionedVCPUSeconds: 2 * 86400}
		if err := db.SaveRunnerUsage(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	var out bytes.Buffer
	if err := run(t.Context(), []string{"cost", "--measured", "--days", "2", "--json"}, envOf(env), strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var rep usage.CostReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	// Program CPU a day: 4 × (10 × 0.5 + 2 × 3) = 44 s; provisioned
	// 172 800 vCPU-s a day over it: 3927.27…
	in := rep.Inputs
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"DAU", in.DAU.Value, 4}, {"MAU", in.MAU.Value, 4},
		{"R", in.Runs.Value, 10}, {"S", in.Submits.Value, 2},
		{"t_run", in.TRun.Value, 0.5}, {"t_submit", in.TSubmit.Value, 3},
		{"overhead", in.Overhead.Value, 172800.0 / 44},
		{"busy overhead", rep.Measured.BusyOverhead, 200.0 / 44},
		{"tests per submission", rep.Measured.TestsPerSubmission, 3},
		{"exec-seconds", rep.Figures.ExecSecondsPerUserDay, 11},
	} {
		if math.Abs(tt.got-tt.want) > 1e-9*tt.want {
			t.Errorf("%s = %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	if !strings.HasPrefix(in.Runs.Source, "measured: 80 runs / 8 active user-days") || in.VCPUHour.Source != "default" {
		t.Errorf("sources: runs %q, vCPU-hour %q", in.Runs.Source, in.VCPUHour.Source)
	}
	if rep.Recommendation.VCPUs < 1 || rep.Measured.DaysRolledUp != 2 {
		t.Errorf("recommendation %+v after %d days rolled up", rep.Recommendation, rep.Measured.DaysRolledUp)
	}

	out.Reset()
	if err := run(t.Context(), []string{"cost", "--measured", "--days", "2"}, envOf(env), strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"measured: 80 runs / 8 active user-days", "overhead, busy (host CPU / program CPU)", "runner vCPUs the peak needs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
