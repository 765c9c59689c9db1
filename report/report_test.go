package report_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"coderunner/report"
	"coderunner/report/reporttest"
)

func TestScrub(t *testing.T) {
	tests := []struct {
		name, text string
		redact     []string
		want       string
	}{
		{"plain", "connection refused", nil, "connection refused"},
		{"quoted", `no user "Ada Lovelace" here`, nil, `no user "…" here`},
		{"escaped quote", `bad "a\"b" end`, nil, `bad "…" end`},
		{"backquoted", "decode `print(1)` failed", nil, `decode "…" failed`},
		{"redacted", "sandbox: exec print(secret) failed", []string{"print(secret)"}, "sandbox: exec [redacted] failed"},
		{"short redactions ignored", "run 42 failed", []string{"42", " "}, "run 42 failed"},
		{"long", strings.Repeat("x", 600), nil, strings.Repeat("x", 500) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := report.Scrub(tt.text, tt.redact); got != tt.want {
				t.Errorf("Scrub(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestNopWithoutDSN(t *testing.T) {
	r, err := report.New(report.Options{})
	if err != nil || r != report.Nop {
		t.Fatalf("New without a DSN = %v, %v; want Nop", r, err)
	}
	if report.WithRole(r, "api") != report.Nop {
		t.Error("WithRole(Nop) is not Nop")
	}
	r.Report(report.Event{Kind: report.Panic, Panic: "x"})
	if !r.Flush(time.Millisecond) {
		t.Error("Nop.Flush = false")
	}
}

func TestCheckDSN(t *testing.T) {
	if err := report.CheckDSN("https://key@o1.ingest.sentry.io/42"); err != nil {
		t.Errorf("a good DSN: %v", err)
	}
	if err := report.CheckDSN("not a dsn"); err == nil {
		t.Error("a bad DSN passed")
	}
}

// TestSentryEvent sends one event of each shape to a fake Sentry and
// checks what arrived, and that what was to be redacted did not.
func TestSentryEvent(t *testing.T) {
	sentry := reporttest.Start(t)
	r, err := report.New(report.Options{DSN: sentry.DSN(), Release: "coderunner@test", Environment: "development"})
	if err != nil {
		t.Fatal(err)
	}
	r = report.WithRole(r, "worker")
	r.Report(report.Event{
		Kind: report.RunFailed, Operation: "run", RunID: "run-1",
		Err:    fmt.Errorf("sandbox: %w", errors.New("exec CODE_MARKER failed for \"STDIN_MARKER\"")),
		Redact: []string{"CODE_MARKER"},
	})
	r.Report(report.Event{Kind: report.Panic, Operation: "grade", SubmissionID: "sub-1", Panic: "index out of range"})
	r.Report(report.Event{Kind: report.GaveUp, Operation: "reap", Message: "gave up on lost runs"})
	if !r.Flush(5 * time.Second) {
		t.Fatal("Flush timed out")
	}
	run := sentry.WaitFor(t, "the run", func(e reporttest.Event) bool { return e.Tags["run_id"] == "run-1" })
	if run.Tags["role"] != "worker" || run.Tags["operation"] != "run" || run.Tags["kind"] != "run_internal_error" || run.Release != "coderunner@test" {
		t.Errorf("run event: %s", run.Raw)
	}
	if len(run.Exception) != 1 || run.Exception[0].Value != `sandbox: exec [redacted] failed for "…"` || run.Exception[0].Type != "*errors.errorString" {
		t.Errorf("run event's exception: %+v", run.Exception)
	}
	panicked := sentry.WaitFor(t, "the panic", func(e reporttest.Event) bool { return e.Tags["submission_id"] == "sub-1" })
	if panicked.Level != "fatal" || len(panicked.Exception) != 1 || panicked.Exception[0].Value != "index out of range" {
		t.Errorf("panic event: %s", panicked.Raw)
	}
	sentry.WaitFor(t, "the reaper's", func(e reporttest.Event) bool { return e.Message == "gave up on lost runs" })
	sentry.NeverSent(t, map[string]string{"code": "CODE_MARKER", "stdin": "STDIN_MARKER"})
}
