package latency

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every value lies within its bucket's bounds, and buckets are ordered.
	prevUpper := int64(-1)
	for i := 0; i < numBuckets; i++ {
		u := bucketUpper(i)
		if int64(u) <= prevUpper {
			t.Fatalf("bucket %d upper %d not above %d", i, u, prevUpper)
		}
		if got := bucket(u); got != i {
			t.Fatalf("bucket(upper(%d)=%d) = %d", i, u, got)
		}
		if got := bucket(uint64(prevUpper + 1)); got != i {
			t.Fatalf("bucket(lower of %d = %d) = %d", i, prevUpper+1, got)
		}
		prevUpper = int64(u)
	}
}

func TestQuantilesAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var vals []time.Duration
	for i := 0; i < 100000; i++ {
		v := time.Duration(r.ExpFloat64() * 20000) // ~20 µs mean
		if i%1000 == 0 {
			v = time.Duration(r.IntN(int(time.Second)))
		}
		h.Record(v)
		vals = append(vals, v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[min(int(q*float64(len(vals))+0.5), len(vals))-1]
		got := h.Quantile(q)
		// The reported value is the bucket's upper bound: at or above the
		// exact quantile and within 1/16 of it.
		if got < exact || float64(got-exact) > float64(exact)/16+1 {
			t.Errorf("q%.3f = %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] || h.Count() != uint64(len(vals)) {
		t.Errorf("max/min/count = %v/%v/%d", h.Max(), h.Min(), h.Count())
	}
	var o Histogram
	o.Record(2 * time.Second)
	h.Merge(&o)
	if h.Max() != 2*time.Second || h.Count() != uint64(len(vals))+1 {
		t.Errorf("after Merge: max %v count %d", h.Max(), h.Count())
	}
	var total uint64
	h.Buckets(func(_ time.Duration, c uint64) { total += c })
	if total != h.Count() {
		t.Errorf("Buckets sums to %d, want %d", total, h.Count())
	}
}

func TestEmptyAndRecordAllocs(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || (h.Summary() != Summary{}) {
		t.Error("empty histogram reports non-zero figures")
	}
	h.Record(-5)
	if h.Max() != 0 || h.Count() != 1 {
		t.Error("negative sample not recorded as zero")
	}
	if n := testing.AllocsPerRun(1000, func() { h.Record(12345) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}
