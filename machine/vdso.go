package machine

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/memfile"
	"github.com/mmvm/mmvm/memmap"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/vdso"
)

// guestVDSO is the machine's vDSO: the image in MemoryFile pages, as the
// two mappings every program gets, and the clock the vvar page publishes.
type guestVDSO struct {
	// vvar, vclock and elf are the image's three parts; the machine holds one
	// reference on each, mm another per vma.
	vvar, vclock, elf *vdso.Mapping
	// clock is the guests' time; nil where KVM gives no TSC frequency,
	// and then the vvar page serves no clock (every call is the system
	// call, on the host's clocks). vvarPage is the host's view of the
	// vvar page it is published in.
	clock    *vdso.GuestClock
	vvarPage []byte
	// clockMu serializes the clock's reads and refreshes, which the
	// system calls of every thread make.
	clockMu sync.Mutex
	// tscOffset is the guest's TSC less the host's: the clock reads the
	// guest's TSC as the host's plus it, from any thread, without asking
	// a vCPU (whose ioctls wait while it runs). Every vCPU's TSC is set
	// on it (alignTSC).
	tscOffset int64
}

// readExecute is what translations of the vDSO's code allow.
var readExecute = arch.AccessType{Read: true, Execute: true}

// buildVDSO writes the vDSO image into fresh MemoryFile pages and starts
// the guest's clock on the vCPU's TSC.
func (m *Machine) buildVDSO() error {
	// The pages: [vvar]'s data page, then the ELF object.
	fr, err := m.mf.Allocate(vdso.VVarDataSize+vdso.ELFSize, memfile.AllocOpts{Kind: memfile.Kernel})
	if err != nil {
		return fmt.Errorf("machine: vDSO pages: %w", err)
	}
	mem := m.mf.Slice(fr)
	copy(mem[vdso.VVarDataSize:], vdso.ELF())
	split := fr.Start + vdso.VVarDataSize
	m.vdso.vvar = vdso.NewMapping("[vvar]", m.mf, memmap.FileRange{Start: fr.Start, End: split}, vdso.VVarSize, arch.Read)
	m.vdso.vclock = vdso.NewMapping("[vvar_vclock]", nil, memmap.FileRange{}, vdso.VClockSize, arch.Read)
	m.vdso.elf = vdso.NewMapping("[vdso]", m.mf, memmap.FileRange{Start: split, End: fr.End}, vdso.ELFSize, readExecute)
	m.vdso.vvarPage = mem[:vdso.VVarDataSize]
	m.vdso.clock = m.startGuestClock()
	if m.vdso.clock != nil {
		vdso.WriteVVar(m.vdso.vvarPage, m.vdso.clock.Params())
	}
	return nil
}

// startGuestClock starts the guest's clocks at the host's time now, or
// returns nil where the TSC cannot be a clock: KVM does not know its
// frequency, the TSC cannot be read, or (PVM) what KVM reports as the
// guest's TSC is not what the guest's RDTSC reads. It records the outcome
// in the Platform.
func (m *Machine) startGuestClock() *vdso.GuestClock {
	khz, err := m.boot.vcpu.TSCKHz()
	if err != nil {
		m.platform.VDSOClock = fmt.Sprintf("system calls (no TSC frequency: %v)", err)
		return nil
	}
	if m.platform.Module == "kvm_pvm" {
		if err := m.checkHostTSC(uint64(khz)); err != nil {
			m.platform.VDSOClock = fmt.Sprintf("system calls (%v)", err)
			return nil
		}
	}
	if m.vdso.tscOffset, err = tscOffsetOf(m.boot.vcpu); err != nil {
		m.platform.VDSOClock = fmt.Sprintf("system calls (reading the guest's TSC: %v)", err)
		return nil
	}
	offset := m.vdso.tscOffset
	clock, err := vdso.NewGuestClock(vdso.GuestClockConfig{
		TSCKHz:  uint64(khz),
		ReadTSC: func() (uint64, error) { return uint64(int64(kvm.HostTSC()) + offset), nil },
		Now:     time.Now(),
		// The guest's monotonic clock starts at one second, as the
		// system calls' own default does: never zero.
		Monotonic:     time.Second,
		Resolution:    hostResolution,
		HostMonotonic: hostMonotonic(),
	})
	if err != nil {
		m.platform.VDSOClock = fmt.Sprintf("system calls (%v)", err)
		return nil
	}
	m.platform.VDSOClock = fmt.Sprintf("TSC at %d kHz", khz)
	return clock
}

// checkHostTSC checks that KVM reports the host's TSC as the guest's, within
// a millisecond: under PVM the guest's user mode runs at the host's CPL 3,
// where RDTSC reads the host's counter with no VMX offset applied, so the
// vDSO would read a different clock from the one the system calls read
// through KVM_GET_MSRS if KVM kept an offset.
func (m *Machine) checkHostTSC(khz uint64) error {
	before := kvm.HostTSC()
	guest, err := m.boot.vcpu.TSC()
	after := kvm.HostTSC()
	if err != nil {
		return err
	}
	if slack := khz; guest+slack < before || guest > after+slack {
		return fmt.Errorf("KVM's guest TSC %d is not the host's [%d, %d], which the guest's RDTSC reads", guest, before, after)
	}
	return nil
}

