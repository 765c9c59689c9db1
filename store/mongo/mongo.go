// Package mongo is a coderunner.Store on MongoDB, through the official
// driver. It keeps these collections, each keyed by the domain id:
//
//	ageGroups  {_id: slug, title, description, position}
//	levels     {_id, ageGroup, position, title, description, problemCount}
//	problems   {_id, levelId, position, title, statement, starterCode,
//	            sampleTests: [{input, output, hint}], hiddenTests: [...],
//	            timeLimitMs, memoryMb, referenceSolution,
//	            checker: {kind, tolerance}, stopOnFirstFailure}
//	runs       {_id, owner, language, code, stdin, limits, status, outcome, times}
//	submissions {_id, owner, problemId, code, gradingKey, status, verdict,
//	            passed, total, tests: [{index, sample, verdict, …}], times}
//	gradings   {_id: key, tests: [{input, output, hint}], sampleCount,
//	            checker: {kind, tolerance}, stopOnFirstFailure, timeLimitMs, memoryMb}
//	progress   {_id: owner + "/" + problemId, owner, problemId, attempts,
//	            bestVerdict, bestPassed, total, solvedAt}
//	users      {_id, name, nameKey, role, createdAt, passwordHash,
//	            quota: {runsPerMinute, runsPerDay, execSecondsPerDay, maxActiveRuns,
//	                    submitsPerMinute, submitsPerDay}}
//	sessions   {_id: tokenHash, userId, createdAt, expiresAt}
//	roleQuotas {_id: role, quota: {...}}
//	auditLog   {_id, actorId, action, target, before, after, at}
//	usageDays  {_id: "2006-01-02", day, data: JSON coderunner.UsageDay}
//	runnerUsage {_id: "2006-01-02/" + runner, day, runner, host,
//	            busyCpuSeconds, provisionedVcpuSeconds, vcpus, updatedAt}
//
// The curriculum's documents also carry version and seq, problems draft;
// claims {_id: "<collection>/<id>@<seq>", key, at} are the holds that
// curriculum writes take (holds.go).
//
// It uses only what FerretDB v1 (the test peer) supports: no transactions,
// $lookup, TTL indexes, change streams or multi-accumulator $group. FerretDB
// v1 hands its backend only filters on _id alone ({_id: <string>}); with
// any other filter it reads and decodes every document of the collection,
// so what is done once per run or per test (a conditional update) filters
// on _id alone there (replaceIfStatus).
// FerretDB v1 does not make even one document's update atomic ($inc loses
// increments, a conditional update can match twice), so conditional
// updates cannot settle a race: curriculum writes exclude each other with
// holds, taken by inserting a claim under a unique _id (see holds.go), and
// a level's problemCount is counted under the hold on the level by every
// write that can change it.
// A unique index on users.nameKey decides which of two users racing for a
// name gets it; expired sessions are removed by DeleteExpiredSessions, not
// by a TTL index.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"coderunner"
)

// DefaultDatabase is used when the URI names no database.
const DefaultDatabase = "coderunner"

// Collection names.
const (
	ageGroupsColl   = "ageGroups"
	levelsColl      = "levels"
	problemsColl    = "problems"
	runsColl        = "runs"
	usersColl       = "users"
	sessionsColl    = "sessions"
	roleQuotasColl  = "roleQuotas"
	auditLogColl    = "auditLog"
	submissionsColl = "submissions"
	gradingsColl    = "gradings"
	progressColl    = "progress"
	usageDaysColl   = "usageDays"
	runnerUsageColl = "runnerUsage"
)

// Store is a coderunner.Store on one MongoDB database. It is safe for
// concurrent use.
type Store struct {
	client      *mongo.Client
	db          *mongo.Database
	ageGroups   *mongo.Collection
	levels      *mongo.Collection
	problems    *mongo.Collection
	runs        *mongo.Collection
	users       *mongo.Collection
	sessions    *mongo.Collection
	roleQuotas  *mongo.Collection
	auditLog    *mongo.Collection
	submissions *mongo.Collection
	gradings    *mongo.Collection
	progress    *mongo.Collection
	claims      *mongo.Collection
	usageDays   *mongo.Collection
	runnerUsage *mongo.Collection
	// idFiltersOnly is set on FerretDB v1, which looks documents up in
	// its backend only by a filter on _id alone: conditional updates
	// check the status themselves (see replaceIfStatus).
	idFiltersOnly bool
}

