package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"
	"time"
)

// BenchmarkLevelsGET measures, side by side in one run, one persisted
// levels(ageGroup) query sent as an APQ GET over loopback HTTP to
//
//	cached:   the full stack with its caches (the production path),
//	uncached: the full stack with caching off, so SQLite answers every time,
//	bare:     a net/http handler writing a fixed body of the same size,
//
// interleaving the three request by request so that the shared, noisy
// machine slows them alike. It reports each one's median latency and the
// ratios the README quotes.
//
//	go test ./server -run '^$' -bench LevelsGET -benchtime 3000x
func BenchmarkLevelsGET(b *testing.B) {
	q := `query Levels($g: String!) { levels(ageGroup: $g) { id title description position problemCount problems { id title position } } }`
	params := url.Values{
		"extensions": {`{"persistedQuery":{"version":1,"sha256Hash":"` + sha256Hex(q) + `"}}`},
		"variables":  {`{"g":"10-12"}`},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) []byte {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		return body
	}

	var urls [3]string // cached, uncached, bare
	var body []byte
	for i, opt := range []options{{}, {noCache: true}} {
		ts := newServer(b, opt)
		ts.post(b, map[string]any{"query": q, "variables": map[string]any{"g": "10-12"},
			"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha256Hex(q)}}})
		urls[i] = ts.URL + "/graphql?" + params.Encode()
		body = get(urls[i])
	}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer bare.Close()
	urls[2] = bare.URL + "/graphql?" + params.Encode()
	for _, u := range urls {
		if got := get(u); !bytes.Equal(got, body) {
			b.Fatalf("%s answered %d bytes, want the same %d bytes", u, len(got), len(body))
		}
	}

	var samples [3][]time.Duration
	b.ResetTimer()
	for range b.N {
		for i, u := range urls {
			start := time.Now()
			get(u)
			samples[i] = append(samples[i], time.Since(start))
		}
	}
	b.StopTimer()
	cached, uncached, bareP50 := median(samples[0]), median(samples[1]), median(samples[2])
	b.ReportMetric(float64(cached.Microseconds()), "cached-µs")
	b.ReportMetric(float64(uncached.Microseconds()), "uncached-µs")
	b.ReportMetric(float64(bareP50.Microseconds()), "bare-µs")
	b.ReportMetric(float64(uncached)/float64(cached), "cached-speedup-x")
	b.ReportMetric(float64(bareP50)/float64(cached), "cached-vs-bare-x")
	b.ReportMetric(float64(len(body)), "body-bytes")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
