package memory

import (
	"context"
	"crypto/rand"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"coderunner"
	"coderunner/broker"
)

// limits is the Limiter's state, laid out as broker/redis keeps it — per
// owner and day, the runs and submissions admitted and the CPU time
// charged; per owner, the active runs and submissions, and for each kind
// the admissions of the last minute; per throttled key,
// the attempts Take counted, each with its token — and freed by the
// sweeper when Redis would expire the key. One mutex makes each call one
// atomic step. Calls that write trim what their now has made obsolete, so
// that an owner's entries stay within its quota's numbers and a throttled
// key's within Take's limit.
type limits struct {
	mu       sync.Mutex
	days     map[ownerDay]*dayUsage
	active   map[string]*runSet   // by owner
	admitted map[ownerLog]*window // the RunsPerMinute and SubmitsPerMinute logs
	attempts map[string]*window   // by throttled key: Take's log
}

func newLimits() limits {
	return limits{
		days:     make(map[ownerDay]*dayUsage),
		active:   make(map[string]*runSet),
		admitted: make(map[ownerLog]*window),
		attempts: make(map[string]*window),
	}
}

type ownerDay struct {
	owner string
	day   int64 // Unix time of the day's start
}

// ownerLog names an owner's log of one kind's admissions in the last
// minute: its Log is a broker.Kind's.
type ownerLog struct{ owner, log string }

func dayOf(owner string, now time.Time) ownerDay {
	return ownerDay{owner, coderunner.DayStart(now).Unix()}
}

// expiry is when the sweeper may free an entry. It follows the wall clock,
// as a Redis key's TTL does, not the now of calls; writes renew it.
type expiry struct{ at time.Time }

func (e *expiry) renew(ttl time.Duration)    { e.at = time.Now().Add(ttl) }
func (e *expiry) expired(now time.Time) bool { return !now.Before(e.at) }

// dayUsage is an owner's day: the admissions of each kind and the CPU
// time charged. Its methods but admit accept a nil *dayUsage, a day
// without either.
type dayUsage struct {
	expiry
	admitted map[string]int // by broker.Kind's Counter
	cpu      time.Duration
}

// count returns the admissions of the kind with the given Counter.
func (d *dayUsage) count(counter string) int {
	if d == nil {
		return 0
	}
	return d.admitted[counter]
}

// spent returns the CPU time charged.
func (d *dayUsage) spent() time.Duration {
	if d == nil {
		return 0
	}
	return d.cpu
}

func (d *dayUsage) admit(counter string) {
	if d.admitted == nil {
		d.admitted = make(map[string]int)
	}
	d.admitted[counter]++
}

// runSet is an owner's active runs and submissions, by ID: when each was
// admitted.
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

// window is a sliding-window log: recent events, oldest first. Its
// methods accept a nil *window, a key without events.
type window struct {
	expiry
	events []event
}

// event is an entry of a window: when it happened and, for Take's
// attempts, the token that names it (admissions have none).
type event struct {
	at    time.Time
	token string
}

// after returns the events later than cut.
func (w *window) after(cut time.Time) []event {
	if w == nil {
		return nil
	}
	return w.events[sort.Search(len(w.events), func(i int) bool { return w.events[i].at.After(cut) }):]
}

// trim drops the events at or before cut.
func (w *window) trim(cut time.Time) {
	if w != nil {
		w.events = slices.Delete(w.events, 0, len(w.events)-len(w.after(cut)))
	}
}

// add inserts an event in order.
func (w *window) add(at time.Time, token string) {
	w.events = slices.Insert(w.events, len(w.events)-len(w.after(at)), event{at, token})
}

// keepNewest drops the oldest events beyond n.
func (w *window) keepNewest(n int) {
	if w != nil {
		w.events = slices.Delete(w.events, 0, max(len(w.events)-max(n, 0), 0))
	}
}

// remove removes the event named token, if it is there.
func (w *window) remove(token string) {
	if w != nil {
		w.events = slices.DeleteFunc(w.events, func(e event) bool { return e.token == token })
	}
}

