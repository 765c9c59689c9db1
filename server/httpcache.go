package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"coderunner"
	"coderunner/accounts"
	"coderunner/cache"
	"coderunner/loaders"
)

const (
	publicCacheControl = "public, max-age=60, stale-while-revalidate=300"
	noStore            = "no-store"
)

// httpFront wraps the GraphQL handler for plain HTTP requests (WebSocket
// and SSE pass straight through). It
//   - caps the request body and answers 413 with a coded error past the cap;
//   - buffers the response, so that it can decide the caching headers once
//     gqlgen has said whether the operation was public and error-free;
//   - gives every error that gqlgen's transports wrote themselves (bad JSON,
//     a mutation over GET) an extensions.code;
//   - answers public GETs from a response cache, with an ETag and 304s,
//     and tags each with the content it was computed from (Surrogate-Key,
//     Cache-Tag), so that a CDN can purge exactly the responses a change
//     reaches.
type httpFront struct {
	next         http.Handler
	maxBodyBytes int64
	responses    *cache.Responses // nil: no response cache
}

func (h *httpFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tooLarge := "request body is larger than the limit of " + strconv.FormatInt(h.maxBodyBytes, 10) + " bytes"
	if isSubscription(r) {
		// gqlgen's SSE transport reads the body whole, and answers a
		// failed read with 200 and an uncoded error: read it here, capped.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBodyBytes))
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				writeError(w, http.StatusRequestEntityTooLarge, coderunner.BadUserInput, tooLarge)
			} else {
				writeError(w, http.StatusBadRequest, coderunner.BadUserInput, "could not read the request body: "+err.Error())
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.next.ServeHTTP(w, r)
		return
	}
	var key string
	var at uint64
	if r.Method == http.MethodGet && h.responses != nil {
		key = r.Header.Get("Accept") + "\n" + r.URL.RawQuery
		if resp, ok := h.responses.Get(key); ok {
			writePublic(w, r, resp)
			return
		}
		// Before the reads: a change from now on makes them stale.
		at = h.responses.Now()
	}

	if r.ContentLength > h.maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, coderunner.BadUserInput, tooLarge)
		return
	}
	body := &cappedBody{r: r.Body, remaining: h.maxBodyBytes}
	r.Body = body
	p := &policy{}
	rec := &recorder{header: http.Header{}, status: http.StatusOK, body: &bytes.Buffer{}}
	ctx := accounts.WithCookieWriter(withPolicy(r.Context(), p), func(c *http.Cookie) { rec.header.Add("Set-Cookie", c.String()) })
	reads := &loaders.Reads{}
	if r.Method == http.MethodGet {
		ctx = loaders.WithReads(ctx, reads)
	}
	h.next.ServeHTTP(rec, r.WithContext(ctx))

	if body.exceeded {
		writeError(w, http.StatusRequestEntityTooLarge, coderunner.BadUserInput, tooLarge)
		return
	}
	if rec.status != http.StatusOK {
		rec.body = withErrorCodes(rec.body)
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if r.Method == http.MethodGet && p.public && rec.status == http.StatusOK {
		contentType := rec.header.Get("Content-Type")
		resp := cache.Response{
			Body:        rec.body.Bytes(),
			ETag:        strongETag(contentType, rec.body.Bytes()),
			ContentType: contentType,
			Tags:        reads.Tags(),
			At:          at,
		}
		if h.responses != nil {
			h.responses.Add(key, resp)
		}
		writePublic(w, r, resp)
		return
	}
	w.Header().Set("Cache-Control", noStore)
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
}

// writePublic writes a shareable response, or 304 if the client has it.
// The Content-Type follows the request's Accept (application/json or
// application/graphql-response+json), so shared caches must key on it too.
func writePublic(w http.ResponseWriter, r *http.Request, resp cache.Response) {
	h := w.Header()
	h.Set("Cache-Control", publicCacheControl)
	h.Add("Vary", "Accept")
	h.Set("ETag", resp.ETag)
	setSurrogateKeys(h, resp.Tags)
	if etagMatches(r.Header.Get("If-None-Match"), resp.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", resp.ContentType)
	w.Write(resp.Body)
}

// maxSurrogateKeys bounds the length of the tag headers: CDNs refuse or
// truncate longer ones (Fastly: 16 KiB per header; Cloudflare: 16 KiB of
// Cache-Tag in all).
const maxSurrogateKeys = 8 << 10

// setSurrogateKeys lists the content a public response was computed from,
// as Fastly's Surrogate-Key (space-separated) and Cloudflare's Cache-Tag
// (comma-separated), so that a purge of a change's tags (Purger) drops
// exactly the copies it reaches. A response that read more than the
// headers can list (most of the curriculum at once) is tagged WideTag
// alone, which every purge names.
func setSurrogateKeys(h http.Header, tags []string) {
	if len(tags) == 0 {
		return
	}
	keys := strings.Join(tags, " ")
	if len(keys) > maxSurrogateKeys {
		tags, keys = []string{WideTag}, WideTag
	}
	h.Set("Surrogate-Key", keys)
	h.Set("Cache-Tag", strings.Join(tags, ","))
}

// WideTag tags the public responses that read too much content to list it
// in their headers; every purge includes it.
const WideTag = "wide"

// strongETag tags a representation: the same body sent as another
// Content-Type is another representation, with another tag.
func strongETag(contentType string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(contentType + "\n"))
	h.Write(body)
	sum := h.Sum(nil)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// etagMatches implements If-None-Match's comparison: a list of tags or "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status int, code coderunner.Code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", noStore)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody(code, message))
}

// withErrorCodes adds extensions.code BAD_USER_INPUT to errors that lack
// one. Only gqlgen's transports write such errors, and only with a non-200
// status, for requests they could not decode.
func withErrorCodes(body *bytes.Buffer) *bytes.Buffer {
	var resp struct {
		Data   json.RawMessage `json:"data,omitempty"`
		Errors gqlerror.List   `json:"errors"`
	}
	if err := json.Unmarshal(body.Bytes(), &resp); err != nil || len(resp.Errors) == 0 {
		return body
	}
	for _, e := range resp.Errors {
		if _, ok := e.Extensions["code"]; !ok {
			setCode(e, coderunner.BadUserInput)
		}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return bytes.NewBuffer(out)
}

// recorder buffers a response.
type recorder struct {
	header http.Header
	status int
	body   *bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }
func (rec *recorder) WriteHeader(status int) {
	rec.status = status
}
func (rec *recorder) Write(b []byte) (int, error) { return rec.body.Write(b) }

// cappedBody reads at most remaining bytes and remembers if there were more.
type cappedBody struct {
	r         io.ReadCloser
	remaining int64
	exceeded  bool
}

var errBodyTooLarge = errors.New("request body too large")

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.remaining < 0 {
		b.exceeded = true
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.r.Read(p)
	b.remaining -= int64(n)
	if b.remaining < 0 {
		b.exceeded = true
		return n, errBodyTooLarge
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.r.Close() }
