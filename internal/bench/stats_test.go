package bench

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestNearestRank(t *testing.T) {
	tests := []struct {
		name string
		q    float64
		n    int
		want int
	}{
		{"median of 1", 0.5, 1, 1},
		{"median of 10", 0.5, 10, 5},
		{"median of 11", 0.5, 11, 6},
		{"p99 of 100", 0.99, 100, 99},
		{"p99 of 1000", 0.99, 1000, 990},
		{"p99 of 10", 0.99, 10, 10},
		{"q=0", 0, 10, 1},
		{"q=1", 1, 10, 10},
		{"q>1", 2, 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nearestRank(tt.q, tt.n); got != tt.want {
				t.Fatalf("nearestRank(%v, %d) = %d, want %d", tt.q, tt.n, got, tt.want)
			}
		})
	}
}

func TestExactQuantile(t *testing.T) {
	s := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.1, 1}, {0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}}
	for _, tt := range tests {
		if got := exactQuantile(s, tt.q); got != tt.want {
			t.Errorf("exactQuantile(q=%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := exactQuantile(nil, 0.5); got != 0 {
		t.Errorf("empty: got %v", got)
	}
	if s[0] != 5 {
		t.Error("exactQuantile reordered its input")
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64}
	for _, v := range vals {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d out of range", v, i)
		}
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d with bounds [%d,%d]", v, i, lo, hi)
		}
		if v >= histSub && float64(hi-lo)/float64(lo) > 1.0/float64(histHalf) {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d", i, lo, hi, histHalf)
		}
	}
	// Buckets are contiguous and increasing.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, _ := histBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("gap between bucket %d (hi %d) and %d (lo %d)", i-1, prevHi, i, lo)
		}
	}
}

func TestHistogramQuantileMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var samples []time.Duration
	for i := 0; i < 50000; i++ {
		// Log-normal-ish round trips around 300 µs with a long tail.
		d := time.Duration(math.Exp(rng.NormFloat64()*0.8+math.Log(300e3))) * time.Nanosecond
		samples = append(samples, d)
		h.Record(d)
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exactQuantile(samples, q)
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/float64(histHalf) {
			t.Errorf("q=%v: histogram %v, exact %v (rel err %.4f)", q, got, want, rel)
		}
	}
	if h.Count() != 50000 {
		t.Errorf("count %d", h.Count())
	}
	if h.Max() != exactQuantile(samples, 1) || h.Min() != exactQuantile(samples, 0) {
		t.Errorf("min/max %v/%v not exact", h.Min(), h.Max())
	}
}

func TestHistogramSmallAndEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5) // clock oddities count as zero
	h.Record(100)
	h.Record(100)
	if got := h.Quantile(0.5); got != 100 {
		t.Fatalf("p50 = %v, want 100ns", got)
	}
	if got := h.Quantile(0.1); got != 0 {
		t.Fatalf("p10 = %v, want 0", got)
	}
	if got := h.Mean(); got != 66 {
		t.Fatalf("mean = %v, want 66ns", got)
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	for _, q := range []float64{0.5, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("q=%v merged %v != direct %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != 1000 || m.Min() != time.Microsecond || m.Max() != time.Millisecond || m.Mean() != all.Mean() {
		t.Errorf("merged count/min/max/mean = %d/%v/%v/%v", m.Count(), m.Min(), m.Max(), m.Mean())
	}
}

func TestLossAndRatio(t *testing.T) {
	if got := lossPct(200, 150); got != 25 {
		t.Errorf("lossPct = %v", got)
	}
	if lossPct(0, 0) != 0 || lossPct(10, 12) != 0 {
		t.Error("lossPct edge cases")
	}
	if !math.IsNaN(ratio(1, 0)) || ratio(3, 2) != 1.5 {
		t.Error("ratio")
	}
}

func TestFnum(t *testing.T) {
	tests := map[float64]string{0: "0", 999: "999", 1000: "1,000", 41873.4: "41,873", 1234567: "1,234,567", -1500: "-1,500"}
	for in, want := range tests {
		if got := fnum(in); got != want {
			t.Errorf("fnum(%v) = %q, want %q", in, got, want)
		}
	}
	if fnum(math.NaN()) != "n/a" {
		t.Error("NaN")
	}
}

func TestCycleSourceRotates(t *testing.T) {
	seen := map[string]bool{}
	for i := uint64(0); i < 62500; i++ {
		ip := cycleSource(i)
		if !ip.IsLoopback() || ip[15] == 0 || ip[15] == 255 {
			t.Fatalf("cycle %d: source %v", i, ip)
		}
		seen[ip.String()] = true
	}
	if len(seen) != 62500 || !cycleSource(62500).Equal(cycleSource(0)) {
		t.Fatalf("%d distinct sources", len(seen))
	}
}

func TestMedianRow(t *testing.T) {
	rs := []LoadResult{{EchoesPerSec: 30, Sent: 3}, {EchoesPerSec: 10, Sent: 1}, {EchoesPerSec: 20, Sent: 2}}
	m := medianRow(rs)
	if m.Sent != 2 || m.Runs != 3 || m.EchoesPerSecMin != 10 || m.EchoesPerSecMax != 30 {
		t.Fatalf("median of 3: %+v", m)
	}
	if m := medianRow(rs[:2]); m.Sent != 1 { // lower middle of an even count
		t.Fatalf("median of 2: %+v", m)
	}
	if m := medianRow(rs[:1]); m.Runs != 0 || m.Sent != 3 {
		t.Fatalf("single run must not claim a spread: %+v", m)
	}
	if rs[0].Sent != 3 {
		t.Fatal("medianRow reordered its input")
	}
	paced := []LoadResult{{Rate: 500, RTTP99us: 900, Sent: 9}, {Rate: 500, RTTP99us: 100, Sent: 1}, {Rate: 500, RTTP99us: 400, Sent: 4}}
	if m := medianRow(paced); m.Sent != 4 || m.RTTP99usMin != 100 || m.RTTP99usMax != 900 {
		t.Fatalf("paced runs rank by p99: %+v", m)
	}
}
