package mongo_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"coderunner"
	"coderunner/store/mongo"
	"coderunner/store/mongo/mongotest"
	"coderunner/store/storetest"
)

// server is the one FerretDB of this test binary.
var server *mongotest.Server

func TestMain(m *testing.M) {
	srv, err := mongotest.New("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = srv
	code := m.Run()
	srv.Stop() // every store's cleanup has disconnected by now
	os.Exit(code)
}

// open opens a store on a database of its own, dropped and disconnected in
// t's cleanup.
func open(t testing.TB) *mongo.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, mongotest.Database(server.URI(), mongotest.NewName(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// TestConformance runs the suite on the store as it talks to FerretDB v1:
// its conditional updates filtered on _id alone, the status checked by the
// store.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) coderunner.Store { return open(t) })
}

// TestConformanceMongoDBFilters runs the suite's tests of the conditional
// updates on the store as it talks to MongoDB: the status in the filter.
func TestConformanceMongoDBFilters(t *testing.T) {
	storetest.RunOnly(t, func(t *testing.T) coderunner.Store {
		s := open(t)
		mongo.UseConditionalFilters(s)
		return s
	}, "RunNotFound", "UpdateRun", "SubmissionRoundTrip", "UpdateSubmission", "UnfinishedSubmissions")
}

func TestOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	name := mongotest.NewName(t)
	tests := []struct {
		name    string
		uri     string
		wantErr bool
	}{
		{"named database", mongotest.Database(server.URI(), name), false},
		{"same database again (indexes exist)", mongotest.Database(server.URI(), name), false},
		{"default database", server.URI(), false},
		{"not a MongoDB URI", "http://example.com/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mongo.Open(ctx, tt.uri)
			if tt.wantErr {
				if err == nil {
					s.Close()
					t.Fatalf("Open(%q) succeeded, want an error", tt.uri)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.uri, err)
			}
			defer s.Close()
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

// BenchmarkRunsAsTheyGrow: see storetest.BenchRunsAsTheyGrow. The large
// runs are 320 KiB each.
func BenchmarkRunsAsTheyGrow(b *testing.B) {
	storetest.BenchRunsAsTheyGrow(b, func(b *testing.B) coderunner.Store { return open(b) }, 100, 500)
}
