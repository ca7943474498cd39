// Command pagetable-bench compares mmvm's page tables (package
// github.com/mmvm/mmvm/pagetable) with gVisor's pkg/ring0/pagetables on the
// same operations in one run: mapping 1 GiB as 4 KiB pages (in one call and
// one call per page) and as 2 MiB pages, unmapping it (in one call and page
// by page), looking pages up, protecting it, and the table pages each needs
// per GiB. It lives in its own Go module so that mmvm itself never depends on
// gVisor.
//
//	go run .                 # prints the comparison table
//	go test -bench .         # the same operations as Go benchmarks
package main
