package stats

import (
	"math"
	"slices"
	"strconv"
)

// growth is the ratio of one Histogram bucket's upper bound to its lower
// one: a value read back from a bucket (its geometric middle) is within 1%
// of every value counted in it.
const growth = 1.02

// Histogram counts non-negative measurements (milliseconds, say) in
// logarithmic buckets, so that its size grows with the range of the values
// (about 50 buckets per factor of ten), never with their number, and two
// histograms merge by adding counts: a day's histogram summarises any
// number of runs, and a month's is the sum of its days'. Count and Sum are
// exact; quantiles are within 1%.
//
// The zero Histogram is empty and ready to use. It marshals to JSON as
// {"count", "sum", "buckets": {"index": count}}.
type Histogram struct {
	Count int64 `json:"count"`
	Sum   int64 `json:"sum"`
	// Buckets counts values by bucket: values below 1 in bucket 0, and
	// value v ≥ 1 in bucket 1 + ⌊log_growth v⌋. Keys are decimal strings
	// (JSON object keys).
	Buckets map[string]int64 `json:"buckets,omitempty"`
}

func bucketOf(v int64) int {
	if v < 1 {
		return 0
	}
	return 1 + int(math.Floor(math.Log(float64(v))/math.Log(growth)))
}

// middle is the value a bucket stands for: 0 for bucket 0, else the
// geometric middle of [growth^(i-1), growth^i).
func middle(i int) float64 {
	if i == 0 {
		return 0
	}
	return math.Pow(growth, float64(i)-0.5)
}

// Add counts v; negative values count as 0.
func (h *Histogram) Add(v int64) {
	v = max(v, 0)
	if h.Buckets == nil {
		h.Buckets = map[string]int64{}
	}
	h.Buckets[strconv.Itoa(bucketOf(v))]++
	h.Count++
	h.Sum += v
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	if len(o.Buckets) > 0 && h.Buckets == nil {
		h.Buckets = map[string]int64{}
	}
	for k, n := range o.Buckets {
		h.Buckets[k] += n
	}
	h.Count += o.Count
	h.Sum += o.Sum
}

// Mean is Sum / Count, or 0 for none.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return float64(h.Sum) / float64(h.Count)
}

// Quantile returns the q-th quantile (0–1) by nearest rank, within 1% of
// the exact one, or 0 for none.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	type bucket struct {
		index int
		count int64
	}
	buckets := make([]bucket, 0, len(h.Buckets))
	for k, n := range h.Buckets {
		i, err := strconv.Atoi(k)
		if err != nil || n <= 0 {
			continue // not written by Add
		}
		buckets = append(buckets, bucket{i, n})
	}
	slices.SortFunc(buckets, func(a, b bucket) int { return a.index - b.index })
	rank := int64(math.Ceil(q * float64(h.Count)))
	rank = min(max(rank, 1), h.Count)
	var seen int64
	for _, b := range buckets {
		seen += b.count
		if seen >= rank {
			return middle(b.index)
		}
	}
	return middle(buckets[len(buckets)-1].index)
}
