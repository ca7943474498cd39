package faultbench

import (
	"time"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/latency"
)

// Histogram is the allocation-free latency histogram every per-event figure
// is recorded in.
type Histogram = latency.Histogram

// Bucket is one non-empty histogram bucket: samples up to UpperNs.
type Bucket struct {
	UpperNs int64  `json:"upper_ns"`
	Count   uint64 `json:"count"`
}

// Measure is a repeated event: how many, the mean cost from the total wall
// time, and the per-event distribution.
type Measure struct {
	N       int             `json:"n"`
	NsPerOp float64         `json:"ns_per_op"`
	Latency latency.Summary `json:"latency"`
	Buckets []Bucket        `json:"buckets,omitempty"`
}

func measureOf(h *Histogram, n int, total time.Duration) Measure {
	m := Measure{N: n, Latency: h.Summary(), Buckets: bucketsOf(h)}
	if n > 0 {
		m.NsPerOp = float64(total.Nanoseconds()) / float64(n)
	}
	return m
}

func bucketsOf(h *Histogram) []Bucket {
	var b []Bucket
	h.Buckets(func(upper time.Duration, count uint64) {
		b = append(b, Bucket{UpperNs: int64(upper), Count: count})
	})
	return b
}

// Touch is a first touch of Bytes of fresh memory, one write per 4 KiB page.
type Touch struct {
	Name string `json:"name"`
	// FaultAround is the unit mm maps per fault (0 where no mm is involved).
	FaultAround uint64 `json:"fault_around_bytes,omitempty"`
	// DirectResume and Populate are the machine's FastPath choices.
	DirectResume bool   `json:"direct_resume,omitempty"`
	Populate     bool   `json:"populate,omitempty"`
	Bytes        uint64 `json:"bytes"`
	Pages        uint64 `json:"pages"`
	// NsPerPage is the wall time per page, everything included.
	NsPerPage float64 `json:"ns_per_page"`
	// PopulateNs and GuestNs split NsPerPage for the machine's limit:
	// the host's bulk population and the guest's touch.
	PopulateNs float64 `json:"populate_ns_per_page,omitempty"`
	GuestNs    float64 `json:"guest_ns_per_page,omitempty"`
	// Faults are the page faults served in Go, FaultsPerGiB scaled to a
	// GiB touched.
	Faults       uint64  `json:"faults"`
	FaultsPerGiB float64 `json:"faults_per_gib"`
	// Leaves4K and Leaves2M count the page-table leaves over the touched
	// range afterwards.
	Leaves4K uint64 `json:"leaves_4k"`
	Leaves2M uint64 `json:"leaves_2m"`
	// AllocsPerFault is Go heap allocations per fault during the run.
	AllocsPerFault float64 `json:"allocs_per_fault"`
}

func newTouch(bytes uint64, d time.Duration, faults uint64) Touch {
	t := Touch{Bytes: bytes, Pages: bytes / arch.PageSize, Faults: faults}
	if t.Pages > 0 {
		t.NsPerPage = float64(d.Nanoseconds()) / float64(t.Pages)
	}
	if bytes > 0 {
		t.FaultsPerGiB = float64(faults) * float64(1<<30) / float64(bytes)
	}
	return t
}
