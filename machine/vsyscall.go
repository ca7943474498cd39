package machine

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/mmvm/mmvm/ring0"
	"github.com/mmvm/mmvm/syscalls"
)

// VsyscallMode is how the legacy vsyscall page answers the program, as
// Linux's vsyscall= boot parameter sets it.
type VsyscallMode uint8

const (
	// VsyscallHost follows the host kernel: its /proc/self/maps lists
	// the page (xonly, or emulate, served as xonly) or does not (none).
	VsyscallHost VsyscallMode = iota
	// VsyscallXOnly emulates calls to the page's three entry points
	// (syscalls.EmulateVsyscall); reading it faults. /proc/pid/maps
	// lists it last. Linux's default since 5.x.
	VsyscallXOnly
	// VsyscallNone: there is no page; a call to it is the SIGSEGV of an
	// unmapped address.
	VsyscallNone
)

// String names m as the vsyscall= parameter does ("host" for
// VsyscallHost).
func (m VsyscallMode) String() string {
	switch m {
	case VsyscallXOnly:
		return "xonly"
	case VsyscallNone:
		return "none"
	}
	return "host"
}

// Set sets m to the mode s names, as String names it (a flag.Value).
func (m *VsyscallMode) Set(s string) error {
	for _, mode := range []VsyscallMode{VsyscallHost, VsyscallXOnly, VsyscallNone} {
		if s == mode.String() {
			*m = mode
			return nil
		}
	}
	return fmt.Errorf("want host, xonly or none")
}

// HostVsyscall is the host kernel's mode: xonly where its own
// /proc/self/maps lists the vsyscall page (emulate, which also lets the
// page be read, is served as xonly), none where it does not.
var HostVsyscall = sync.OnceValue(func() VsyscallMode {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return VsyscallNone
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasSuffix(s.Text(), " [vsyscall]") {
			return VsyscallXOnly
		}
	}
	return VsyscallNone
})

// vsyscall is the mode the Machine's programs get: Config.Vsyscall, the
// host's where that says so.
func (m *Machine) vsyscall() VsyscallMode {
	if m.cfg.Vsyscall == VsyscallHost {
		return HostVsyscall()
	}
	return m.cfg.Vsyscall
}

// isVsyscallCall reports whether the user page fault ev (error code pf) is
// a call into the vsyscall page: an instruction fetch at RIP inside it,
// which Linux emulates, where any other access to the page is the fault
// of an unmapped address.
func isVsyscallCall(ev *ring0.Event, pf ring0.PageFaultError) bool {
	return pf.Has(ring0.PFUser|ring0.PFFetch) && !pf.Has(ring0.PFWrite) &&
		ev.FaultAddr == ev.Context.RIP && ev.FaultAddr&^0xfff == syscalls.VsyscallPage
}

// emulateVsyscall runs the call the program made into the vsyscall page
// (syscalls.EmulateVsyscall) and resumes it at its caller, or sends it the
// SIGSEGV Linux sends for a bad call.
func (c *cpu) emulateVsyscall(ev *ring0.Event) (Stop, bool, error) {
	c.repeat.reset()
	regs := userRegsOf(&c.vcpu.Sync().Regs, ev.Context)
	f, ok := c.task.EmulateVsyscall(&regs, ev.FaultAddr)
	if !ok {
		return c.deliverFault(ev, f)
	}
	c.m.refreshClock()
	if stop, done := c.ended(); done {
		return stop, true, nil
	}
	return Stop{}, false, c.resumeWith(&regs)
}
