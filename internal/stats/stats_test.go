package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHistogramQuantiles compares the histogram's quantiles with exact
// ones over skewed data, through a JSON round trip and a merge of halves.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var values []int64
	var a, b Histogram
	for i := range 20000 {
		v := int64(rng.ExpFloat64() * 1200) // program times, ms
		if i%50 == 0 {
			v = 0
		}
		values = append(values, v)
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var h Histogram
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	h.Merge(b)
	slices.Sort(values)
	var sum int64
	for _, v := range values {
		sum += v
	}
	if h.Count != int64(len(values)) || h.Sum != sum {
		t.Fatalf("count, sum = %d, %d; want %d, %d", h.Count, h.Sum, len(values), sum)
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 1} {
		exact := float64(values[int(math.Ceil(q*float64(len(values))))-1])
		if got := h.Quantile(q); math.Abs(got-exact) > 0.011*exact+0.5 {
			t.Errorf("quantile %v = %v; exact %v", q, got, exact)
		}
	}
	if len(h.Buckets) > 600 {
		t.Errorf("%d buckets for values up to %d: want about 50 per factor of ten", len(h.Buckets), values[len(values)-1])
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("an empty histogram's quantile and mean are not 0")
	}
}

// TestSketchCount checks the estimate at several sizes, a merge of
// overlapping sets, and a JSON round trip.
func TestSketchCount(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 1000, 10000, 100000} {
		var s Sketch
		for i := range n {
			s.Add(fmt.Sprintf("user-%d", i))
			s.Add(fmt.Sprintf("user-%d", i)) // twice: counted once
		}
		tolerance := 0.05 * float64(n)
		if n <= 1000 {
			tolerance = 0.01*float64(n) + 0.5
		}
		if got := s.Count(); math.Abs(got-float64(n)) > tolerance {
			t.Errorf("%d names: count %.1f", n, got)
		}
	}
	// Thirty days of 1000 users each, 500 of them every day: 15 500.
	var month Sketch
	for day := range 30 {
		var d Sketch
		for i := range 1000 {
			if i < 500 {
				d.Add(fmt.Sprintf("regular-%d", i))
			} else {
				d.Add(fmt.Sprintf("day-%d-user-%d", day, i))
			}
		}
		data, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Sketch
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		month.Merge(back)
	}
	if got := month.Count(); math.Abs(got-15500) > 0.05*15500 {
		t.Errorf("merged month: count %.0f; want 15500 within 5%%", got)
	}
}
