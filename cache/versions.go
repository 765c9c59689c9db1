package cache

import (
	"sync"
	"sync/atomic"
)

// Versions orders content changes against the reads that fill caches. It
// counts changes; each content tag (coderunner.AgeGroupTag, …) remembers
// the count at its last change. A cached value records the count before it
// was read (Now) and the tags it was read from: it is stale once any of
// those tags has changed since (Fresh). So a fill that read old content,
// however late it lands in the cache, is never served after the change
// that made it old: no lock orders fills against changes, and a change
// drops exactly the values that read something it names, in every cache
// that shares the Versions.
//
// It keeps one number per tag ever changed in the process's life: one per
// content object edited, which content editing bounds.
type Versions struct {
	mu      sync.Mutex // orders Change calls
	count   atomic.Uint64
	changed atomic.Pointer[map[string]uint64] // copied on change: changes are rare, reads are not
}

// NewVersions returns Versions with no change yet.
func NewVersions() *Versions {
	v := &Versions{}
	v.changed.Store(&map[string]uint64{})
	return v
}

// Now is the count of changes so far. Take it before reading what a cached
// value is made from.
func (v *Versions) Now() uint64 { return v.count.Load() }

// Change records a change of tags: every value read from any of them
// before it becomes stale. Call it after the change is stored, so that a
// read that starts after it returns reads the changed content.
func (v *Versions) Change(tags []string) {
	if len(tags) == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	n := v.count.Load() + 1
	old := *v.changed.Load()
	changed := make(map[string]uint64, len(old)+len(tags))
	for t, at := range old {
		changed[t] = at
	}
	for _, t := range tags {
		changed[t] = n
	}
	// The tags first: once the count says n, every tag of change n is in.
	v.changed.Store(&changed)
	v.count.Store(n)
}

// Fresh reports whether none of tags has changed since the count was
// since.
func (v *Versions) Fresh(since uint64, tags []string) bool {
	if since >= v.count.Load() {
		return true
	}
	changed := *v.changed.Load()
	for _, t := range tags {
		if changed[t] > since {
			return false
		}
	}
	return true
}
