// Package latency records durations into a fixed log-linear histogram
// without allocating, so the fault path can record every fault, and reports
// count, percentiles and maximum. Buckets cover 1 ns to about 1 minute with
// a relative error below 1/16 (each power of two is cut into 16 steps).
package latency

import (
	"math/bits"
	"time"
)

const (
	subBits    = 4
	subBuckets = 1 << subBits
	// maxExp: values up to 2^maxExp ns (about 73 minutes) are bucketed;
	// larger ones land in the last bucket (Max still reports them exactly).
	maxExp     = 42
	numBuckets = (maxExp + 1) * subBuckets
)

// Histogram is a log-linear histogram of durations. The zero value is ready
// to use. It is not safe for concurrent use.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
	min    time.Duration
}

// bucket returns the bucket index of v nanoseconds.
func bucket(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // v in [2^exp, 2^(exp+1))
	sub := (v >> (exp - subBits)) & (subBuckets - 1)
	i := (exp-subBits+1)*subBuckets + int(sub)
	if i >= numBuckets {
		return numBuckets - 1
	}
	return i
}

// bucketUpper returns the largest value in bucket i.
func bucketUpper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	lower := (subBuckets + sub) << (exp - subBits)
	return lower + (1 << (exp - subBits)) - 1
}

// Record adds one duration (negative ones count as zero).
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if o.n > 0 && (h.n == 0 || o.min < h.min) {
		h.min = o.min
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest sample.
func (h *Histogram) Max() time.Duration { return h.max }

// Min returns the smallest sample.
func (h *Histogram) Min() time.Duration { return h.min }

// Mean returns the average sample.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 <= q <= 1): the upper bound of the
// bucket holding it, never more than Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketUpper(i)), h.max)
		}
	}
	return h.max
}

// Summary is a histogram's figures, as reported by --stats and --json.
type Summary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summary returns count, mean, p50, p90, p99 and max.
func (h *Histogram) Summary() Summary {
	return Summary{h.n, h.Mean(), h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.max}
}

// Buckets calls fn for each non-empty bucket with its upper bound and count,
// in increasing order (for drawing the histogram).
func (h *Histogram) Buckets(fn func(upper time.Duration, count uint64)) {
	for i, c := range h.counts {
		if c > 0 {
			fn(time.Duration(bucketUpper(i)), c)
		}
	}
}
