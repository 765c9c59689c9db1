package cache

import (
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Response is a whole GraphQL response body kept for a public GET.
type Response struct {
	Body        []byte
	ETag        string
	ContentType string
	// Tags name the content the body was computed from
	// (coderunner.ProblemTag, …): a change to any of them makes it stale.
	Tags []string
	// At is the Versions count taken before the body was computed (Now).
	At uint64
}

// Responses keeps whole public responses by request key. A response is
// stale, a miss, once a content change names something it was computed
// from (see Versions): a change to one problem drops the responses that
// read it, and no other. Entries also expire ttl after they were made,
// like the Store's.
type Responses struct {
	entries  *ristretto.Cache[string, Response]
	ttl      time.Duration
	versions *Versions
}

// NewResponses returns a response cache of at most maxBytes, each entry
// kept at most ttl, checked against versions: the Store's (Store.Versions),
// so that what invalidates the Store invalidates the responses built from
// it.
func NewResponses(maxBytes int64, ttl time.Duration, versions *Versions) (*Responses, error) {
	entries, err := newCache[Response](maxBytes)
	if err != nil {
		return nil, err
	}
	return &Responses{entries: entries, ttl: ttl, versions: versions}, nil
}

// Now is the count to give Add's Response.At: take it before the response
// is computed.
func (r *Responses) Now() uint64 { return r.versions.Now() }

// Get returns the response stored under key unless a change since made it
// stale.
func (r *Responses) Get(key string) (Response, bool) {
	resp, ok := r.entries.Get(key)
	if !ok {
		return Response{}, false
	}
	if !r.versions.Fresh(resp.At, resp.Tags) {
		r.entries.Del(key)
		return Response{}, false
	}
	return resp, true
}

// Add stores resp under key.
func (r *Responses) Add(key string, resp Response) {
	cost := len(key) + len(resp.Body) + len(resp.ETag) + len(resp.ContentType) + 64
	for _, t := range resp.Tags {
		cost += len(t) + 16
	}
	r.entries.SetWithTTL(key, resp, int64(cost), r.ttl)
}

// Wait blocks until queued writes are applied (for tests).
func (r *Responses) Wait() { r.entries.Wait() }
