// Package report tells an error tracker what went wrong on our side:
// panics that were recovered, errors answered INTERNAL, runs and
// submissions that ended INTERNAL_ERROR through our failure, jobs
// dead-lettered. The rest of coderunner depends on the Reporter interface
// only; New returns the Sentry one when a DSN is configured and Nop
// otherwise.
//
// What leaves the process is exactly what an Event holds, and no more:
// the kind, the operation (a GraphQL operation name or a worker action),
// a field path, the run or submission id, the process role, the release,
// and the text of the error or panic with every quoted part and every
// Redact string cut out. A child's code, stdin and output, a user's name,
// session tokens and request bodies or headers are never put in an
// Event, and the Sentry client is configured to add none of them either
// (see New).
package report

import (
	"regexp"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what happened.
type Kind string

const (
	// Panic: a panic was recovered (a resolver, an HTTP handler, a
	// worker's job).
	Panic Kind = "panic"
	// Internal: an error was answered INTERNAL.
	Internal Kind = "internal"
	// RunFailed: a run ended INTERNAL_ERROR through our failure.
	RunFailed Kind = "run_internal_error"
	// SubmissionFailed: a submission's test, or the submission, ended
	// INTERNAL_ERROR through our failure.
	SubmissionFailed Kind = "submission_internal_error"
	// DeadLettered: a job was given up and moved to the dead letters.
	DeadLettered Kind = "dead_lettered"
	// GaveUp: the reaper finished lost runs or submissions INTERNAL_ERROR.
	GaveUp Kind = "gave_up"
)

// Event is one thing to report. Every field but Redact is sent.
type Event struct {
	Kind Kind
	// Role is the part of coderunner that reports: "api" or "worker"
	// (see WithRole).
	Role string
	// Operation is the GraphQL operation's name, or the worker's action
	// ("run", "grade", "reap").
	Operation string
	// Path is the GraphQL field path (field names, not aliases).
	Path         string
	RunID        string
	SubmissionID string
	// Err and Panic are what went wrong; their text is sent scrubbed (see
	// Scrub).
	Err   error
	Panic any
	// Message is a fixed text of ours, sent as it is when there is neither
	// Err nor Panic: never put user data in it.
	Message string
	// Redact lists strings that must not leave the process (a run's code,
	// stdin and output): they are cut out of the error's or panic's text.
	Redact []string
}

// Reporter sends Events. Report never blocks for long and never fails the
// caller; Flush waits up to timeout for what was reported to be sent, and
// reports whether it all was.
type Reporter interface {
	Report(e Event)
	Flush(timeout time.Duration) bool
}

// Nop reports nothing: the Reporter when no DSN is configured.
var Nop Reporter = nop{}

type nop struct{}

func (nop) Report(Event)             {}
func (nop) Flush(time.Duration) bool { return true }

// OrNop returns r, or Nop if r is nil.
func OrNop(r Reporter) Reporter {
	if r == nil {
		return Nop
	}
	return r
}

// WithRole returns r reporting as role ("api", "worker") the events
// that name none: `serve` runs both in one process.
func WithRole(r Reporter, role string) Reporter {
	if r == nil || r == Nop {
		return Nop
	}
	return roleReporter{r, role}
}

type roleReporter struct {
	Reporter
	role string
}

func (r roleReporter) Report(e Event) {
	if e.Role == "" {
		e.Role = r.role
	}
	r.Reporter.Report(e)
}

// Version is the release, set when building:
//
//	go build -ldflags "-X coderunner/report.Version=v1.4.0" ./cmd/coderunner
//
// Empty, Release falls back on the build's VCS revision.
var Version string

// Release names this build for the error tracker: "coderunner@" and
// Version, else the VCS revision the binary was built from (vcs.revision
// of its build info, "-dirty" if the tree was modified; absent under
// -buildvcs=false), else the main module's version, else "dev".
func Release() string {
	if Version != "" {
		return "coderunner@" + Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "coderunner@dev"
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	switch {
	case revision != "":
		return "coderunner@" + revision + modified
	case info.Main.Version != "" && info.Main.Version != "(devel)":
		return "coderunner@" + info.Main.Version
	}
	return "coderunner@dev"
}

// maxText bounds the text of an error or panic as sent.
const maxText = 500

// quoted matches a double-quoted (Go %q style, escapes included) or
// back-quoted string: where Go errors put values, which may be a user's.
var quoted = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")

// Scrub returns text fit to leave the process: every string of redact (of
// 4 bytes or more, ignoring surrounding space) and every quoted part cut
// out, and at most maxText bytes long.
func Scrub(text string, redact []string) string {
	for _, r := range redact {
		if r = strings.TrimSpace(r); len(r) >= 4 {
			text = strings.ReplaceAll(text, r, "[redacted]")
		}
	}
	text = quoted.ReplaceAllString(text, `"…"`)
	text = strings.ToValidUTF8(text, "�")
	if len(text) > maxText {
		cut := maxText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}
