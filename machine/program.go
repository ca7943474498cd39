package machine

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/loader"
	"github.com/mmvm/mmvm/mm"
	"github.com/mmvm/mmvm/syscalls"
)

// LoadProgram loads the static ELF executable at path into the first
// process's (empty) address space and sets the user context at its entry
// point (loadImage). Where a view shows the program, the guest knows it
// by its path there (its exe link, maps, task name and AT_EXECFN), never
// by the host's; else by path, made absolute, where the guest sees it.
func (m *Machine) LoadProgram(path string, argv, envv []string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	prog := syscalls.ExecProgram{Filename: path, GuestPath: abs, HostPath: abs}
	if g, ok := m.Process.GuestPathOf(abs); ok {
		prog.Filename, prog.GuestPath = g, g
	}
	return m.loadFirst(prog, argv, envv)
}

// LoadProgramAt loads the static ELF executable at path as LoadProgram
// does, but the guest knows it by guestPath (absolute), where it sees the
// file, and is told filename as AT_EXECFN: the mmvm inside the QEMU guest
// runs its copy of a program this way, under the program's own path
// outside.
func (m *Machine) LoadProgramAt(path, guestPath, filename string, argv, envv []string) error {
	if !filepath.IsAbs(guestPath) {
		return fmt.Errorf("loading %s: the guest path %q is not absolute", path, guestPath)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return m.loadFirst(syscalls.ExecProgram{Filename: filename, GuestPath: filepath.Clean(guestPath), HostPath: abs}, argv, envv)
}

// loadFirst loads prog as the first process's program.
func (m *Machine) loadFirst(prog syscalls.ExecProgram, argv, envv []string) error {
	m.Process.SetExecutable(prog.GuestPath, prog.HostPath)
	m.Process.SetCommandLine(argv)
	m.Process.SetEnvironment(envv)
	entry, sp, err := m.loadImage(m.first.mem.Load(), m.Process, prog, argv, envv)
	if err != nil {
		return err
	}
	return m.SetUserContext(entry, sp)
}

// loadImage loads the static ELF executable prog into mem's (empty)
// address space, for process sys, and returns where it starts: each
// PT_LOAD segment a private copy-on-write mapping of the image, the bss
// zeroed, the break after the highest segment, the vDSO, and the stack
// holding argv, envv and the auxiliary vector per the SysV x86-64 ABI,
// AT_EXECFN prog's Filename.
func (m *Machine) loadImage(mem *processMemory, sys *syscalls.Process, prog syscalls.ExecProgram, argv, envv []string) (entry, sp arch.Addr, err error) {
	file, plan, release, err := m.openProgram(sys, prog)
	if err != nil {
		return 0, 0, err
	}
	// mm takes its own reference for each mapping; ours goes at the end.
	defer release()
	path := prog.GuestPath
	mmgr := mem.mm
	var dataSeg arch.AddrRange
	for i := range plan.Segments {
		if err := mapSegment(mmgr, &plan.Segments[i], file); err != nil {
			return 0, 0, fmt.Errorf("loading %s: %w", path, err)
		}
		if s := plan.Segments[i]; s.Perms.Write && dataSeg.Empty() {
			dataSeg = s.Mapped
		}
	}
	mmgr.BrkSetup(plan.BrkStart, dataSeg)
	// The vDSO first: the stack's image holds its address, and the
	// stack's size depends on the image's strings, as Linux's does.
	vdsoAddr, err := m.mapVDSO(mmgr)
	if err != nil {
		return 0, 0, fmt.Errorf("loading %s: %w", path, err)
	}
	spec := loader.StackSpec{Argv: argv, Envv: envv, ExecFn: prog.Filename, HWCap: m.hwcap, StackLimit: mmgr.Limits().Stack, SysinfoEHdr: vdsoAddr}
	if _, err := rand.Read(spec.Random[:]); err != nil {
		return 0, 0, fmt.Errorf("loading %s: AT_RANDOM: %w", path, err)
	}
	stack, err := loader.BuildStack(plan, spec, mmgr.Layout().StackTop)
	if err != nil {
		return 0, 0, fmt.Errorf("loading %s: %w", path, err)
	}
	stackRange, err := mmgr.MapStackArgs(stack.StringsStart)
	if err != nil {
		return 0, 0, fmt.Errorf("loading %s: mapping the stack: %w", path, err)
	}
	if plan.ExecStack {
		if err := mmgr.MProtect(uint64(stackRange.Start), stackRange.Length(), unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC|unix.PROT_GROWSDOWN); err != nil {
			return 0, 0, fmt.Errorf("loading %s: making the stack executable: %w", path, err)
		}
	}
	if _, err := mmgr.CopyOut(stack.SP, stack.Image, mm.IOOpts{}); err != nil {
		return 0, 0, fmt.Errorf("loading %s: writing the initial stack: %w", path, err)
	}
	layout := imageLayout(plan, stack, argv, envv)
	mmgr.SetCode(arch.AddrRange{Start: arch.Addr(layout.StartCode), End: arch.Addr(layout.EndCode)})
	sys.SetImageLayout(layout)
	return plan.Entry, stack.SP, nil
}

// imageLayout is where the loaded image lies, as Linux's load_elf_binary
// records it in mm_struct: the text from the lowest start to the highest
// file end of the executable segments, the data from the highest
// segment's start to the highest file end, the break, argc's address, and
// the argument and environment strings (argv[0]'s address on, each with
// its NUL; the loader stores an empty argv as one empty string).
func imageLayout(plan *loader.Plan, stack *loader.Stack, argv, envv []string) syscalls.ImageLayout {
	l := syscalls.ImageLayout{StartCode: ^uint64(0), StartBrk: uint64(plan.BrkStart), StartStack: uint64(stack.SP)}
	for _, s := range plan.Segments {
		start, fileEnd := uint64(s.VAddr), uint64(s.VAddr)+s.FileSize
		if s.Perms.Execute {
			l.StartCode, l.EndCode = min(l.StartCode, start), max(l.EndCode, fileEnd)
		}
		l.StartData, l.EndData = max(l.StartData, start), max(l.EndData, fileEnd)
	}
	if l.StartCode == ^uint64(0) {
		l.StartCode = 0
	}
	for _, a := range stack.Auxv {
		l.Auxv = append(l.Auxv, uint64(a.Type), a.Value)
	}
	if len(argv) == 0 {
		argv = []string{""}
	}
	if off := uint64(stack.ArgvAddr - stack.SP); off+8 <= uint64(len(stack.Image)) {
		l.ArgStart = binary.LittleEndian.Uint64(stack.Image[off:])
	}
	l.ArgEnd = l.ArgStart
	for _, a := range argv {
		l.ArgEnd += uint64(len(a)) + 1
	}
	l.EnvStart, l.EnvEnd = l.ArgEnd, l.ArgEnd
	for _, e := range envv {
		l.EnvEnd += uint64(len(e)) + 1
	}
	return l
}

// openProgram opens what loadImage maps: the host file at prog's
// HostPath, an ImageFile named in /proc/self/maps by the guest path with
// the device and inode the guest's stat shows, or the memfd prog.Shared,
// mapped as itself (maps names it as any mapping of it). release drops
// what openProgram holds once the mappings took theirs.
func (m *Machine) openProgram(sys *syscalls.Process, prog syscalls.ExecProgram) (file *mm.MappedFile, plan *loader.Plan, release func(), err error) {
	if shm := prog.Shared; shm != nil {
		plan, err := loader.Load(sharedReader{shm}, int64(shm.Size()), loader.Options{})
		if err != nil {
			return nil, nil, nil, err
		}
		return &mm.MappedFile{Mappable: shm, Identity: shm, Readable: true}, plan, func() {}, nil
	}
	img, plan, err := loader.OpenImage(prog.HostPath, m.mf, loader.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	id := loader.ImageIdentity{Name: prog.GuestPath}
	var st unix.Stat_t
	if unix.Stat(prog.HostPath, &st) == nil {
		id.Device, id.Inode = sys.FileIdentity(&st)
	}
	img.SetIdentity(id)
	return &mm.MappedFile{Mappable: img, Identity: img, Readable: true}, plan, img.DecRef, nil
}

// sharedReader reads a memfd's contents as an io.ReaderAt, for the ELF
// loader: a read past the end is short, with io.EOF.
type sharedReader struct{ f syscalls.SharedFile }

func (r sharedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := r.f.ReadAt(p, uint64(off))
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// mapSegment maps one PT_LOAD segment as the Plan prescribes.
func mapSegment(mmgr *mm.MemoryManager, s *loader.Segment, file *mm.MappedFile) error {
	prot := uint64(s.Perms.Prot())
	const fixed = unix.MAP_PRIVATE | unix.MAP_FIXED
	if !s.FilePages.Empty() {
		if _, err := mmgr.MMap(uint64(s.FilePages.Start), s.FilePages.Length(), prot, fixed, file, s.Offset); err != nil {
			return fmt.Errorf("segment %d at %v: %w", s.Index, s.FilePages, err)
		}
	}
	if !s.ZeroTail.Empty() {
		if _, err := mmgr.ZeroOut(s.ZeroTail.Start, s.ZeroTail.Length(), mm.IOOpts{IgnorePermissions: true}); err != nil {
			return fmt.Errorf("segment %d: zeroing the bss tail %v: %w", s.Index, s.ZeroTail, err)
		}
	}
	if !s.Anon.Empty() {
		if _, err := mmgr.MMap(uint64(s.Anon.Start), s.Anon.Length(), prot, fixed|unix.MAP_ANONYMOUS, nil, 0); err != nil {
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
