// Command mmvm runs a static x86-64 Linux program inside a KVM micro-VM whose
// memory it owns, and measures it.
//
//	mmvm run [flags] PROGRAM [ARGS...]   run a program; exit with its status
//	mmvm bench [flags]                   measure the page-fault path against its baselines
//	mmvm help                            show usage
//
// Without /dev/kvm, `mmvm run` runs the same command inside a small QEMU
// guest that has a nested /dev/kvm (package kvmhost), unless --no-qemu.
package main

import (
	"fmt"
	"os"
)

const usageText = `mmvm runs tiny static x86-64 Linux programs in a KVM micro-VM that owns all
of their memory.

Usage:
  mmvm run [flags] PROGRAM [ARGS...]   run PROGRAM; mmvm exits with its status
                                       (128+signal when it is killed)
  mmvm bench [flags]                   measure the page-fault path against its
                                       baselines; tables, --json, --svg
  mmvm help                            this text

Run 'mmvm run --help' or 'mmvm bench --help' for their flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usageText)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		os.Exit(runMain(os.Args[2:]))
	case "bench":
		os.Exit(benchMain(os.Args[2:]))
	case "help", "-h", "-help", "--help":
		fmt.Print(usageText)
	default:
		fmt.Fprintf(os.Stderr, "mmvm: unknown command %q\n\n%s", os.Args[1], usageText)
		os.Exit(2)
	}
}