// tscOffset measures the guest's TSC less the host's on v: the reading of
// the guest's TSC between the two closest host readings, placed at their
// midpoint. The error is at most half that window, a fraction of a
// microsecond, which no system call round trip is shorter than.
func tscOffsetOf(v *kvm.VCPU) (int64, error) {
	var offset int64
	window := ^uint64(0)
	for range 8 {
		before := kvm.HostTSC()
		guest, err := v.TSC()
		after := kvm.HostTSC()
		if err != nil {
			return 0, err
		}
		if after-before < window {
			window = after - before
			offset = int64(guest) - int64(before+window/2)
		}
	}
	return offset, nil
}

// alignTSC sets a new vCPU's TSC on the clock's (the guest's TSC is the
// host's plus tscOffset): KVM gives a vCPU made later a TSC of its own.
func (m *Machine) alignTSC(c *cpu) error {
	if m.vdso.clock == nil {
		return nil
	}
	tsc := uint64(int64(kvm.HostTSC()) + m.vdso.tscOffset)
	if err := c.vcpu.SetMSRs([]kvm.MSR{{Index: kvm.MSRTSC, Data: tsc}}); err != nil {
		return fmt.Errorf("machine: setting vCPU %d's TSC: %w", c.index, err)
	}
	return nil
}

// clockNanos, clockNow and clockMonotonic are the guest clock's reads for
// the system calls of any thread.
func (m *Machine) clockNanos(id int) (int64, bool) {
	m.vdso.clockMu.Lock()
	defer m.vdso.clockMu.Unlock()
	return m.vdso.clock.Nanos(id)
}

func (m *Machine) clockNow() time.Time {
	m.vdso.clockMu.Lock()
	defer m.vdso.clockMu.Unlock()
	return m.vdso.clock.Now()
}

func (m *Machine) clockMonotonic() time.Duration {
	m.vdso.clockMu.Lock()
	defer m.vdso.clockMu.Unlock()
	return m.vdso.clock.Monotonic()
}

// hostMonotonic returns a monotonic clock of the host's, from now.
func hostMonotonic() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// refreshClock lets the guest's clock re-anchor and steer toward the
// host's (vdso.GuestClock.Refresh) and publishes what changed. It runs
// between two entries of the vCPU.
func (m *Machine) refreshClock() {
	c := m.vdso.clock
	if c == nil {
		return
	}
	m.vdso.clockMu.Lock()
	defer m.vdso.clockMu.Unlock()
	if c.Refresh() {
		vdso.WriteVVar(m.vdso.vvarPage, c.Params())
	}
}

// hostResolution is the host's clock_getres for clock id, which the
// guest's clock_getres reports (the system call asks the host too).
func hostResolution(id int) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGetres(int32(id), &ts); err != nil {
		return 1
	}
	return time.Duration(ts.Nano())
}

// mapVDSO maps the vDSO into the program as Linux does at exec: the ELF
// object read+execute, private, where mmap would put it with no hint (just
// below mmap_base, near the stack), and [vvar_vclock] and [vvar] read-only
// right below it, where the code expects the data page, never to be made
// writable. The ELF object and the data page are populated: a program's
// first clock call faults on neither. It returns the ELF object's address
// (AT_SYSINFO_EHDR).
func (m *Machine) mapVDSO(mmgr *mm.MemoryManager) (arch.Addr, error) {
	const flags = unix.MAP_PRIVATE | unix.MAP_FIXED_NOREPLACE
	elf := &mm.MappedFile{Mappable: m.vdso.elf, Identity: m.vdso.elf, Readable: true, Special: mm.SpecialCode}
	at, err := mmgr.MMap(0, vdso.ELFSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_POPULATE, elf, 0)
	if err != nil {
		return 0, fmt.Errorf("mapping the vDSO: %w", err)
	}
	image := uint64(at) - vdso.ELFOffset
	data := func(part *vdso.Mapping) *mm.MappedFile {
		return &mm.MappedFile{Mappable: part, Identity: part, Readable: true, NoMayWrite: true, Special: mm.SpecialPFN}
	}
	for _, p := range []struct {
		what         string
		file         *mm.MappedFile
		at, off, len uint64
		populate     bool
	}{
		{"[vvar_vclock]", data(m.vdso.vclock), image + vdso.VClockOffset, 0, vdso.VClockSize, false},
		{"[vvar]'s data page", data(m.vdso.vvar), image + vdso.VVarOffset, 0, vdso.VVarDataSize, true},
		{"[vvar]", data(m.vdso.vvar), image + vdso.VVarOffset + vdso.VVarDataSize, vdso.VVarDataSize, vdso.VVarSize - vdso.VVarDataSize, false},
	} {
		f := uint64(flags)
		if p.populate {
			f |= unix.MAP_POPULATE
		}
		if _, err := mmgr.MMap(p.at, p.len, unix.PROT_READ, f, p.file, p.off); err != nil {
			return 0, fmt.Errorf("mapping %s below the vDSO at %v: %w", p.what, at, err)
		}
	}
	return at, nil
}

// releaseVDSO drops the machine's references on the vDSO's pages.
func (m *Machine) releaseVDSO() {
	if m.vdso.vvar != nil {
		m.vdso.vvar.DecRef()
		m.vdso.vclock.DecRef()
		m.vdso.elf.DecRef()
		m.vdso.vvar, m.vdso.vclock, m.vdso.elf, m.vdso.vvarPage = nil, nil, nil, nil
	}
}
