package memory

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"coderunner"
	"coderunner/broker"
)

// limits is the Limiter's state, laid out as broker/redis keeps it — per
// owner and day, the runs started and the CPU time charged; per owner, the
// active runs and the admissions of the last minute; per throttled key,
// the recent failures — and freed by the sweeper when Redis would expire
// the key. One mutex makes each call one atomic step. Calls that write
// trim what their now has made obsolete, so that an owner's entries stay
// within its quota's numbers.
type limits struct {
	mu       sync.Mutex
	days     map[ownerDay]*dayUsage
	active   map[string]*runSet // by owner
	admitted map[string]*window // by owner: the RunsPerMinute log
	failures map[string]*window // by throttled key
}

func newLimits() limits {
	return limits{
		days:     make(map[ownerDay]*dayUsage),
		active:   make(map[string]*runSet),
		admitted: make(map[string]*window),
		failures: make(map[string]*window),
	}
}

type ownerDay struct {
	owner string
	day   int64 // Unix time of the day's start
}

func dayOf(owner string, now time.Time) ownerDay {
	return ownerDay{owner, coderunner.DayStart(now).Unix()}
}

// expiry is when the sweeper may free an entry. It follows the wall clock,
// as a Redis key's TTL does, not the now of calls; writes renew it.
type expiry struct{ at time.Time }

func (e *expiry) renew(ttl time.Duration)    { e.at = time.Now().Add(ttl) }
func (e *expiry) expired(now time.Time) bool { return !now.Before(e.at) }

type dayUsage struct {
	expiry
	runs int
	cpu  time.Duration
}

// used returns the runs started and the CPU time charged; d may be nil, a
// day without either.
func (d *dayUsage) used() (int, time.Duration) {
	if d == nil {
		return 0, 0
	}
	return d.runs, d.cpu
}

// runSet is an owner's active runs, by run ID: when each was admitted.
// Its methods accept a nil *runSet, an owner without any.
type runSet struct {
	expiry
	runs map[string]time.Time
}

// trim drops the runs admitted at or before cut.
func (s *runSet) trim(cut time.Time) {
	if s != nil {
		maps.DeleteFunc(s.runs, func(_ string, at time.Time) bool { return !at.After(cut) })
	}
}

// count counts the runs admitted after cut.
func (s *runSet) count(cut time.Time) int {
	n := 0
	if s != nil {
		for _, at := range s.runs {
			if at.After(cut) {
				n++
			}
		}
	}
	return n
}

// remove removes runID and reports whether it was there.
func (s *runSet) remove(runID string) bool {
	if s == nil {
		return false
	}
	_, ok := s.runs[runID]
	delete(s.runs, runID)
	return ok
}

func (s *runSet) add(runID string, at time.Time) {
	if s.runs == nil {
		s.runs = make(map[string]time.Time)
	}
	s.runs[runID] = at
}

// window is a sliding-window log: the times of recent events, oldest
// first. Its methods accept a nil *window, a key without events.
type window struct {
	expiry
	times []time.Time
}

// after returns the times later than cut.
func (w *window) after(cut time.Time) []time.Time {
	if w == nil {
		return nil
	}
	return w.times[sort.Search(len(w.times), func(i int) bool { return w.times[i].After(cut) }):]
}

// trim drops the times at or before cut.
func (w *window) trim(cut time.Time) {
	if w != nil {
		w.times = slices.Delete(w.times, 0, len(w.times)-len(w.after(cut)))
	}
}

// add inserts t in order.
func (w *window) add(t time.Time) {
	w.times = slices.Insert(w.times, len(w.times)-len(w.after(t)), t)
}

// keepNewest drops the oldest times beyond n.
func (w *window) keepNewest(n int) {
	w.times = slices.Delete(w.times, 0, max(len(w.times)-max(n, 0), 0))
}

// oldest returns the first of times, or zero if there is none.
func oldest(times []time.Time) time.Time {
	if len(times) == 0 {
		return time.Time{}
	}
	return times[0]
}

// getOrAdd returns m[k], adding it if missing.
func getOrAdd[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	return v
}

// AdmitRun implements coderunner.Limiter.
func (b *Broker) AdmitRun(_ context.Context, key, runID string, q coderunner.Quota, now time.Time) error {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	runs, cpu := l.days[dayOf(key, now)].used()
	if runs >= q.RunsPerDay {
		return broker.ErrRunsPerDay(q, now)
	}
	if cpu >= time.Duration(q.ExecSecondsPerDay)*time.Second {
		return broker.ErrExecPerDay(q, now)
	}
	activeCut := now.Add(-coderunner.MaxActiveRunLife)
	l.active[key].trim(activeCut)
	if l.active[key].count(activeCut) >= q.MaxActiveRuns {
		return broker.ErrActiveRuns(q)
	}
	minuteCut := now.Add(-broker.RunsPerMinuteWindow)
	l.admitted[key].trim(minuteCut)
	if recent := l.admitted[key].after(minuteCut); len(recent) >= q.RunsPerMinute {
		return broker.ErrRunsPerMinute(q, oldest(recent), now)
	}

	day := getOrAdd(l.days, dayOf(key, now))
	day.runs++
	day.renew(broker.DayUsageTTL)
	active := getOrAdd(l.active, key)
	active.add(runID, now)
	active.renew(broker.LogTTL(coderunner.MaxActiveRunLife))
	admitted := getOrAdd(l.admitted, key)
	admitted.add(now)
	admitted.renew(broker.LogTTL(broker.RunsPerMinuteWindow))
	return nil
}

// EndRun implements coderunner.Limiter. A run admitted MaxActiveRunLife or
// more before now no longer counts as active, so it is not charged either.
// CPU time is charged in whole milliseconds, as broker/redis counts it.
func (b *Broker) EndRun(_ context.Context, key, runID string, cpu time.Duration, now time.Time) error {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	active := l.active[key]
	active.trim(now.Add(-coderunner.MaxActiveRunLife))
	if !active.remove(runID) {
		return nil
	}
	day := getOrAdd(l.days, dayOf(key, now))
	day.cpu += cpu.Truncate(time.Millisecond)
	day.renew(broker.DayUsageTTL)
	return nil
}

// Usage implements coderunner.Limiter.
func (b *Broker) Usage(_ context.Context, key string, now time.Time) (coderunner.Usage, error) {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	var u coderunner.Usage
	u.RunsToday, u.ExecToday = l.days[dayOf(key, now)].used()
	u.ActiveRuns = l.active[key].count(now.Add(-coderunner.MaxActiveRunLife))
	return u, nil
}

// Throttle implements coderunner.Limiter.
func (b *Broker) Throttle(_ context.Context, key string, limit int, width time.Duration, now time.Time) error {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if recent := l.failures[key].after(now.Add(-width)); len(recent) >= limit {
		return broker.ErrThrottled(oldest(recent), width, now)
	}
	return nil
}

// Record implements coderunner.Limiter.
func (b *Broker) Record(_ context.Context, key string, limit int, width time.Duration, now time.Time) error {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	w := getOrAdd(l.failures, key)
	w.add(now)
	w.trim(now.Add(-width))
	w.keepNewest(limit)
	w.renew(broker.LogTTL(width))
	return nil
}

// sweep frees the entries whose Redis keys would have expired.
func (l *limits) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dropExpired(l.days, now)
	dropExpired(l.active, now)
	dropExpired(l.admitted, now)
	dropExpired(l.failures, now)
}

func dropExpired[K comparable, V interface{ expired(time.Time) bool }](m map[K]V, now time.Time) {
	maps.DeleteFunc(m, func(_ K, v V) bool { return v.expired(now) })
}
