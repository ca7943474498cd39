package main

import (
	"flag"
	"fmt"
	"io"
	"testing"
)

// result is one comparison's best time per leaf (or per op) on each side.
type result struct {
	name         string
	ours, theirs float64
}

// nsPer runs f as a benchmark and returns ns per leaf.
func nsPer(f func(*testing.B), leaves int) float64 {
	r := testing.Benchmark(f)
	return float64(r.T.Nanoseconds()) / float64(r.N) / float64(leaves)
}

// defaultBenchtime is how many iterations (each over the whole GiB) a
// benchmark runs unless -test.benchtime says otherwise. A time-based
// benchtime would be a poor fit: where the timed part is tiny next to the
// untimed setup (unmapping in one call), reaching 1 s of timed work takes
// minutes.
const defaultBenchtime = "20x"

// setDefaultBenchtime applies defaultBenchtime unless the flag was given.
func setDefaultBenchtime() {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.benchtime" })
	if !given {
		if err := flag.Set("test.benchtime", defaultBenchtime); err != nil {
			panic(err)
		}
	}
}

// measure runs every comparison rounds times, alternating the sides so that
// both see the same machine load, and keeps each side's best.
func measure(rounds int) []result {
	out := make([]result, len(comparisons))
	for i, c := range comparisons {
		out[i] = result{name: c.name}
		for range rounds {
			o := nsPer(c.ours, c.leaves)
			t := nsPer(c.theirs, c.leaves)
			if out[i].ours == 0 || o < out[i].ours {
				out[i].ours = o
			}
			if out[i].theirs == 0 || t < out[i].theirs {
				out[i].theirs = t
			}
		}
	}
	return out
}

// report prints the comparison as a table: ns per 4 KiB page (per 2 MiB
// page for the 2 MiB row) and the throughput ratio mmvm/gVisor (above 1:
// mmvm is faster), then table memory.
func report(w io.Writer, rs []result) {
	fmt.Fprintf(w, "%-38s %10s %10s %14s\n", "operation (ns per leaf)", "mmvm", "gVisor", "mmvm/gVisor")
	for _, r := range rs {
		fmt.Fprintf(w, "%-38s %10.3f %10.3f %13.2fx\n", r.name, r.ours, r.theirs, r.theirs/r.ours)
	}
	fmt.Fprintf(w, "%-38s %10d %10d %13.2fx\n", "table pages per GiB of 4 KiB leaves", oursTables4K, theirTables4K, float64(theirTables4K)/float64(oursTables4K))
	fmt.Fprintf(w, "%-38s %10d %10d %13.2fx\n", "table pages per GiB of 2 MiB leaves", oursTables2M, theirTables2M, float64(theirTables2M)/float64(oursTables2M))
}