var _ coderunner.Store = (*Store)(nil)

// Open connects to the MongoDB at uri and creates the indexes the store
// needs (idempotently). The database is the URI's path, "coderunner" if it
// has none: mongodb://host:27017/curriculum uses "curriculum".
func Open(ctx context.Context, uri string) (*Store, error) {
	return openWith(ctx, uri, options.Client())
}

// openWith is Open with client options of the caller's (a test's monitor)
// besides the URI's.
func openWith(ctx context.Context, uri string, opts *options.ClientOptions) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("mongo store: parse URI: %w", err)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = DefaultDatabase
	}
	client, err := mongo.Connect(opts.ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("mongo store: connect: %w", err)
	}
	db := client.Database(dbName)
	s := &Store{
		client:      client,
		db:          db,
		ageGroups:   db.Collection(ageGroupsColl),
		levels:      db.Collection(levelsColl),
		problems:    db.Collection(problemsColl),
		runs:        db.Collection(runsColl),
		users:       db.Collection(usersColl),
		sessions:    db.Collection(sessionsColl),
		roleQuotas:  db.Collection(roleQuotasColl),
		auditLog:    db.Collection(auditLogColl),
		submissions: db.Collection(submissionsColl),
		gradings:    db.Collection(gradingsColl),
		progress:    db.Collection(progressColl),
		claims:      db.Collection(claimsColl),
		usageDays:   db.Collection(usageDaysColl),
		runnerUsage: db.Collection(runnerUsageColl),
	}
	if err := s.createIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if s.idFiltersOnly, err = isFerretDBv1(ctx, db); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// isFerretDBv1 reports whether the server is FerretDB before version 2:
// its buildInfo has a ferretdbVersion ("unknown" when embedded, as in the
// tests), and v2, on DocumentDB, filters and updates as MongoDB does.
func isFerretDBv1(ctx context.Context, db *mongo.Database) (bool, error) {
	var info struct {
		FerretDB *string `bson:"ferretdbVersion"`
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("mongo store: buildInfo: %w", err)
	}
	return info.FerretDB != nil && ferretDBMajor(*info.FerretDB) < 2, nil
}

// ferretDBMajor is the major version of a FerretDB version ("v1.24.2"),
// 1 if it has none.
func ferretDBMajor(version string) int {
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err == nil {
		return n
	}
	return 1
}