// oldest returns the time of the first of events, or zero if there is
// none.
func oldest(events []event) time.Time {
	if len(events) == 0 {
		return time.Time{}
	}
	return events[0].at
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
	return b.limits.admit(broker.Runs, key, runID, q, now)
}

// AdmitSubmission implements coderunner.Limiter.
func (b *Broker) AdmitSubmission(_ context.Context, key, submissionID string, q coderunner.Quota, now time.Time) error {
	return b.limits.admit(broker.Submissions, key, submissionID, q, now)
}

// admit counts id, of kind k, against owner's quota, or refuses it and
// counts nothing: the checks of AdmitRun, with k's own day's and minute's
// limits and the active runs and CPU time shared by every kind.
func (l *limits) admit(k broker.Kind, owner, id string, q coderunner.Quota, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	perDay, perMinute := k.Limits(q)
	today := l.days[dayOf(owner, now)]
	if today.count(k.Counter) >= perDay {
		return k.ErrPerDay(q, now)
	}
	if today.spent() >= time.Duration(q.ExecSecondsPerDay)*time.Second {
		return broker.ErrExecPerDay(q, now)
	}
	activeCut := now.Add(-coderunner.MaxActiveRunLife)
	l.active[owner].trim(activeCut)
	if l.active[owner].count(activeCut) >= q.MaxActiveRuns {
		return broker.ErrActiveRuns(q)
	}
	log := ownerLog{owner, k.Log}
	minuteCut := now.Add(-broker.PerMinuteWindow)
	l.admitted[log].trim(minuteCut)
	if recent := l.admitted[log].after(minuteCut); len(recent) >= perMinute {
		return k.ErrPerMinute(q, oldest(recent), now)
	}

	day := getOrAdd(l.days, dayOf(owner, now))
	day.admit(k.Counter)
	day.renew(broker.DayUsageTTL)
	active := getOrAdd(l.active, owner)
	active.add(id, now)
	active.renew(broker.LogTTL(coderunner.MaxActiveRunLife))
	admitted := getOrAdd(l.admitted, log)
	admitted.add(now, "")
	admitted.renew(broker.LogTTL(broker.PerMinuteWindow))
	return nil
}

// EndRun implements coderunner.Limiter, for runs and submissions alike. One
// admitted MaxActiveRunLife or more before now no longer counts as active,
// so it is not charged either.
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
	today := l.days[dayOf(key, now)]
	return coderunner.Usage{
		RunsToday:    today.count(broker.Runs.Counter),
		SubmitsToday: today.count(broker.Submissions.Counter),
		ExecToday:    today.spent(),
		ActiveRuns:   l.active[key].count(now.Add(-coderunner.MaxActiveRunLife)),
	}, nil
}

// Take implements coderunner.Limiter. Like broker/redis, it keeps the
// newest limit attempts only (should the limit have been lowered), so
// that the log never holds more and the oldest left is the one to wait
// for.
func (b *Broker) Take(_ context.Context, key string, limit int, width time.Duration, now time.Time) (string, error) {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := now.Add(-width)
	w := l.attempts[key]
	w.trim(cut)
	w.keepNewest(limit)
	if recent := w.after(cut); len(recent) >= limit {
		return "", broker.ErrThrottled(oldest(recent), width, now)
	}
	w = getOrAdd(l.attempts, key)
	token := rand.Text()
	w.add(now, token)
	w.renew(broker.LogTTL(width))
	return token, nil
}

// Forget implements coderunner.Limiter. As Redis deletes a sorted set with
// its last member, the log goes with its last attempt.
func (b *Broker) Forget(_ context.Context, key, token string) error {
	l := &b.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.attempts[key]; w != nil {
		w.remove(token)
		if len(w.events) == 0 {
			delete(l.attempts, key)
		}
	}
	return nil
}

// sweep frees the entries whose Redis keys would have expired.
func (l *limits) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dropExpired(l.days, now)
	dropExpired(l.active, now)
	dropExpired(l.admitted, now)
	dropExpired(l.attempts, now)
}

func dropExpired[K comparable, V interface{ expired(time.Time) bool }](m map[K]V, now time.Time) {
	maps.DeleteFunc(m, func(_ K, v V) bool { return v.expired(now) })
}
