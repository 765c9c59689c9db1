package mongotest_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner/store/mongo/mongotest"
)

func TestStart(t *testing.T) {
	uri := mongotest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) }) // before the server stops
	coll := client.Database(mongotest.NewName(t)).Collection("things")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	var got struct {
		N int `bson:"n"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&got); err != nil || got.N != 1 {
		t.Fatalf("FindOne = %+v, %v; want n=1", got, err)
	}
}

// TestLookupsByIDUseAnIndex checks that FerretDB's SQLite backend finds a
// document by _id from an index, not by scanning its table (idindex.go),
// in a collection created by an insert and in one created by
// createIndexes, again after its database was dropped and made anew, and
// that FerretDB answers as before.
func TestLookupsByIDUseAnIndex(t *testing.T) {
	dir := t.TempDir()
	srv, err := mongotest.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	name := mongotest.NewName(t)
	db := client.Database(name)

	tests := []struct {
		name   string
		create func(coll *mongo.Collection) error
	}{
		{"created by an insert", func(coll *mongo.Collection) error { return nil }},
		{"created by createIndexes", func(coll *mongo.Collection) error {
			_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "n", Value: 1}}})
			return err
		}},
		{"created again after a dropDatabase", func(coll *mongo.Collection) error { return db.Drop(ctx) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coll := db.Collection(fmt.Sprintf("things%d", i))
			if err := tt.create(coll); err != nil {
				t.Fatal(err)
			}
			for id := range 3 {
				doc := bson.D{{Key: "_id", Value: fmt.Sprint(id)}, {Key: "n", Value: id}}
				if _, err := coll.InsertOne(ctx, doc); err != nil {
					t.Fatalf("InsertOne: %v", err)
				}
			}
			var got struct {
				N int `bson:"n"`
			}
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "2"}}).Decode(&got); err != nil || got.N != 2 {
				t.Fatalf("FindOne = %+v, %v; want n=2", got, err)
			}
			if res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "1"}}, bson.D{{Key: "n", Value: 10}}); err != nil || res.MatchedCount != 1 {
				t.Fatalf("ReplaceOne = %+v, %v; want one matched", res, err)
			}
			if res, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "0"}}); err != nil || res.DeletedCount != 1 {
				t.Fatalf("DeleteOne = %+v, %v; want one deleted", res, err)
			}
			if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
				t.Fatalf("CountDocuments = %d, %v; want 2", n, err)
			}

			// FerretDB's lookup of a document by _id, as it sends it to
			// SQLite (internal/backends/sqlite/collection.go).
			file := filepath.Join(dir, name+".sqlite")
			var plan string
			deadline := time.Now().Add(5 * time.Second)
			for {
				plan, err = lookupPlan(file, coll.Name())
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(plan, "USING INDEX") || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(plan, "USING INDEX") {
				t.Errorf("a lookup by _id in %s: %s; want it to use an index", coll.Name(), plan)
			}
		})
	}
}

// lookupPlan is SQLite's plan for FerretDB's lookup by _id in collection.
func lookupPlan(file, collection string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var table string
	err = db.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table)
	if err != nil {
		return "", fmt.Errorf("the table of %s: %w", collection, err)
	}
	rows, err := db.Query(fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table), `"1"`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; "), rows.Err()
}

func TestDatabase(t *testing.T) {
	tests := []struct{ uri, name, want string }{
		{"mongodb://127.0.0.1:27017/", "db1", "mongodb://127.0.0.1:27017/db1"},
		{"mongodb://127.0.0.1:27017", "db1", "mongodb://127.0.0.1:27017/db1"},
		{"mongodb://127.0.0.1:27017/old?w=1", "new", "mongodb://127.0.0.1:27017/new?w=1"},
	}
	for _, tt := range tests {
		if got := mongotest.Database(tt.uri, tt.name); got != tt.want {
			t.Errorf("Database(%q, %q) = %q, want %q", tt.uri, tt.name, got, tt.want)
		}
	}
}

func TestNewName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`)
	seen := map[string]bool{}
	for _, sub := range []string{"short", "with spaces/and:colons", strings.Repeat("long", 40)} {
		t.Run(sub, func(t *testing.T) {
			for range 2 {
				n := mongotest.NewName(t)
				if !valid.MatchString(n) {
					t.Errorf("NewName = %q, not a valid FerretDB database name", n)
				}
				if seen[n] {
					t.Errorf("NewName returned %q twice", n)
				}
				seen[n] = true
			}
		})
	}
}
