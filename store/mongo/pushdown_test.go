package mongo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"coderunner"
	"coderunner/store/mongo"
	"coderunner/store/mongo/mongotest"
)

// TestPerRunWritesFilterByIDAlone checks that what a run and a graded test
// cost the store — reading them, the conditional updates of their status —
// reaches FerretDB v1 as filters on _id alone: with any other filter
// FerretDB v1 reads and decodes every document of the collection, so that
// each update cost more the more runs were stored (BenchmarkRunsAsTheyGrow:
// 5 ms with none, 0.7 s with 100 runs of 320 KiB, 4 s with 500).
func TestPerRunWritesFilterByIDAlone(t *testing.T) {
	var (
		mu       sync.Mutex
		commands []bson.Raw
	)
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		defer mu.Unlock()
		commands = append(commands, append(bson.Raw(nil), e.Command...))
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := mongo.OpenMonitored(ctx, mongotest.Database(server.URI(), mongotest.NewName(t)), monitor)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !mongo.FiltersByIDOnly(s) {
		t.Fatal("the store did not take the test's FerretDB for FerretDB v1")
	}

	run := coderunner.Run{ID: "run-1", Owner: "user-1", Language: "python", Code: "print(1)", CreatedAt: time.Now()}
	run.Status = coderunner.StatusQueued
	sub := coderunner.Submission{ID: "sub-1", Owner: "user-1", ProblemID: "p", Code: "print(1)",
		Status: coderunner.SubmissionQueued, CreatedAt: time.Now()}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	with := func(r coderunner.Run, status coderunner.RunStatus) coderunner.Run { r.Status = status; return r }
	withSub := func(s coderunner.Submission, status coderunner.SubmissionStatus) coderunner.Submission {
		s.Status = status
		return s
	}
	steps := []struct {
		name   string
		do     func() (bool, error)
		wantOK bool
	}{
		{"Run", func() (bool, error) { _, err := s.Run(ctx, run.ID); return true, err }, true},
		{"UpdateRun: start", func() (bool, error) { return s.UpdateRun(ctx, with(run, coderunner.StatusRunning)) }, true},
		{"UpdateRun: cancel as of QUEUED", func() (bool, error) {
			return s.UpdateRun(ctx, with(run, coderunner.StatusCancelled), coderunner.StatusQueued)
		}, false},
		{"UpdateRun: finish", func() (bool, error) { return s.UpdateRun(ctx, with(run, coderunner.StatusCompleted)) }, true},
		{"UpdateRun: finish again", func() (bool, error) { return s.UpdateRun(ctx, with(run, coderunner.StatusCompleted)) }, false},
		{"UpdateRun: a run that does not exist", func() (bool, error) {
			return s.UpdateRun(ctx, coderunner.Run{ID: "no-such-run"})
		}, false},
		{"Submission", func() (bool, error) { _, err := s.Submission(ctx, sub.ID); return true, err }, true},
		{"UpdateSubmission: start", func() (bool, error) {
			return s.UpdateSubmission(ctx, withSub(sub, coderunner.SubmissionRunning))
		}, true},
		{"UpdateSubmission: a test graded", func() (bool, error) {
			return s.UpdateSubmission(ctx, withSub(sub, coderunner.SubmissionRunning), coderunner.SubmissionRunning)
		}, true},
	}
	for _, st := range steps {
		mu.Lock()
		commands = nil
		mu.Unlock()
		ok, err := st.do()
		if err != nil || ok != st.wantOK {
			t.Fatalf("%s = %v, %v; want %v, nil", st.name, ok, err, st.wantOK)
		}
		mu.Lock()
		for _, cmd := range commands {
			for _, f := range filters(cmd) {
				if !idAlone(f) {
					t.Errorf("%s sent %s with the filter %s; want {_id: <string>} alone", st.name, commandName(cmd), f)
				}
			}
		}
		mu.Unlock()
	}
}

// filters returns the filters of a command that reads or writes by one:
// find's filter, update's and delete's q, findAndModify's and count's
// query. An aggregate's is its pipeline: taken as a filter FerretDB does
// not push down.
func filters(cmd bson.Raw) []bson.Raw {
	doc := func(key string) bson.Raw {
		d, _ := cmd.Lookup(key).DocumentOK()
		return d
	}
	switch commandName(cmd) {
	case "find":
		return []bson.Raw{doc("filter")}
	case "findAndModify", "count":
		return []bson.Raw{doc("query")}
	case "aggregate":
		return []bson.Raw{doc("pipeline")}
	case "update", "delete":
		key := "updates"
		if commandName(cmd) == "delete" {
			key = "deletes"
		}
		arr, _ := cmd.Lookup(key).ArrayOK()
		values, _ := arr.Values()
		var out []bson.Raw
		for _, v := range values {
			q, _ := v.Document().Lookup("q").DocumentOK()
			out = append(out, q)
		}
		return out
	}
	return nil
}

// idAlone reports whether filter is {_id: <string>}.
func idAlone(filter bson.Raw) bool {
	elems, err := filter.Elements()
	return err == nil && len(elems) == 1 && elems[0].Key() == "_id" && elems[0].Value().Type == bson.TypeString
}

// commandName is the command's name: its first key.
func commandName(cmd bson.Raw) string {
	elems, err := cmd.Elements()
	if err != nil || len(elems) == 0 {
		return fmt.Sprintf("%q", cmd)
	}
	return elems[0].Key()
}

func TestFerretDBMajor(t *testing.T) {
	tests := []struct {
		version string
		want    int
	}{
		{"v1.24.2", 1},
		{"1.24.2", 1},
		{"unknown", 1}, // embedded, as in the tests
		{"", 1},
		{"v2.1.0", 2},
		{"2.0.0-rc.2", 2},
	}
	for _, tt := range tests {
		if got := mongo.FerretDBMajor(tt.version); got != tt.want {
			t.Errorf("ferretDBMajor(%q) = %d, want %d", tt.version, got, tt.want)
		}
	}
}
