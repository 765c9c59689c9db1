package mongotest

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// FerretDB v1's SQLite backend looks a document up by _id — a find,
// update or delete whose filter is {_id: <string>} alone — with
// `WHERE _ferretdb_sjson->'$._id' = ?`, but indexes _id on
// `_ferretdb_sjson->"_id"`. SQLite uses an index on an expression only for
// that expression as written, so every lookup by _id scans the table,
// parsing each document's JSON: with a few hundred large runs stored, tens
// of milliseconds a lookup, growing with the collection, where MongoDB
// answers from its _id index (store/mongo's BenchmarkRunsAsTheyGrow).
//
// So that the tests measure the store's costs, not this, the servers
// mongotest starts give each collection's table a second index, on the
// expression the lookups use: as FerretDB creates a table's _id index
// (seen by an authorizer on each of its connections), the index is created
// beside it, on a connection of its own. FerretDB does not know of it (it
// is not listed, and goes with its table), and the lookups use it.

// idPathIndex is the index's name for a table.
func idPathIndex(table string) string { return table + "__id_path" }

var (
	hookOnce sync.Once
	// idIndexed holds the directories of the running servers: only their
	// databases get the index.
	idIndexed sync.Map // directory (as in the DSN, with a trailing /) → *Server
)

// indexIDPaths makes the databases FerretDB keeps in dir get the index,
// until s stops.
func indexIDPaths(dir string, s *Server) {
	hookOnce.Do(func() { sqlite.RegisterConnectionHook(hookConnection) })
	idIndexed.Store(dir, s)
}

// hookConnection watches a connection to a database of a server's for the
// creation of _id indexes.
func hookConnection(conn sqlite.ExecQuerierContext, dsn string) error {
	s := serverOf(dsn)
	if s == nil {
		return nil
	}
	r, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		return nil // a driver without authorizers: lookups scan, as before
	}
	return r.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, index, table, _, _ string) sqlite.AuthorizerReturnCode {
		if action == sqlite.AuthCreateIndex && index == table+"__id_" { // FerretDB's name: <table>_ + "_id_"
			s.indexes.Go(func() { createIDPathIndex(dsn, table) })
		}
		return sqlite.AuthorizerOK
	})
}

// serverOf is the server whose database dsn opens, or nil.
func serverOf(dsn string) *Server {
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	var found *Server
	idIndexed.Range(func(dir, s any) bool {
		if strings.HasPrefix(path, dir.(string)) {
			found = s.(*Server)
		}
		return found == nil
	})
	return found
}

// createIDPathIndex creates table's index once FerretDB's statement that
// the authorizer saw has committed: until then the table may not exist
// for another connection, so it tries again for a while.
func createIDPathIndex(dsn, table string) {
	q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, idPathIndex(table), table)
	for try := 0; try < 100; try++ {
		if err := execOnce(dsn, q); err == nil || !strings.Contains(err.Error(), "no such table") {
			return // done, or not to be done: lookups scan, as before
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// execOnce runs q on a connection of its own, closed at once: FerretDB
// deletes a database's file when the database is dropped.
func execOnce(dsn, q string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(q)
	return err
}
