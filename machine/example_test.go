package machine_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mmvm/mmvm/machine"
)

// Run a static x86-64 Linux program in a micro-VM from Go, as a test that
// embeds mmvm would: build the Machine, load the ELF with its argv and
// environment, run it to the end under a deadline, and read its exit
// status and figures. It needs /dev/kvm, so it has no Output line: `go
// test` compiles it but does not run it (where there is no /dev/kvm,
// `mmvm run` runs the same inside a QEMU guest).
func Example() {
	m, err := machine.New(machine.Config{
		Memory: 256 << 20,
		Stdout: os.Stdout, Stderr: os.Stderr,
		StdioFDs: [3]int{-1, 1, 2},
	})
	if err != nil {
		fmt.Println(err) // no KVM, for one
		return
	}
	defer m.Close()
	if err := m.LoadProgram("out/guest/hello", []string{"hello"}, []string{"LANG=C"}); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop, err := m.Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	st := m.Stats()
	fmt.Printf("%v: status %d, %d page faults\n", stop.Kind, stop.Status(), st.Faults)
}
