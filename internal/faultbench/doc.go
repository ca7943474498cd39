// Package faultbench measures mmvm's page-fault path against the baselines
// that say what it could be: the raw user-mode exit of a bare KVM guest (the
// floor), the minimal fault path a bare guest can have (a #PF stub of one
// `out`, the host writing the PTE; shared/probes/pftest.c redone in Go), the
// machine's own limit for first touches (a bare guest with 2 MiB pages over
// host memory populated in bulk first; probes/touchtest.c), the host's native
// first touch and a userfaultfd round trip. Every figure comes from one run
// in one process, so that the report's ratios compare like with like;
// absolute figures from one machine do not carry to another. `mmvm bench`
// prints and plots a Report, and tests/bench_test.go reuses the same
// measurements as Go benchmarks.
package faultbench
