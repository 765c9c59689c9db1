// Package stats holds the one summary the benchmarks and the soak test
// share: percentiles of latencies.
package stats

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0–100) of ds by nearest rank,
// or 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
