package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner"
)

// runDoc is a run in the runs collection. Times are BSON dates
// (millisecond precision); the zero time is stored as absent.
type runDoc struct {
	ID          string     `bson:"_id"`
	Owner       string     `bson:"owner"`
	Language    string     `bson:"language"`
	Code        string     `bson:"code"`
	Stdin       string     `bson:"stdin"`
	Interactive bool       `bson:"interactive"`
	TimeLimitMs int        `bson:"timeLimitMs"`
	MemoryMB    int        `bson:"memoryMb"`
	Status      string     `bson:"status"`
	ExitCode    int        `bson:"exitCode"`
	Signal      int        `bson:"signal"`
	Stdout      string     `bson:"stdout"`
	Stderr      string     `bson:"stderr"`
	Truncated   bool       `bson:"truncated"`
	WallMs      int64      `bson:"wallMs"`
	CPUMs       int64      `bson:"cpuMs"`
	MemoryKB    int64      `bson:"memoryKb"`
	CreatedAt   *time.Time `bson:"createdAt,omitempty"`
	StartedAt   *time.Time `bson:"startedAt,omitempty"`
	FinishedAt  *time.Time `bson:"finishedAt,omitempty"`
}

func runToDoc(r coderunner.Run) runDoc {
	return runDoc{
		ID: r.ID, Owner: r.Owner, Language: r.Language, Code: r.Code, Stdin: r.Stdin, Interactive: r.Interactive,
		TimeLimitMs: r.TimeLimitMs, MemoryMB: r.MemoryMB, Status: string(r.Status),
		ExitCode: r.ExitCode, Signal: r.Signal, Stdout: r.Stdout, Stderr: r.Stderr, Truncated: r.Truncated,
		WallMs: r.WallMs, CPUMs: r.CPUMs, MemoryKB: r.MemoryKB,
		CreatedAt: timePtr(r.CreatedAt), StartedAt: timePtr(r.StartedAt), FinishedAt: timePtr(r.FinishedAt),
	}
}

func (d runDoc) domain() coderunner.Run {
	r := coderunner.Run{
		ID: d.ID, Owner: d.Owner, Language: d.Language, Code: d.Code, Stdin: d.Stdin, Interactive: d.Interactive,
		TimeLimitMs: d.TimeLimitMs, MemoryMB: d.MemoryMB,
		CreatedAt: timeOf(d.CreatedAt), StartedAt: timeOf(d.StartedAt), FinishedAt: timeOf(d.FinishedAt),
	}
	r.RunResult = coderunner.RunResult{
		Status: coderunner.RunStatus(d.Status), ExitCode: d.ExitCode, Signal: d.Signal,
		Stdout: d.Stdout, Stderr: d.Stderr, Truncated: d.Truncated,
		WallMs: d.WallMs, CPUMs: d.CPUMs, MemoryKB: d.MemoryKB,
	}
	return r
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// CreateRun stores a new run.
func (s *Store) CreateRun(ctx context.Context, r coderunner.Run) error {
	return create(ctx, s.runs, r.ID, runToDoc(r))
}

// Run returns the run with the given id.
func (s *Store) Run(ctx context.Context, id string) (coderunner.Run, error) {
	d, err := findOne[runDoc](ctx, s.runs, id, coderunner.ErrNoRun)
	return d.domain(), err
}

// UnfinishedRuns returns runs still QUEUED or RUNNING created before t,
// after the cursor (status_createdAt indexes it).
func (s *Store) UnfinishedRuns(ctx context.Context, t time.Time, after coderunner.RunCursor, limit int) ([]coderunner.Run, error) {
	return unfinished[runDoc](ctx, s.runs, []coderunner.RunStatus{coderunner.StatusQueued, coderunner.StatusRunning},
		t, after.CreatedAt, after.ID, limit)
}

// DeleteFinishedRuns deletes up to limit finished runs created before t,
// oldest first: it reads their ids by the createdAt index, then deletes
// those still finished (a run never becomes unfinished again, but the
// filter costs nothing).
func (s *Store) DeleteFinishedRuns(ctx context.Context, t time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	filter := bson.D{
		{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: t}}},
		{Key: "status", Value: bson.D{{Key: "$nin", Value: []coderunner.RunStatus{coderunner.StatusQueued, coderunner.StatusRunning}}}},
	}
	opts := options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}}).SetLimit(int64(limit)).
		SetProjection(bson.D{{Key: "_id", Value: 1}})
	docs, err := findAll[struct {
		ID string `bson:"_id"`
	}](ctx, s.runs, filter, opts)
	if err != nil || len(docs) == 0 {
		return 0, err
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	res, err := s.runs.DeleteMany(ctx, append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...))
	if err != nil {
		return 0, fmt.Errorf("mongo store: delete finished runs: %w", err)
	}
	return int(res.DeletedCount), nil
}

