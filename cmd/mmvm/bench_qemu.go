package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mmvm/mmvm/internal/faultbench"
)

// qemuMachine describes the machine when the bench runs inside kvmhost's
// QEMU guest.
const qemuMachine = "nested KVM (kvm_amd) in a QEMU TCG guest; ratios and counts only"

// benchInQEMU runs `mmvm bench` inside a QEMU guest with nested KVM, as
// runInQEMU does for `mmvm run`: the mmvm inside prints its tables to
// stdout, its progress to stderr and its report as one marked JSON line
// on stderr, from which this side writes --json and --svg.
func benchInQEMU(f *benchFlags) int {
	fmt.Fprintln(os.Stderr, "mmvm: no /dev/kvm here: running the bench inside a QEMU guest with nested KVM (ratios and counts only; --no-qemu turns this off)")
	desc := f.machine
	if desc == "" {
		desc = qemuMachine + ", host " + cpuModel()
	}
	args := []string{"bench", "--no-qemu", "--size", f.size.String(), "--faults", fmt.Sprint(f.faults), "--rounds", fmt.Sprint(f.rounds), "--machine", desc, "--json", "@stderr"}
	status, js, ok := inQEMU(guestRun{args: args, memory: uint64(f.size)*2 + 768<<20, timeout: time.Hour, verbose: f.verbose})
	if !ok {
		return exitMMVM
	}
	if status != 0 {
		fmt.Fprintln(os.Stderr, "mmvm: the bench inside the QEMU guest failed")
		return exitMMVM
	}
	if js == nil {
		fmt.Fprintln(os.Stderr, "mmvm bench: the guest reported no figures")
		return exitMMVM
	}
	var rep faultbench.Report
	if err := json.Unmarshal(js, &rep); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm bench: reading the guest's report: %v\n", err)
		return exitMMVM
	}
	return writeBenchFiles(f, &rep)
}
