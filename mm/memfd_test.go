package mm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// memfdWin is the window of this test process's address space where
// TestMemfdMatchesHost maps the host's memfd: memfdSlots slots of
// memfdSlotPages pages each, at the same addresses mm maps its own.
const (
	memfdWin       = 0x7e20_0000_0000
	memfdSlots     = 4
	memfdSlotPages = 8
	memfdSlotSize  = 0x100000
	memfdMaxPages  = 12
)

// memfdPair is one memfd on the host and its twin on mm, and what the
// test mapped of them.
type memfdPair struct {
	t      *testing.T
	r      *rand.Rand
	hostFD int
	s      *SharedMemory
	m      *MemoryManager
	// slot i maps [0, mapped[i]) pages of it, 0 if unmapped.
	mapped [memfdSlots]uint64
}

func slotAddr(i int) uint64 { return memfdWin + uint64(i)*memfdSlotSize }

// TestMemfdMatchesHost runs random operations on a host memfd and on mm's
// (NewMemfd) side by side, shared and private mappings of both at the
// same addresses: ftruncate, pwrite, pread, fallocate (mode 0 and
// PUNCH_HOLE|KEEP_SIZE), mmap at offsets, munmap, and one-byte stores and
// loads through the mappings, where the host decides whether an access is
// SIGBUS (it reaches the test as an error of /proc/self/mem). Every result,
// the contents, the size, the pages backing the object, mincore of every
// mapping and the /proc/self/maps lines of the window must agree.
func TestMemfdMatchesHost(t *testing.T) {
	for seed := range 60 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runMemfdPair(t, int64(seed), 150) })
	}
}

