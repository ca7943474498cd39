package main

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

func main() {
	testing.Init() // the benchmarks read the test.* flags
	rounds := flag.Int("rounds", 3, "runs of each benchmark per side; the best counts")
	flag.Parse()
	setDefaultBenchtime()
	if err := checkSides(); err != nil {
		fmt.Fprintln(os.Stderr, "the two sides disagree:", err)
		os.Exit(1)
	}
	report(os.Stdout, measure(*rounds))
}
