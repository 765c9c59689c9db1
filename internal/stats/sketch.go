package stats

import (
	"hash/fnv"
	"math"
	"math/bits"
)

// sketchBits is the log2 of a Sketch's registers: 4096 registers (4 KiB)
// estimate any number of distinct names within about 1.6% (one standard
// error), and small numbers (up to a few hundred) almost exactly.
const sketchBits = 12

// Sketch estimates how many distinct names were added to it — a
// HyperLogLog (Flajolet et al., 2007, with linear counting for small
// numbers) — in a fixed 4 KiB whatever the number, and two sketches merge:
// the distinct users of a month are the merge of its days' sketches, with
// no list of users kept anywhere.
//
// The zero Sketch is empty and ready to use; it marshals to JSON as its
// registers in base64 (absent while empty).
type Sketch struct {
	Registers []byte `json:"registers,omitempty"`
}

// hash64 hashes name stably across processes and releases (stored
// sketches are merged with new ones): FNV-1a, then SplitMix64's finaliser
// to spread FNV's weak high bits.
func hash64(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (s *Sketch) init() {
	if len(s.Registers) != 1<<sketchBits {
		s.Registers = make([]byte, 1<<sketchBits)
	}
}

// Add counts name.
func (s *Sketch) Add(name string) {
	s.init()
	x := hash64(name)
	i := x >> (64 - sketchBits)
	rank := byte(bits.LeadingZeros64(x<<sketchBits|1<<(sketchBits-1)) + 1)
	s.Registers[i] = max(s.Registers[i], rank)
}

// Merge adds o's names to s.
func (s *Sketch) Merge(o Sketch) {
	if len(o.Registers) != 1<<sketchBits {
		return // empty (or not written by Add)
	}
	s.init()
	for i, r := range o.Registers {
		s.Registers[i] = max(s.Registers[i], r)
	}
}

// Count estimates how many distinct names were added.
func (s Sketch) Count() float64 {
	if len(s.Registers) != 1<<sketchBits {
		return 0
	}
	m := float64(len(s.Registers))
	sum, zeros := 0.0, 0
	for _, r := range s.Registers {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	estimate := 0.7213 / (1 + 1.079/m) * m * m / sum
	if estimate <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros)) // linear counting
	}
	return estimate
}
