package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mmvm/mmvm/internal/faultbench"
	"github.com/mmvm/mmvm/kvmhost"
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
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: finding my own binary for the QEMU guest: %v\n", err)
		return exitMMVM
	}
	if err := checkStatic(self); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm: %v\n", err)
		return exitMMVM
	}
	desc := f.machine
	if desc == "" {
		desc = qemuMachine + ", host " + cpuModel()
	}
	args := []string{"bench", "--no-qemu", "--size", f.size.String(), "--faults", fmt.Sprint(f.faults), "--machine", desc, "--json", "@stderr"}
	stderr := &statsFilter{out: os.Stderr}
	var logBuf bytes.Buffer
	var log io.Writer = &logBuf
	if f.verbose {
		log = os.Stderr
	}
	spec := kvmhost.Spec{
		Files:     []kvmhost.File{{HostPath: self, GuestPath: "/mmvm/mmvm", Mode: 0o755}},
		Commands:  []kvmhost.Command{{Path: "/mmvm/mmvm", Args: args}},
		Timeout:   time.Hour,
		Stdout:    os.Stdout,
		Stderr:    stderr,
		Log:       log,
		CacheDir:  cacheDir(),
		MemoryMiB: int(uint64(f.size)>>20*2 + 768),
	}
	res, err := kvmhost.Run(context.Background(), spec)
	stderr.flush()
	if err != nil {
		if !f.verbose && logBuf.Len() > 0 {
			tail := logBuf.Bytes()
			os.Stderr.Write(tail[max(0, len(tail)-4000):])
		}
		fmt.Fprintf(os.Stderr, "mmvm: the QEMU guest failed: %v\n", err)
		var env *kvmhost.EnvError
		if errors.As(err, &env) {
			fmt.Fprintln(os.Stderr, "mmvm: or run on a machine with /dev/kvm")
		}
		return exitMMVM
	}
	if len(res.ExitStatus) == 0 || res.ExitStatus[0] != 0 {
		fmt.Fprintln(os.Stderr, "mmvm: the bench inside the QEMU guest failed")
		return exitMMVM
	}
	if stderr.json == nil {
		fmt.Fprintln(os.Stderr, "mmvm bench: the guest reported no figures")
		return exitMMVM
	}
	var rep faultbench.Report
	if err := json.Unmarshal(stderr.json, &rep); err != nil {
		fmt.Fprintf(os.Stderr, "mmvm bench: reading the guest's report: %v\n", err)
		return exitMMVM
	}
	return writeBenchFiles(f, &rep)
}
