// Package usage measures the cost model's inputs (package cost) from what
// the platform did: daily roll-ups of the runs and submissions kept in the
// store (Rollup, Roller), the runner hosts' CPU (Meter, in each worker),
// and the figures over a span of days read back from both (Measure), with
// a recommendation of how many runner vCPUs the measured peak needs
// (Recommend).
package usage

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"coderunner"
	"coderunner/internal/stats"
)

const day = 24 * time.Hour

// Rollup makes the roll-up of the UTC day that starts at dayStart from the
// activity the store holds, in memory bounded whatever the activity: each
// five-minute window's users are a sketch, not a list.
func Rollup(ctx context.Context, store coderunner.UsageStore, dayStart time.Time, now time.Time) (coderunner.UsageDay, error) {
	dayStart = coderunner.DayOf(dayStart)
	windows := int(day / coderunner.UsageWindow)
	windowUsers := make([]stats.Sketch, windows)
	windowJobs := make([]int, windows)
	d := coderunner.UsageDay{Day: dayStart, MadeAt: now.UTC()}
	err := store.Activity(ctx, dayStart, dayStart.Add(day), func(a coderunner.Activity) error {
		if !a.StartedAt.IsZero() {
			d.QueueWait.Add(a.StartedAt.Sub(a.CreatedAt).Milliseconds())
		}
		if strings.HasPrefix(a.Owner, coderunner.CheckOwnerPrefix) {
			d.CheckCPUMs += a.CPUMs
			return nil
		}
		w := min(max(int(a.CreatedAt.Sub(dayStart)/coderunner.UsageWindow), 0), windows-1)
		windowUsers[w].Add(a.Owner)
		windowJobs[w]++
		d.Users.Add(a.Owner)
		if a.Submission {
			d.SubmissionCPU.Add(a.CPUMs)
			d.Tests += int64(a.Tests)
		} else {
			d.RunCPU.Add(a.CPUMs)
		}
		return nil
	})
	if err != nil {
		return coderunner.UsageDay{}, fmt.Errorf("roll up %s: %w", dayStart.Format(time.DateOnly), err)
	}
	d.ActiveUsers = int(math.Round(d.Users.Count()))
	for w := range windows {
		d.PeakUsers = max(d.PeakUsers, int(math.Round(windowUsers[w].Count())))
		d.PeakJobs = max(d.PeakJobs, windowJobs[w])
	}
	return d, nil
}

// Roller keeps the daily roll-ups made: every pass rolls up today (so far)
// and yesterday (for what finished after midnight), and the first pass
// also every day of the last Lookback that has none (the days before the
// roll-ups existed, or while no process made them). Runs must be kept at
// least as long as Lookback plus a day, so call Pass before deleting
// expired runs (see app.maintain): a day whose runs are partly gone would
// roll up too small. Several processes may roll up at once: the same day
// made twice is the same roll-up.
type Roller struct {
	Store    coderunner.UsageStore
	Lookback time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rolled, if not nil, is told of today's roll-up and the month's
	// distinct users after each pass (the Prometheus gauges).
	Rolled func(today coderunner.UsageDay, monthUsers float64)
	caught bool // the first pass caught up on missing days
}

// Pass makes the roll-ups due and returns how many days it rolled up.
func (r *Roller) Pass(ctx context.Context) (int, error) {
	now := time.Now().UTC()
	if r.Now != nil {
		now = r.Now().UTC()
	}
	today := coderunner.DayOf(now)
	due := []time.Time{today.Add(-day), today}
	if !r.caught {
		first := coderunner.DayOf(now.Add(-max(r.Lookback, day)))
		made, err := r.Store.UsageDays(ctx, first, today)
		if err != nil {
			return 0, fmt.Errorf("read roll-ups: %w", err)
		}
		have := map[time.Time]bool{}
		for _, d := range made {
			have[d.Day] = true
		}
		due = due[:0]
		for d := first; !d.After(today); d = d.Add(day) {
			if !have[d] || !d.Before(today.Add(-day)) {
				due = append(due, d)
			}
		}
	}
	var todays coderunner.UsageDay
	for i, d := range due {
		rolled, err := Rollup(ctx, r.Store, d, now)
		if err == nil {
			err = r.Store.SaveUsageDay(ctx, rolled)
		}
		if err != nil {
			return i, fmt.Errorf("roll up %s: %w", d.Format(time.DateOnly), err)
		}
		todays = rolled
	}
	r.caught = true
	if r.Rolled != nil {
		month, err := r.Store.UsageDays(ctx, today.Add(-(MonthDays-1)*day), today.Add(day))
		if err != nil {
			return len(due), fmt.Errorf("read the month's roll-ups: %w", err)
		}
		r.Rolled(todays, monthUsers(month))
	}
	return len(due), nil
}

// MonthDays is how many days make the month whose distinct users are the
// MAU.
const MonthDays = 30

func monthUsers(days []coderunner.UsageDay) float64 {
	var users stats.Sketch
	for _, d := range days {
		users.Merge(d.Users)
	}
	return math.Round(users.Count())
}
