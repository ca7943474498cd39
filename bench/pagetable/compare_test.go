package main

import (
	"flag"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	setDefaultBenchtime()
	os.Exit(m.Run())
}

func TestSidesAgree(t *testing.T) {
	if err := checkSides(); err != nil {
		t.Fatal(err)
	}
}

// TestReport prints the comparison table (shown by `go test -bench .` in
// this directory, or with -v; `go run .` prints it alone). Each side's best
// of three runs counts, to damp the noise of a shared machine.
func TestReport(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about half a minute")
	}
	rs := measure(3)
	report(os.Stdout, rs)
	if oursTables4K != 515 || oursTables2M != 3 {
		t.Errorf("mmvm holds %d and %d table pages per GiB of 4 KiB and 2 MiB leaves, want 515 and 3", oursTables4K, oursTables2M)
	}
	if oursTables4K > theirTables4K || oursTables2M > theirTables2M {
		t.Errorf("mmvm needs more table memory than gVisor")
	}
}

func BenchmarkCompare(b *testing.B) {
	for _, c := range comparisons {
		for side, f := range map[string]func(*testing.B){"mmvm": c.ours, "gvisor": c.theirs} {
			b.Run(c.name+"/"+side, func(b *testing.B) {
				f(b)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.leaves), "ns/leaf")
			})
		}
	}
}
