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
			s.indexLater(dsn, table)
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

// waiting holds, by database, the tables whose index is yet to be made.
var waiting = struct {
	sync.Mutex
	tables map[string][]string // DSN → tables
}{tables: map[string][]string{}}

// indexLater has table's index made soon, with those of the tables
// created about the same time in its database: a store creates a dozen
// collections at once, and each index changes the schema, which every
// connection to the database then reads again.
func (s *Server) indexLater(dsn, table string) {
	waiting.Lock()
	defer waiting.Unlock()
	if len(waiting.tables[dsn]) == 0 {
		s.indexes.Go(func() { indexWaiting(dsn) })
	}
	waiting.tables[dsn] = append(waiting.tables[dsn], table)
}

// indexWaiting makes the indexes of the tables waiting in a database, in
// one transaction, until none is left. It tries again for a while if that
// fails: FerretDB's statement that the authorizer saw may not have
// committed yet (its table does not exist yet for another connection), or
// another writer held the database. Past that it gives up on those tables:
// their lookups scan, as before.
func indexWaiting(dsn string) {
	for tries := 1; ; tries++ {
		time.Sleep(10 * time.Millisecond)
		waiting.Lock()
		tables := waiting.tables[dsn]
		waiting.Unlock()
		if err := createIDPathIndexes(dsn, tables); err != nil && tries < 100 {
			continue // these (and any added since) again
		}
		if !doneWith(dsn, len(tables)) {
			return
		}
		tries = 0 // those added since
	}
}

// doneWith takes the first n tables waiting in a database off the list and
// reports whether more are waiting.
func doneWith(dsn string, n int) (more bool) {
	waiting.Lock()
	defer waiting.Unlock()
	waiting.tables[dsn] = waiting.tables[dsn][n:]
	if len(waiting.tables[dsn]) == 0 {
		delete(waiting.tables, dsn)
		return false
	}
	return true
}

// createIDPathIndexes makes the tables' indexes in one transaction, on a
// connection of its own, closed at once: FerretDB deletes a database's
// file when the database is dropped, and mode=rw keeps SQLite from making
// it again.
func createIDPathIndexes(dsn string, tables []string) error {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := sql.Open("sqlite", dsn+sep+"mode=rw")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, idPathIndex(table), table)
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return tx.Commit()
}
