package report

import (
	"errors"
	"fmt"
	"time"

	"github.com/getsentry/sentry-go"
)

// Options configure the Sentry reporter.
type Options struct {
	// DSN is Sentry's (SENTRY_DSN); empty means Nop.
	DSN string
	// Release names the build (Release() if empty).
	Release string
	// Environment is "production" or "development".
	Environment string
}

// CheckDSN reports whether dsn is one the Sentry client accepts.
func CheckDSN(dsn string) error {
	if _, err := sentry.NewDsn(dsn); err != nil {
		return fmt.Errorf("not a Sentry DSN (https://PUBLIC_KEY@HOST/PROJECT_ID): %w", err)
	}
	return nil
}

// New returns the Reporter for o: Nop without a DSN, else one that sends
// to Sentry. The client adds no personal data (SendDefaultPII off), keeps
// no breadcrumbs, and strips from every event, whatever added them, the
// request (URL, body, headers, cookies), the user, breadcrumbs, extra
// contexts, stack frames' variables and any tag besides ours.
func New(o Options) (Reporter, error) {
	if o.DSN == "" {
		return Nop, nil
	}
	if o.Release == "" {
		o.Release = Release()
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:                  o.DSN,
		Release:              o.Release,
		Environment:          o.Environment,
		SendDefaultPII:       false,
		MaxBreadcrumbs:       -1,
		DisableClientReports: true,
		DisableMetrics:       true,
		BeforeSend:           scrubEvent,
		BeforeBreadcrumb:     func(*sentry.Breadcrumb, *sentry.BreadcrumbHint) *sentry.Breadcrumb { return nil },
		// Not ContextifyFrames, which would send source lines around
		// each frame; nothing else that adds data.
		Integrations: func(all []sentry.Integration) []sentry.Integration {
			var kept []sentry.Integration
			for _, in := range all {
				switch in.Name() {
				case "Environment", "Modules", "IgnoreErrors", "IgnoreTransactions":
					kept = append(kept, in)
				}
			}
			return kept
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sentry: %w", err)
	}
	return &sentryReporter{client: client}, nil
}

type sentryReporter struct {
	client *sentry.Client
}

// tags are the only tags an event may carry.
var tags = map[string]bool{"kind": true, "role": true, "operation": true, "path": true, "run_id": true, "submission_id": true}

func (r *sentryReporter) Report(e Event) {
	r.client.CaptureEvent(build(e), &sentry.EventHint{}, nil)
}

func (r *sentryReporter) Flush(timeout time.Duration) bool { return r.client.Flush(timeout) }

// build makes the Sentry event of e from e's fields alone.
func build(e Event) *sentry.Event {
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	set := func(key, value string) {
		if value != "" {
			ev.Tags[key] = Scrub(value, nil)
		}
	}
	set("kind", string(e.Kind))
	set("role", e.Role)
	set("operation", e.Operation)
	set("path", e.Path)
	set("run_id", e.RunID)
	set("submission_id", e.SubmissionID)
	if e.Operation != "" {
		ev.Transaction = ev.Tags["operation"]
	}
	var text, typ string
	switch {
	case e.Panic != nil:
		ev.Level = sentry.LevelFatal
		typ, text = "panic", fmt.Sprint(e.Panic)
		if err, ok := e.Panic.(error); ok {
			typ = "panic: " + errorType(err)
		}
	case e.Err != nil:
		typ, text = errorType(e.Err), e.Err.Error()
	default:
		ev.Message = e.Message
		return ev
	}
	ev.Message = string(e.Kind) + ": " + Scrub(text, e.Redact)
	handled := e.Panic == nil
	ev.Exception = []sentry.Exception{{
		Type:       typ,
		Value:      Scrub(text, e.Redact),
		Stacktrace: stacktrace(),
		Mechanism:  &sentry.Mechanism{Type: "coderunner." + string(e.Kind), Handled: &handled},
	}}
	return ev
}

// stacktrace is the caller's stack, without this package's frames.
func stacktrace() *sentry.Stacktrace {
	st := sentry.NewStacktrace()
	if st == nil {
		return nil
	}
	frames := st.Frames[:0]
	for _, f := range st.Frames {
		if f.Module != "coderunner/report" {
			frames = append(frames, f)
		}
	}
	st.Frames = frames
	return st
}

// errorType names the innermost error of err's chain by its Go type.
func errorType(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}

// scrubEvent is the client's BeforeSend: the last word on what leaves.
func scrubEvent(ev *sentry.Event, _ *sentry.EventHint) *sentry.Event {
	ev.Request = nil
	ev.User = sentry.User{}
	ev.Breadcrumbs = nil
	ev.Attachments = nil
	for name := range ev.Contexts {
		switch name {
		case "device", "os", "runtime":
		default:
			delete(ev.Contexts, name)
		}
	}
	for key := range ev.Tags {
		if !tags[key] {
			delete(ev.Tags, key)
		}
	}
	for i := range ev.Exception {
		if st := ev.Exception[i].Stacktrace; st != nil {
			for j := range st.Frames {
				f := &st.Frames[j]
				f.Vars, f.PreContext, f.ContextLine, f.PostContext = nil, nil, "", nil
			}
		}
	}
	ev.Threads = nil
	return ev
}
