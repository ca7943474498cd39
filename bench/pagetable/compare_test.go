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

// TestReport prints the comparison table (run with -v, or `go run .`).
func TestReport(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about half a minute")
	}
	rs := measure(1)
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
		b.Run(c.name+"/mmvm", c.ours)
		b.Run(c.name+"/gvisor", c.theirs)
	}
}