// createIndexes creates the indexes that back the ordered reads and the
// unique user names. Creating an index that exists with the same name, keys
// and options does nothing.
func (s *Store) createIndexes(ctx context.Context) error {
	indexes := []struct {
		coll   *mongo.Collection
		name   string
		keys   bson.D
		unique bool
	}{
		{s.ageGroups, "position", bson.D{{Key: "position", Value: 1}}, false},
		{s.levels, "ageGroup_position", bson.D{{Key: "ageGroup", Value: 1}, {Key: "position", Value: 1}}, false},
		{s.problems, "levelId_position", bson.D{{Key: "levelId", Value: 1}, {Key: "position", Value: 1}}, false},
		{s.runs, "owner_createdAt", bson.D{{Key: "owner", Value: 1}, {Key: "createdAt", Value: -1}}, false},
		{s.runs, "status_createdAt", bson.D{{Key: "status", Value: 1}, {Key: "createdAt", Value: 1}}, false},
		{s.runs, "createdAt", bson.D{{Key: "createdAt", Value: 1}}, false},
		{s.users, "nameKey", bson.D{{Key: "nameKey", Value: 1}}, true},
		{s.sessions, "expiresAt", bson.D{{Key: "expiresAt", Value: 1}}, false},
		{s.submissions, "owner_createdAt", bson.D{{Key: "owner", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, false},
		{s.submissions, "owner_problemId_createdAt", bson.D{{Key: "owner", Value: 1}, {Key: "problemId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, false},
		{s.submissions, "status_createdAt", bson.D{{Key: "status", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}, false},
		{s.submissions, "createdAt", bson.D{{Key: "createdAt", Value: 1}}, false},
		{s.usageDays, "day", bson.D{{Key: "day", Value: 1}}, false},
		{s.runnerUsage, "day_runner", bson.D{{Key: "day", Value: 1}, {Key: "runner", Value: 1}}, false},
		{s.progress, "owner_problemId", bson.D{{Key: "owner", Value: 1}, {Key: "problemId", Value: 1}}, false},
		{s.claims, "key", bson.D{{Key: "key", Value: 1}}, false},
	}
	for _, ix := range indexes {
		opts := options.Index().SetName(ix.name)
		if ix.unique {
			// Not unique: false otherwise, so that indexes that existing
			// databases have keep exactly the spec they were created with.
			opts.SetUnique(true)
		}
		model := mongo.IndexModel{Keys: ix.keys, Options: opts}
		if _, err := ix.coll.Indexes().CreateOne(ctx, model); err != nil {
			return fmt.Errorf("mongo store: create index %s.%s: %w", ix.coll.Name(), ix.name, err)
		}
	}
	return nil
}

// Ping reports whether the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("mongo store: ping: %w", err)
	}
	return nil
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongo store: disconnect: %w", err)
	}
	return nil
}

// Documents.

// The curriculum's documents carry a version (absent from documents
// stored before versions: read as 1) and seq, the fencing counter of
// curriculum.go's holds (absent: 0).

type ageGroupDoc struct {
	Slug        string `bson:"_id"`
	Title       string `bson:"title"`
	Description string `bson:"description"`
	Position    int    `bson:"position"`
	Version     int64  `bson:"version"`
	Seq         int64  `bson:"seq"`
}

type levelDoc struct {
	ID           string `bson:"_id"`
	AgeGroup     string `bson:"ageGroup"`
	Position     int    `bson:"position"`
	Title        string `bson:"title"`
	Description  string `bson:"description"`
	ProblemCount int    `bson:"problemCount"`
	Version      int64  `bson:"version"`
	Seq          int64  `bson:"seq"`
}

type testCaseDoc struct {
	Input  string `bson:"input"`
	Output string `bson:"output"`
	Hint   string `bson:"hint,omitempty"`
}

// checkerDoc is a coderunner.Checker; the zero one is stored as {}.
type checkerDoc struct {
	Kind      coderunner.CheckerKind `bson:"kind,omitempty"`
	Tolerance float64                `bson:"tolerance,omitempty"`
}

type problemDoc struct {
	ID                string        `bson:"_id"`
	LevelID           string        `bson:"levelId"`
	Position          int           `bson:"position"`
	Title             string        `bson:"title"`
	Statement         string        `bson:"statement"`
	StarterCode       string        `bson:"starterCode"`
	SampleTests       []testCaseDoc `bson:"sampleTests"`
	HiddenTests       []testCaseDoc `bson:"hiddenTests"`
	TimeLimitMs       int           `bson:"timeLimitMs"`
	MemoryMB          int           `bson:"memoryMb"`
	ReferenceSolution string        `bson:"referenceSolution"`
	// Checker and StopOnFirstFailure are absent from problems stored
	// before they were: those read back with the zero values.
	Checker            checkerDoc `bson:"checker"`
	StopOnFirstFailure bool       `bson:"stopOnFirstFailure"`
	Draft              bool       `bson:"draft"`
	Version            int64      `bson:"version"`
	Seq                int64      `bson:"seq"`
}

func (d ageGroupDoc) domain() coderunner.AgeGroup {
	return coderunner.AgeGroup{Slug: d.Slug, Title: d.Title, Description: d.Description, Position: d.Position,
		Version: storedVersion(d.Version)}
}

// storedVersion is the version of a document: 1 if it has none.
func storedVersion(v int64) int64 { return max(v, 1) }

func ageGroupToDoc(g coderunner.AgeGroup) ageGroupDoc {
	return ageGroupDoc{Slug: g.Slug, Title: g.Title, Description: g.Description, Position: g.Position, Version: g.Version}
}

func levelToDoc(l coderunner.Level) levelDoc {
	return levelDoc{ID: l.ID, AgeGroup: l.AgeGroup, Position: l.Position, Title: l.Title, Description: l.Description,
		ProblemCount: l.ProblemCount, Version: l.Version}
}

func (d levelDoc) key() string   { return d.ID }
func (d problemDoc) key() string { return d.ID }

func (d levelDoc) domain() coderunner.Level {
	return coderunner.Level{ID: d.ID, AgeGroup: d.AgeGroup, Position: d.Position, Title: d.Title,
		Description: d.Description, ProblemCount: d.ProblemCount, Version: storedVersion(d.Version)}
}

func (d problemDoc) domain() coderunner.Problem {
	return coderunner.Problem{
		ID:                 d.ID,
		LevelID:            d.LevelID,
		Position:           d.Position,
		Title:              d.Title,
		Statement:          d.Statement,
		StarterCode:        d.StarterCode,
		SampleTests:        testCasesFromDocs(d.SampleTests),
		HiddenTests:        testCasesFromDocs(d.HiddenTests),
		TimeLimitMs:        d.TimeLimitMs,
		MemoryMB:           d.MemoryMB,
		ReferenceSolution:  d.ReferenceSolution,
		Checker:            coderunner.Checker(d.Checker),
		StopOnFirstFailure: d.StopOnFirstFailure,
		Draft:              d.Draft,
		Version:            storedVersion(d.Version),
	}
}

func problemToDoc(p coderunner.Problem) problemDoc {
	return problemDoc{
		ID:                 p.ID,
		LevelID:            p.LevelID,
		Position:           p.Position,
		Title:              p.Title,
		Statement:          p.Statement,
		StarterCode:        p.StarterCode,
		SampleTests:        testCasesToDocs(p.SampleTests),
		HiddenTests:        testCasesToDocs(p.HiddenTests),
		TimeLimitMs:        p.TimeLimitMs,
		MemoryMB:           p.MemoryMB,
		ReferenceSolution:  p.ReferenceSolution,
		Checker:            checkerDoc(p.Checker),
		StopOnFirstFailure: p.StopOnFirstFailure,
		Draft:              p.Draft,
		Version:            p.Version,
	}
}

func testCasesFromDocs(ds []testCaseDoc) []coderunner.TestCase {
	if ds == nil {
		return nil
	}
	out := make([]coderunner.TestCase, len(ds))
	for i, d := range ds {
		out[i] = coderunner.TestCase(d)
	}
	return out
}

func testCasesToDocs(tcs []coderunner.TestCase) []testCaseDoc {
	out := make([]testCaseDoc, len(tcs)) // never nil: stored as an array
	for i, tc := range tcs {
		out[i] = testCaseDoc(tc)
	}
	return out
}

// Reads.

// byPosition sorts by position, then by id so that ties read back stably.
var byPosition = bson.D{{Key: "position", Value: 1}, {Key: "_id", Value: 1}}

// findAll runs a query and decodes every document into T.
func findAll[T any](ctx context.Context, coll *mongo.Collection, filter any, opts *options.FindOptionsBuilder) ([]T, error) {
	if opts == nil {
		opts = options.Find()
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo store: find in %s: %w", coll.Name(), err)
	}
	var docs []T
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo store: read %s: %w", coll.Name(), err)
	}
	return docs, nil
}

// domainDoc is a document that knows its domain value.
type domainDoc[V any] interface {
	domain() V
}

// keyedDoc is a document that knows its _id and its domain value.
type keyedDoc[V any] interface {
	key() string
	domainDoc[V]
}

// domains returns the domain values of docs.
func domains[D domainDoc[V], V any](docs []D) []V {
	if docs == nil {
		return nil
	}
	out := make([]V, len(docs))
	for i, d := range docs {
		out[i] = d.domain()
	}
	return out
}

// findOne reads the document with _id id; notFound makes the error for
// there being none.
func findOne[D any](ctx context.Context, coll *mongo.Collection, id string, notFound func(string) error) (D, error) {
	var d D
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, notFound(id)
	}
	if err != nil {
		return d, fmt.Errorf("mongo store: read %s %q: %w", coll.Name(), id, err)
	}
	return d, nil
}

// findByIDs reads the documents with the given _ids, by _id; missing ids
// are absent.
func findByIDs[D keyedDoc[V], V any](ctx context.Context, coll *mongo.Collection, ids []string) (map[string]V, error) {
	out := map[string]V{}
	if len(ids) == 0 {
		return out, nil
	}
	docs, err := findAll[D](ctx, coll, in("_id", ids), nil)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		out[d.key()] = d.domain()
	}
	return out, nil
}

