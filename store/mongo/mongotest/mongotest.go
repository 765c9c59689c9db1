// Package mongotest starts a MongoDB wire-protocol server for tests: FerretDB
// v1 with its SQLite handler, in-process, so no MongoDB has to be installed.
//
// Per test (or per package, from TestMain):
//
//	uri := mongotest.Start(t)                     // stopped by t.Cleanup
//	s, err := mongo.Open(ctx, mongotest.Database(uri, mongotest.NewName(t)))
//
// or
//
//	func TestMain(m *testing.M) {
//		srv, err := mongotest.New("")
//		if err != nil { ... }
//		code := m.Run()
//		srv.Stop()
//		os.Exit(code)
//	}
//
// Disconnect every driver client before the server stops: t.Cleanup runs in
// reverse order, so a client opened after Start is closed first.
//
// FerretDB v1 lacks transactions, change streams, TTL indexes and $lookup,
// and gets $group with more than one accumulator wrong; code tested against
// it must not rely on them. Its SQLite backend would scan a table for every
// lookup by _id: the servers started here have an index it uses
// (idindex.go).
package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is a running in-process FerretDB.
type Server struct {
	uri     string
	cancel  context.CancelFunc
	done    chan struct{}
	tempDir string         // removed by Stop when New created it
	dir     string         // the SQLite files' directory, with a trailing /
	indexes sync.WaitGroup // creating indexes (idindex.go)
}

// New starts FerretDB on a free port of 127.0.0.1 with its SQLite files in
// dir; dir == "" means a new temporary directory that Stop removes. Stop it
// when done.
func New(dir string) (*Server, error) {
	var tempDir string
	if dir == "" {
		d, err := os.MkdirTemp("", "mongotest-")
		if err != nil {
			return nil, fmt.Errorf("mongotest: %w", err)
		}
		dir, tempDir = d, d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mongotest: %w", err)
	}
	sqliteURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
			Level: slog.LevelError,
		})).With("component", "ferretdb"),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		if tempDir != "" {
			os.RemoveAll(tempDir)
		}
		return nil, fmt.Errorf("mongotest: start FerretDB: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, done: make(chan struct{}), tempDir: tempDir, dir: filepath.ToSlash(abs) + "/"}
	indexIDPaths(s.dir, s)
	go func() {
		defer close(s.done)
		_ = f.Run(ctx) // returns nil once ctx is canceled
	}()
	// MongoDBURI blocks until the listener is up.
	s.uri = f.MongoDBURI()
	return s, nil
}

// URI is the server's MongoDB URI, with no database: "mongodb://127.0.0.1:port/".
func (s *Server) URI() string { return s.uri }

// Stop stops the server and waits for it to close its listener and files.
// Disconnect the clients first.
func (s *Server) Stop() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
	s.indexes.Wait()
	idIndexed.Delete(s.dir)
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

// Start starts a server for tb with its files in tb.TempDir() and stops it
// in tb's cleanup. It returns the server's URI (see Server.URI).
func Start(tb testing.TB) string {
	tb.Helper()
	s, err := New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s.URI()
}

// Database returns uri with its database set to name.
func Database(uri, name string) string {
	u, err := url.Parse(uri)
	if err != nil {
		panic(fmt.Sprintf("mongotest: bad URI %q: %v", uri, err))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

var (
	seq      atomic.Int64
	unsafeRe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)
)

// NewName returns a database name that no other call in this process
// returns, derived from tb's name and valid for FerretDB (at most 63 of
// [a-zA-Z0-9_-]).
func NewName(tb testing.TB) string {
	prefix := fmt.Sprintf("t%d_", seq.Add(1))
	name := strings.Trim(unsafeRe.ReplaceAllString(tb.Name(), "_"), "_")
	if max := 63 - len(prefix); len(name) > max {
		name = name[len(name)-max:]
	}
	return prefix + name
}