// unfinished returns up to limit documents of coll whose status is one of
// statuses, created before t, oldest first (by createdAt, then _id), after
// the one created at afterCreated with afterID (from the start when both
// are zero): a keyset page, so that a page costs the same wherever it
// starts.
func unfinished[D domainDoc[V], V any, S ~string](ctx context.Context, coll *mongo.Collection, statuses []S,
	t, afterCreated time.Time, afterID string, limit int) ([]V, error) {
	if limit <= 0 {
		return nil, nil // a limit of 0 would be none at all to MongoDB
	}
	filter := bson.D{
		{Key: "status", Value: bson.D{{Key: "$in", Value: statuses}}},
		{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: t}}},
	}
	if !afterCreated.IsZero() || afterID != "" {
		filter = append(filter, afterCursor(afterCreated, afterID, "$gt"))
	}
	sort := bson.D{{Key: "createdAt", Value: 1}, {Key: "_id", Value: 1}}
	docs, err := findAll[D](ctx, coll, filter, options.Find().SetSort(sort).SetLimit(int64(limit)))
	return domains(docs), err
}

// UpdateRun replaces a run whose status is one of from.
func (s *Store) UpdateRun(ctx context.Context, r coderunner.Run, from ...coderunner.RunStatus) (bool, error) {
	return replaceIfStatus(ctx, s, s.runs, r.ID, coderunner.UpdatableFrom(from), runToDoc(r))
}

// afterCursor is the $or that keeps the documents after (createdAt, id) in
// an order by createdAt, then _id: op is "$gt" when both ascend, "$lt" when
// both descend. A zero createdAt is a document stored without one.
func afterCursor(createdAt time.Time, id, op string) bson.E {
	var sameTime any = createdAt
	if createdAt.IsZero() {
		sameTime = nil // matches an absent createdAt
	}
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "createdAt", Value: bson.D{{Key: op, Value: createdAt}}}},
		bson.D{{Key: "createdAt", Value: sameTime}, {Key: "_id", Value: bson.D{{Key: op, Value: id}}}},
	}}
}

// replaceIfStatus replaces the document of coll with _id id by doc if its
// status is one of from, and reports whether it did; with from empty it
// replaces nothing.
//
// On MongoDB the filter on status makes the check and the write one atomic
// operation, which the _id index answers. FerretDB v1 is given a filter on
// _id alone instead, after reading the status by _id and checking it here:
// any other filter makes FerretDB v1 read and decode every document of the
// collection in Go (it hands its backend only {_id: <string>}), which cost
// hundreds of milliseconds per update once the runs collection held a few
// dozen large runs (BenchmarkRunsAsTheyGrow). Atomicity is not lost by
// this: FerretDB v1 carries out a filtered update as a read and then a
// write by _id anyway, with the same race between them (see the package
// comment); the window is one round trip wider.
func replaceIfStatus[S ~string](ctx context.Context, s *Store, coll *mongo.Collection, id string, from []S, doc any) (bool, error) {
	if len(from) == 0 {
		return false, nil
	}
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "status", Value: bson.D{{Key: "$in", Value: from}}},
	}
	if s.idFiltersOnly {
		var stored struct {
			Status S `bson:"status"`
		}
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "status", Value: 1}})).Decode(&stored)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("mongo store: read %s %q: %w", coll.Name(), id, err)
		}
		if !slices.Contains(from, stored.Status) {
			return false, nil
		}
		filter = bson.D{{Key: "_id", Value: id}}
	}
	res, err := coll.ReplaceOne(ctx, filter, doc)
	if err != nil {
		return false, fmt.Errorf("mongo store: update %s %q: %w", coll.Name(), id, err)
	}
	return res.MatchedCount == 1, nil
}

// create inserts doc, whose _id is id, into coll.
func create(ctx context.Context, coll *mongo.Collection, id string, doc any) error {
	if _, err := coll.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("mongo store: create %s %q: %w", coll.Name(), id, err)
	}
	return nil
}