// in is a {$in: ids} filter on key.
func in(key string, ids []string) bson.D {
	return bson.D{{Key: key, Value: bson.D{{Key: "$in", Value: ids}}}}
}

// AgeGroups returns every age group ordered by position.
func (s *Store) AgeGroups(ctx context.Context) ([]coderunner.AgeGroup, error) {
	docs, err := findAll[ageGroupDoc](ctx, s.ageGroups, bson.D{}, options.Find().SetSort(byPosition))
	return domains(docs), err
}

// LevelsInAgeGroups returns the levels of each age group, ordered by
// position. Age groups without levels are absent.
func (s *Store) LevelsInAgeGroups(ctx context.Context, slugs []string) (map[string][]coderunner.Level, error) {
	out := map[string][]coderunner.Level{}
	if len(slugs) == 0 {
		return out, nil
	}
	docs, err := findAll[levelDoc](ctx, s.levels, in("ageGroup", slugs), options.Find().SetSort(byPosition))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		out[d.AgeGroup] = append(out[d.AgeGroup], d.domain())
	}
	return out, nil
}

// Levels returns the levels with the given ids; missing ids are absent.
func (s *Store) Levels(ctx context.Context, ids []string) (map[string]coderunner.Level, error) {
	return findByIDs[levelDoc, coderunner.Level](ctx, s.levels, ids)
}

