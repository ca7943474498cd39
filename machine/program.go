package machine

import (
	"crypto/rand"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/loader"
	"github.com/mmvm/mmvm/mm"
)

// LoadProgram loads the static ELF executable at path into the (empty)
// address space and sets the user context at its entry point: each PT_LOAD
// segment a private copy-on-write mapping of the image, the bss zeroed, the
// break after the highest segment, and the stack holding argv, envv and the
// auxiliary vector per the SysV x86-64 ABI.
func (m *Machine) LoadProgram(path string, argv, envv []string) error {
	img, plan, err := loader.OpenImage(path, m.mf, loader.Options{})
	if err != nil {
		return err
	}
	// mm takes its own reference for each mapping; ours goes at the end.
	defer img.DecRef()
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	m.Process.SetExecutable(abs, abs)
	m.Process.SetCommandLine(argv)
	// /proc/self/maps names the image by its absolute path, with the
	// device and inode the guest's stat shows, not the host's.
	id := loader.ImageIdentity{Name: abs}
	var st unix.Stat_t
	if unix.Stat(abs, &st) == nil {
		id.Device, id.Inode = m.Process.FileIdentity(&st)
	}
	img.SetIdentity(id)
	file := &mm.MappedFile{Mappable: img, Identity: img, Readable: true}
	var dataSeg arch.AddrRange
	for i := range plan.Segments {
		if err := m.mapSegment(&plan.Segments[i], file); err != nil {
			return fmt.Errorf("loading %s: %w", path, err)
		}
		if s := plan.Segments[i]; s.Perms.Write && dataSeg.Empty() {
			dataSeg = s.Mapped
		}
	}
	m.MM.BrkSetup(plan.BrkStart, dataSeg)
	stackRange, err := m.MM.MapStack()
	if err != nil {
		return fmt.Errorf("loading %s: mapping the stack: %w", path, err)
	}
	if plan.ExecStack {
		if err := m.MM.MProtect(uint64(stackRange.Start), stackRange.Length(), unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|unix.PROT_GROWSDOWN); err != nil {
			return fmt.Errorf("loading %s: making the stack executable: %w", path, err)
		}
	}
	vdsoAddr, err := m.mapVDSO()
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	spec := loader.StackSpec{Argv: argv, Envv: envv, ExecFn: path, HWCap: m.hwcap, StackLimit: m.MM.Limits().Stack, SysinfoEHdr: vdsoAddr}
	if _, err := rand.Read(spec.Random[:]); err != nil {
		return fmt.Errorf("loading %s: AT_RANDOM: %w", path, err)
	}
	stack, err := loader.BuildStack(plan, spec, stackRange.End)
	if err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	if _, err := m.MM.CopyOut(stack.SP, stack.Image, mm.IOOpts{}); err != nil {
		return fmt.Errorf("loading %s: writing the initial stack: %w", path, err)
	}
	return m.SetUserContext(plan.Entry, stack.SP)
}

// mapSegment maps one PT_LOAD segment as the Plan prescribes.
func (m *Machine) mapSegment(s *loader.Segment, file *mm.MappedFile) error {
	prot := uint64(s.Perms.Prot())
	const fixed = unix.MAP_PRIVATE | unix.MAP_FIXED
	if !s.FilePages.Empty() {
		if _, err := m.MM.MMap(uint64(s.FilePages.Start), s.FilePages.Length(), prot, fixed, file, s.Offset); err != nil {
			return fmt.Errorf("segment %d at %v: %w", s.Index, s.FilePages, err)
		}
	}
	if !s.ZeroTail.Empty() {
		if _, err := m.MM.ZeroOut(s.ZeroTail.Start, s.ZeroTail.Length(), mm.IOOpts{IgnorePermissions: true}); err != nil {
			return fmt.Errorf("segment %d: zeroing the bss tail %v: %w", s.Index, s.ZeroTail, err)
		}
	}
	if !s.Anon.Empty() {
		if _, err := m.MM.MMap(uint64(s.Anon.Start), s.Anon.Length(), prot, fixed|unix.MAP_ANONYMOUS, nil, 0); err != nil {
			return fmt.Errorf("segment %d: bss %v: %w", s.Index, s.Anon, err)
		}
	}
	return nil
}

// hwcapFromCPUID is AT_HWCAP on x86-64: CPUID.1:EDX.
func hwcapFromCPUID(entries []kvm.CPUIDEntry) uint64 {
	leaf1, _ := kvm.FindCPUID(entries, 1, 0)
	return uint64(leaf1.EDX)
}
