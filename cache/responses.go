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
	// Generation is the content generation the body was computed from.
	Generation uint64
}

// Responses keeps whole public responses by request key. An entry computed
// from an older content generation is a miss: any content change through
// this process's Store makes every cached response stale at once, which is
// cheap because content changes are rare and responses are recomputed on
// demand. Entries also expire ttl after they were made, like the Store's.
type Responses struct {
	entries *ristretto.Cache[string, Response]
	ttl     time.Duration
}

// NewResponses returns a response cache of at most maxBytes, each entry
// kept at most ttl.
func NewResponses(maxBytes int64, ttl time.Duration) (*Responses, error) {
	entries, err := newCache[Response](maxBytes)
	if err != nil {
		return nil, err
	}
	return &Responses{entries: entries, ttl: ttl}, nil
}

// Get returns the response stored under key if it is of generation gen.
func (r *Responses) Get(key string, gen uint64) (Response, bool) {
	resp, ok := r.entries.Get(key)
	if !ok || resp.Generation != gen {
		return Response{}, false
	}
	return resp, true
}

// Add stores resp under key.
func (r *Responses) Add(key string, resp Response) {
	r.entries.SetWithTTL(key, resp, int64(len(key)+len(resp.Body)+len(resp.ETag)+len(resp.ContentType)+64), r.ttl)
}

// Wait blocks until queued writes are applied (for tests).
func (r *Responses) Wait() { r.entries.Wait() }