// ProblemsInLevels returns the published problems of each level, ordered
// by position. Levels without problems are absent.
func (s *Store) ProblemsInLevels(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	return s.problemsIn(ctx, levelIDs, false)
}

// ProblemsForEditing returns the problems of each level, drafts included.
func (s *Store) ProblemsForEditing(ctx context.Context, levelIDs []string) (map[string][]coderunner.Problem, error) {
	return s.problemsIn(ctx, levelIDs, true)
}

// problemsIn returns the problems of each level; drafts only if drafts.
// Drafts are left out here, not by the query: FerretDB v1 filters on
// anything but _id in Go anyway.
func (s *Store) problemsIn(ctx context.Context, levelIDs []string, drafts bool) (map[string][]coderunner.Problem, error) {
	out := map[string][]coderunner.Problem{}
	if len(levelIDs) == 0 {
		return out, nil
	}
	docs, err := findAll[problemDoc](ctx, s.problems, in("levelId", levelIDs), options.Find().SetSort(byPosition))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if drafts || !d.Draft {
			out[d.LevelID] = append(out[d.LevelID], d.domain())
		}
	}
	return out, nil
}

// Problems returns the published problems with the given ids; missing ids
// and drafts are absent.
func (s *Store) Problems(ctx context.Context, ids []string) (map[string]coderunner.Problem, error) {
	out, err := findByIDs[problemDoc, coderunner.Problem](ctx, s.problems, ids)
	for id, p := range out {
		if p.Draft {
			delete(out, id)
		}
	}
	return out, err
}

// ProblemForEditing returns a problem, draft or not.
func (s *Store) ProblemForEditing(ctx context.Context, id string) (coderunner.Problem, error) {
	d, err := findOne[problemDoc](ctx, s.problems, id, noProblem)
	return d.domain(), err
}

func noProblem(id string) error {
	return coderunner.Errorf(coderunner.NotFound, "problem %q does not exist", id)
}

// Writes. Those of the curriculum are in curriculum.go.

// exists reports whether coll has a document with _id id.
func exists(ctx context.Context, coll *mongo.Collection, id string) (bool, error) {
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	default:
		return false, fmt.Errorf("mongo store: look up %s %q: %w", coll.Name(), id, err)
	}
}

// upsert runs an upsert, once more if it lost a race: two upserts of a new
// id may both try to insert it, and the loser fails with a duplicate-key
// error (MongoDB 4.2+ retries this itself; FerretDB does not). On the
// second try the document exists, so it is updated.
func upsert(do func() error) error {
	err := do()
	if mongo.IsDuplicateKeyError(err) {
		err = do()
	}
	return err
}
