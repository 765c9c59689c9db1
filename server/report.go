package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"coderunner"
	"coderunner/report"
)

// reportEvent is the Event of kind for what went wrong in ctx: the
// operation's name (or, for an anonymous one, its type and first field),
// the field path by field names, and the id of the run or submission the
// field reads. Nothing else of the request goes in: not its variables or
// other arguments, headers, caller or text.
func reportEvent(ctx context.Context, kind report.Kind) report.Event {
	e := report.Event{Kind: kind, Role: "api"}
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		e.Operation = oc.OperationName
		if e.Operation == "" && oc.Operation != nil && oc.Operation.Name != "" {
			e.Operation = oc.Operation.Name
		}
		if e.Operation == "" && oc.Operation != nil {
			e.Operation = string(oc.Operation.Operation)
			if fields := graphql.CollectFields(oc, oc.Operation.SelectionSet, nil); len(fields) > 0 {
				e.Operation += " " + fields[0].Name
			}
		}
	}
	var path []string
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		switch {
		case fc.Index != nil:
			path = append(path, strconv.Itoa(*fc.Index))
		case fc.Field.Field != nil:
			path = append(path, fc.Field.Name)
		}
		idsOf(&e, fc)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	e.Path = strings.Join(path, ".")
	return e
}

// rootIDs are the root fields that name a run or a submission, and the
// argument that does.
var rootIDs = map[string]struct{ arg, kind string }{
	"run":              {"id", "run"},
	"cancelRun":        {"id", "run"},
	"sendInput":        {"runId", "run"},
	"runEvents":        {"runId", "run"},
	"submission":       {"id", "submission"},
	"submissionEvents": {"submissionId", "submission"},
}

// idsOf takes into e the id of the run or submission fc resolved, or, for
// a root field, names in its arguments; the innermost wins.
func idsOf(e *report.Event, fc *FieldContext) {
	switch v := fc.Result.(type) {
	case *coderunner.Run:
		if v != nil && e.RunID == "" {
			e.RunID = v.ID
		}
	case *coderunner.Submission:
		if v != nil && e.SubmissionID == "" {
			e.SubmissionID = v.ID
		}
	}
	if fc.Field.Field == nil || fc.Object != "Query" && fc.Object != "Mutation" && fc.Object != "Subscription" {
		return
	}
	at, ok := rootIDs[fc.Field.Name]
	if !ok {
		return
	}
	id, _ := fc.Args[at.arg].(string)
	switch {
	case at.kind == "run" && e.RunID == "":
		e.RunID = id
	case at.kind == "submission" && e.SubmissionID == "":
		e.SubmissionID = id
	}
}

// FieldContext is gqlgen's, named here for idsOf.
type FieldContext = graphql.FieldContext

// recoverHTTP reports a panic of next and panics again, so that net/http
// does what it always does (log it, drop the connection). What is
// reported of the request is its method and path: never its query,
// headers or body.
func recoverHTTP(rep report.Reporter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler {
					rep.Report(report.Event{Kind: report.Panic, Role: "api", Operation: r.Method + " " + r.URL.Path, Panic: p})
				}
				panic(p)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
