package mongotest_test

import (
	"context"
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