func runMemfdPair(t *testing.T, seed int64, ops int) {
	if got := hostLayoutIn(t, memfdWin, memfdWin+memfdSlots*memfdSlotSize); len(got) != 0 {
		t.Fatalf("the host window is not empty: %v", got)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, memfdWin, memfdSlots*memfdSlotSize, 0)
	m, _, mf := testMM(t, withFaultAround(page))
	fd, err := unix.MemfdCreate("diff", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	p := &memfdPair{t: t, r: rand.New(rand.NewSource(seed)), hostFD: fd, s: NewMemfd(mf, "diff", unix.F_SEAL_SEAL), m: m}
	t.Cleanup(func() {
		for i := range memfdSlots {
			m.MUnmap(slotAddr(i), memfdSlotSize)
		}
		p.s.DecRef()
	})
	var done []string
	for i := range ops {
		what := p.step()
		done = append(done, what)
		if t.Failed() {
			t.Fatalf("seed %d op %d (%s) differs after:\n%s", seed, i, what, strings.Join(done, "\n"))
		}
		if err := m.CheckInvariants(); err != nil {
			t.Fatalf("seed %d op %d (%s): %v", seed, i, what, err)
		}
	}
}

// step performs one random operation on both and compares; it returns
// what it did.
func (p *memfdPair) step() string {
	r := p.r
	switch r.Intn(11) {
	case 0:
		size := uint64(r.Intn(memfdMaxPages+1)) * page
		if r.Intn(2) == 0 {
			size += uint64(r.Intn(page))
		}
		he := errnoOf(unix.Ftruncate(p.hostFD, int64(size)))
		me := errnoOf(p.s.Truncate(size))
		p.equal("ftruncate", he, me)
		return fmt.Sprintf("ftruncate %#x", size)
	case 1, 2:
		i := r.Intn(memfdSlots)
		pages := uint64(1 + r.Intn(memfdSlotPages))
		off := uint64(r.Intn(memfdMaxPages-int(pages)+2)) * page
		flags := uint64(unix.MAP_SHARED)
		if r.Intn(3) == 0 {
			flags = unix.MAP_PRIVATE
		}
		flags |= unix.MAP_FIXED
		addr := slotAddr(i)
		hr, _, he := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(pages*page), rw, uintptr(flags), uintptr(p.hostFD), uintptr(off))
		mr, err := p.m.MMap(addr, pages*page, rw, flags, &MappedFile{Mappable: p.s, Identity: p.s, Readable: true, Writable: true}, off)
		p.equal("mmap", fmt.Sprint(uint64(hr), he), fmt.Sprint(uint64(mr), errnoOf(err)))
		if he == 0 {
			// Clear the rest of the slot on both.
			unix.Syscall(unix.SYS_MUNMAP, uintptr(addr+pages*page), uintptr(memfdSlotSize-pages*page), 0)
			p.m.MUnmap(addr+pages*page, memfdSlotSize-pages*page)
			p.mapped[i] = pages
		}
		return fmt.Sprintf("mmap slot %d %d pages at %#x flags %#x", i, pages, off, flags)
	case 3:
		i := r.Intn(memfdSlots)
		_, _, he := unix.Syscall(unix.SYS_MUNMAP, uintptr(slotAddr(i)), memfdSlotSize, 0)
		me := errnoOf(p.m.MUnmap(slotAddr(i), memfdSlotSize))
		p.equal("munmap", he, me)
		p.mapped[i] = 0
		return fmt.Sprintf("munmap slot %d", i)
	case 4, 5:
		i := r.Intn(memfdSlots)
		if p.mapped[i] == 0 {
			return "nothing"
		}
		addr := slotAddr(i) + uint64(r.Intn(int(p.mapped[i]*page)))
		write, b := r.Intn(2) == 0, byte(1+r.Intn(255))
		hostOK := hostMemAccess(addr, write, b)
		// The guest's access: its page fault first, as the vCPU
		// would take it, then the byte.
		buf := []byte{b}
		at := arch.Read
		if write {
			at = arch.Write
		}
		err := p.m.HandleUserFault(arch.Addr(addr), at)
		var fe *FaultError
		if err != nil && (!errors.As(err, &fe) || fe.Signal != unix.SIGBUS) {
			p.t.Errorf("mm fault at %#x: %v, not SIGBUS", addr, err)
		}
		if err == nil && write {
			_, err = p.m.CopyOut(arch.Addr(addr), buf, IOOpts{})
		} else if err == nil {
			_, err = p.m.CopyIn(arch.Addr(addr), buf, IOOpts{})
		}
		p.equal("access", hostOK.ok, err == nil)
		if !write && hostOK.ok {
			p.equal("loaded byte", hostOK.b, buf[0])
		}
		return fmt.Sprintf("access %#x write %v", addr, write)
	case 6:
		off := uint64(r.Intn(memfdMaxPages * page))
		b := make([]byte, r.Intn(2*page))
		r.Read(b)
		hn, herr := unix.Pwrite(p.hostFD, b, int64(off))
		mn, merr := p.s.WriteAt(b, off)
		p.equal("pwrite", fmt.Sprint(max(hn, 0), errnoOf(herr)), fmt.Sprint(mn, errnoOf(merr)))
		return fmt.Sprintf("pwrite %#x+%#x", off, len(b))
	case 7:
		mode := []uint32{0, unix.FALLOC_FL_KEEP_SIZE, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE}[r.Intn(3)]
		off, length := uint64(r.Intn(memfdMaxPages*page)), uint64(1+r.Intn(4*page))
		he := errnoOf(unix.Fallocate(p.hostFD, mode, int64(off), int64(length)))
		var me unix.Errno
		if mode&unix.FALLOC_FL_PUNCH_HOLE == 0 {
			me = errnoOf(p.s.Allocate(off, length, mode != 0))
		} else {
			me = errnoOf(p.s.PunchHole(off, length))
		}
		p.equal("fallocate", he, me)
		return fmt.Sprintf("fallocate %d %#x+%#x", mode, off, length)
	case 8:
		off := uint64(r.Intn((memfdMaxPages + 1) * page))
		whence := []int{unix.SEEK_DATA, unix.SEEK_HOLE}[r.Intn(2)]
		hn, herr := unix.Seek(p.hostFD, int64(off), whence)
		mn, merr := p.s.SeekData(off, whence == unix.SEEK_HOLE)
		if herr != nil {
			hn = 0
		}
		p.equal("lseek", fmt.Sprint(hn, errnoOf(herr)), fmt.Sprint(mn, errnoOf(merr)))
		return fmt.Sprintf("lseek %#x whence %d", off, whence)
	default:
		p.compareState()
		return "compare"
	}
}

// hostAccess is the outcome of one access on the host.
type hostAccess struct {
	ok bool
	b  byte
}

// hostMemAccess loads or stores one byte at addr through /proc/self/mem,
// so that SIGBUS is an error rather than a crash of the test.
func hostMemAccess(addr uint64, write bool, b byte) hostAccess {
	fd, err := unix.Open("/proc/self/mem", unix.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fd)
	buf := []byte{b}
	if write {
		_, err = unix.Pwrite(fd, buf, int64(addr))
	} else {
		_, err = unix.Pread(fd, buf, int64(addr))
	}
	return hostAccess{ok: err == nil, b: buf[0]}
}

