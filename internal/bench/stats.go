package bench

import (
	"math"
	"math/bits"
	"sort"
	"time"
)

// histSubBits sets the histogram precision: 2^(histSubBits-1) buckets per octave,
// so a reported percentile is within 1/64 (1.6 %) of the true sample.
const histSubBits = 7

const (
	histSub     = 1 << histSubBits
	histHalf    = histSub >> 1
	histBuckets = histSub + (64-histSubBits)*histHalf
)

// Histogram records durations in nanoseconds in log-linear buckets. A fixed-size
// array keeps recording allocation-free, so it can sit in the receive path, and two
// histograms merge by addition. The zero value is ready; it is not safe for
// concurrent use (each client goroutine owns one and they are merged at the end).
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	mant := v >> uint(shift) // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + int(mant-histHalf)
}

// histBounds returns the inclusive value range of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	j := i - histSub
	shift := j/histHalf + 1
	mant := uint64(j%histHalf + histHalf)
	lo = mant << uint(shift)
	hi = (mant+1)<<uint(shift) - 1
	return lo, hi
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of samples recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Mean is the exact mean of the samples, zero when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Max is the largest sample, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest sample, exact.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest sample
// with at least ceil(q*n) samples at or below it, reported as its bucket's midpoint
// clamped to the exact min and max. Zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := nearestRank(q, int(h.n))
	var cum uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		cum += c
		if cum >= uint64(rank) {
			lo, hi := histBounds(i)
			v := int64(lo + (hi-lo)/2)
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// nearestRank returns the 1-based rank of the q-quantile among n samples.
func nearestRank(q float64, n int) int {
	if q <= 0 {
		return 1
	}
	if q >= 1 {
		return n
	}
	r := int(math.Ceil(q * float64(n)))
	if r < 1 {
		r = 1
	}
	if r > n {
		r = n
	}
	return r
}

// exactQuantile is the nearest-rank quantile of raw samples; it is the reference
// the histogram is tested against and is used where sample counts are small.
func exactQuantile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[nearestRank(q, len(s))-1]
}

// ratio returns a/b, or NaN when b is zero, so tables show "n/a" instead of Inf.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// lossPct is the share of sent packets that never came back, in percent.
func lossPct(sent, recv uint64) float64 {
	if sent == 0 || recv >= sent {
		return 0
	}
	return 100 * float64(sent-recv) / float64(sent)
}
