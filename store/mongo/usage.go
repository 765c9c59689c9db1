package mongo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"coderunner"
)

// activityBatch is how many runs or submissions Activity reads at a time.
const activityBatch = 500

// activityDoc is what Activity reads of a run (CPUMs) or a submission
// (Tests).
type activityDoc struct {
	Owner      string     `bson:"owner"`
	CreatedAt  *time.Time `bson:"createdAt"`
	StartedAt  *time.Time `bson:"startedAt"`
	FinishedAt *time.Time `bson:"finishedAt"`
	CPUMs      int64      `bson:"cpuMs"`
	Tests      []struct {
		CPUMs int64 `bson:"cpuMs"`
	} `bson:"tests"`
}

// activityFields projects a run or submission to its activityDoc: the
// code, outputs and test data stay on the server.
var activityFields = bson.D{
	{Key: "_id", Value: 0}, {Key: "owner", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "startedAt", Value: 1},
	{Key: "finishedAt", Value: 1}, {Key: "cpuMs", Value: 1}, {Key: "tests.cpuMs", Value: 1},
}

// Activity calls fn for every finished run and submission created in
// [from, to), read through a cursor by the createdAt indexes (FerretDB v1
// scans instead: it filters in Go), a batch at a time. A document without
// createdAt matches no range.
func (s *Store) Activity(ctx context.Context, from, to time.Time, fn func(coderunner.Activity) error) error {
	err := activity(ctx, s.runs, false, []coderunner.RunStatus{coderunner.StatusQueued, coderunner.StatusRunning}, from, to, fn)
	if err != nil {
		return err
	}
	return activity(ctx, s.submissions, true, []coderunner.SubmissionStatus{coderunner.SubmissionQueued, coderunner.SubmissionRunning}, from, to, fn)
}

// activity calls fn for every document of coll created in [from, to)
// whose status is not one of unfinished: submissions or runs.
func activity[S ~string](ctx context.Context, coll *mongo.Collection, submissions bool, unfinished []S, from, to time.Time,
	fn func(coderunner.Activity) error) error {
	filter := bson.D{
		{Key: "createdAt", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
		{Key: "status", Value: bson.D{{Key: "$nin", Value: unfinished}}},
	}
	cur, err := coll.Find(ctx, filter, options.Find().SetProjection(activityFields).SetBatchSize(activityBatch))
	if err != nil {
		return fmt.Errorf("mongo store: find activity in %s: %w", coll.Name(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		var d activityDoc
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("mongo store: read activity in %s: %w", coll.Name(), err)
		}
		a := coderunner.Activity{
			Submission: submissions, Owner: d.Owner, CPUMs: d.CPUMs, Tests: len(d.Tests),
			CreatedAt: timeOf(d.CreatedAt), StartedAt: timeOf(d.StartedAt), FinishedAt: timeOf(d.FinishedAt),
		}
		for _, t := range d.Tests {
			a.CPUMs += t.CPUMs
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("mongo store: read activity in %s: %w", coll.Name(), err)
	}
	return nil
}

// dayID is the _id of a day's document: its UTC date.
func dayID(day time.Time) string { return day.UTC().Format(time.DateOnly) }

// dayRange filters documents by their day field to [from, to).
func dayRange(from, to time.Time) bson.D {
	return bson.D{{Key: "day", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}}}
}

// save inserts or replaces doc, whose _id is id, in coll.
func save(ctx context.Context, coll *mongo.Collection, id string, doc any) error {
	err := upsert(func() error {
		_, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc, options.Replace().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("mongo store: save %s %q: %w", coll.Name(), id, err)
	}
	return nil
}

// usageDayDoc is a coderunner.UsageDay in usageDays: its JSON (the
// histograms' and the sketch's own form) under its UTC date.
type usageDayDoc struct {
	ID   string    `bson:"_id"`
	Day  time.Time `bson:"day"`
	Data string    `bson:"data"`
}

// SaveUsageDay inserts or replaces the roll-up of d's UTC day.
func (s *Store) SaveUsageDay(ctx context.Context, d coderunner.UsageDay) error {
	d.Day, d.MadeAt = coderunner.DayOf(d.Day), d.MadeAt.UTC()
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("mongo store: save usage of %s: %w", dayID(d.Day), err)
	}
	return save(ctx, s.usageDays, dayID(d.Day), usageDayDoc{ID: dayID(d.Day), Day: d.Day, Data: string(data)})
}

// UsageDays returns the roll-ups of the days in [from, to), oldest first.
func (s *Store) UsageDays(ctx context.Context, from, to time.Time) ([]coderunner.UsageDay, error) {
	docs, err := findAll[usageDayDoc](ctx, s.usageDays, dayRange(from, to), options.Find().SetSort(bson.D{{Key: "day", Value: 1}}))
	if err != nil || len(docs) == 0 {
		return nil, err
	}
	days := make([]coderunner.UsageDay, len(docs))
	for i, d := range docs {
		if err := json.Unmarshal([]byte(d.Data), &days[i]); err != nil {
			return nil, fmt.Errorf("mongo store: decode usage of %s: %w", d.ID, err)
		}
	}
	return days, nil
}

// runnerUsageDoc is a coderunner.RunnerUsage in runnerUsage, under its UTC
// date and runner.
type runnerUsageDoc struct {
	ID                     string     `bson:"_id"`
	Day                    time.Time  `bson:"day"`
	Runner                 string     `bson:"runner"`
	Host                   string     `bson:"host"`
	BusyCPUSeconds         float64    `bson:"busyCpuSeconds"`
	ProvisionedVCPUSeconds float64    `bson:"provisionedVcpuSeconds"`
	VCPUs                  int        `bson:"vcpus"`
	UpdatedAt              *time.Time `bson:"updatedAt,omitempty"`
}

func (d runnerUsageDoc) domain() coderunner.RunnerUsage {
	return coderunner.RunnerUsage{
		Day: d.Day.UTC(), Runner: d.Runner, Host: d.Host, BusyCPUSeconds: d.BusyCPUSeconds,
		ProvisionedVCPUSeconds: d.ProvisionedVCPUSeconds, VCPUs: d.VCPUs, UpdatedAt: timeOf(d.UpdatedAt),
	}
}

// SaveRunnerUsage inserts or replaces u, by its UTC day and runner.
func (s *Store) SaveRunnerUsage(ctx context.Context, u coderunner.RunnerUsage) error {
	day := coderunner.DayOf(u.Day)
	id := dayID(day) + "/" + u.Runner
	return save(ctx, s.runnerUsage, id, runnerUsageDoc{
		ID: id, Day: day, Runner: u.Runner, Host: u.Host, BusyCPUSeconds: u.BusyCPUSeconds,
		ProvisionedVCPUSeconds: u.ProvisionedVCPUSeconds, VCPUs: u.VCPUs, UpdatedAt: timePtr(u.UpdatedAt),
	})
}

// RunnerUsage returns the runner figures of the days in [from, to), by
// day, then runner.
func (s *Store) RunnerUsage(ctx context.Context, from, to time.Time) ([]coderunner.RunnerUsage, error) {
	sort := bson.D{{Key: "day", Value: 1}, {Key: "runner", Value: 1}}
	docs, err := findAll[runnerUsageDoc](ctx, s.runnerUsage, dayRange(from, to), options.Find().SetSort(sort))
	return domains(docs), err
}