func (p *memfdPair) equal(what string, host, mm any) {
	p.t.Helper()
	if host != mm {
		p.t.Errorf("%s: host %v, mm %v", what, host, mm)
	}
}

// compareState compares the size, the pages backing the object, the
// contents, mincore of every mapping and the maps lines of the window.
func (p *memfdPair) compareState() {
	var st unix.Stat_t
	if err := unix.Fstat(p.hostFD, &st); err != nil {
		p.t.Fatal(err)
	}
	p.equal("size", uint64(st.Size), p.s.Size())
	p.equal("backed bytes", uint64(st.Blocks)*512, p.s.Blocks())
	want := make([]byte, memfdMaxPages*page+2*page)
	got := make([]byte, len(want))
	hn, _ := unix.Pread(p.hostFD, want, 0)
	mn, _ := p.s.ReadAt(got, 0)
	if hn != mn || !bytes.Equal(want[:max(hn, 0)], got[:mn]) {
		p.t.Errorf("contents differ: host %d bytes, mm %d", hn, mn)
	}
	for i := range memfdSlots {
		n := p.mapped[i]
		if n == 0 {
			continue
		}
		hv, mv := make([]byte, n), make([]byte, n)
		unix.Syscall(unix.SYS_MINCORE, uintptr(slotAddr(i)), uintptr(n*page), uintptr(unsafe.Pointer(&hv[0])))
		if err := p.m.MinCore(slotAddr(i), n*page, mv); err != nil {
			p.t.Errorf("mincore: %v", err)
		}
		for j := range hv {
			hv[j] &= 1
		}
		p.equal(fmt.Sprintf("mincore of slot %d", i), fmt.Sprint(hv), fmt.Sprint(mv))
	}
	h, g := hostMapsLines(p.t, memfdWin, memfdWin+memfdSlots*memfdSlotSize), p.mmMapsLines()
	if !slices.Equal(h, g) {
		p.t.Errorf("maps differ:\nhost %s\nmm   %s", strings.Join(h, "\n     "), strings.Join(g, "\n     "))
	}
}

// hostMapsLines returns the host's maps lines within [lo, hi) as "start-end
// perms offset name", the inode and device left out.
func hostMapsLines(t *testing.T, lo, hi uint64) []string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		var start, end uint64
		if len(fields) < 6 {
			continue
		}
		if _, err := fmt.Sscanf(fields[0], "%x-%x", &start, &end); err != nil || start >= hi || end <= lo {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", fields[0], fields[1], fields[2], strings.Join(fields[5:], " ")))
	}
	return out
}

func (p *memfdPair) mmMapsLines() []string {
	var out []string
	for _, v := range p.m.VMAs() {
		s := "p"
		if v.Shared {
			s = "s"
		}
		out = append(out, fmt.Sprintf("%x-%x %s%s %08x %s", uint64(v.Range.Start), uint64(v.Range.End), v.Perms, s, v.Offset, v.Name))
	}
	return out
}

// TestMemfdAllocateFailureUndoes checks that a fallocate larger than the
// MemoryFile fails with ENOSPC and leaves behind no page it took, nor a
// new size, as shmem's undo does.
func TestMemfdAllocateFailureUndoes(t *testing.T) {
	_, _, mf := testMM(t)
	s := NewMemfd(mf, "big", 0)
	defer s.DecRef()
	if _, err := s.WriteAt([]byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	before := mf.Stats().Allocated
	if err := s.Allocate(0, 1<<40, false); errnoOf(err) != unix.ENOSPC {
		t.Fatalf("Allocate of 1 TiB: %v, want ENOSPC", err)
	}
	if got := mf.Stats().Allocated; got != before {
		t.Errorf("%d bytes allocated after the failed Allocate, %d before", got, before)
	}
	if s.Size() != 4 || s.Blocks() != page {
		t.Errorf("size %d blocks %d after the failed Allocate, want 4 and a page", s.Size(), s.Blocks())
	}
	b := make([]byte, 4)
	if n, _ := s.ReadAt(b, 0); n != 4 || string(b) != "kept" {
		t.Errorf("contents %q after the failed Allocate", b[:n])
	}
}
