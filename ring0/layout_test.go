package ring0

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

const (
	testPhys = 0x20_0000
	testVirt = arch.Addr(0xffff_ffff_8000_0000)
)

func newTestKernel(t *testing.T, userPorts bool, f CPUFeatures) (*Kernel, []byte) {
	t.Helper()
	mem := make([]byte, RegionSize)
	k, err := New(Config{Mem: mem, Phys: testPhys, Virt: testVirt, Features: f, UserPorts: userPorts})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k, mem
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Config{Mem: make([]byte, RegionSize), Phys: testPhys, Virt: testVirt}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"short region", func(c *Config) { c.Mem = c.Mem[:RegionSize-1] }},
		{"nil region", func(c *Config) { c.Mem = nil }},
		{"unaligned phys", func(c *Config) { c.Phys += 8 }},
		{"phys overflows", func(c *Config) { c.Phys = ^uint64(0) &^ arch.PageMask }},
		{"unaligned virt", func(c *Config) { c.Virt += 0x10 }},
		{"lower-half virt", func(c *Config) { c.Virt = 0x4000_0000 }},
		{"non-canonical virt", func(c *Config) { c.Virt = 0x0000_8000_0000_0000 }},
		{"virt overflows", func(c *Config) { c.Virt = ^arch.Addr(0) &^ arch.PageMask }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Mem = make([]byte, RegionSize)
			tc.edit(&c)
			k, err := New(c)
			if !errors.Is(err, ErrConfig) || k != nil {
				t.Fatalf("New = %v, %v; want nil, ErrConfig", k, err)
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	// A larger region is fine; ring0 uses only RegionSize bytes of it.
	big := good
	big.Mem = make([]byte, 4*RegionSize)
	for i := range big.Mem {
		big.Mem[i] = 0x5A
	}
	if _, err := New(big); err != nil {
		t.Fatalf("larger region: %v", err)
	}
	for i, b := range big.Mem[RegionSize:] {
		if b != 0x5A {
			t.Fatalf("New wrote past RegionSize at %#x", RegionSize+i)
		}
	}
}

func TestLayoutAreas(t *testing.T) {
	for _, userPorts := range []bool{false, true} {
		k, _ := newTestKernel(t, userPorts, CPUFeatures{})
		l := k.Layout()
		areas := []struct {
			name string
			a    Area
			page uint64
		}{{"GDT", l.GDT, 0}, {"TSS", l.TSS, 0}, {"IDT", l.IDT, 0}, {"code", l.Code, 1}, {"stacks", l.Stacks, 2}}
		for i, x := range areas {
			if x.a.Size == 0 || x.a.Offset/arch.PageSize != x.page || (x.a.Offset+x.a.Size-1)/arch.PageSize != x.page {
				t.Errorf("%s %+v not inside page %d", x.name, x.a, x.page)
			}
			for _, y := range areas[i+1:] {
				if x.a.Offset < y.a.Offset+y.a.Size && y.a.Offset < x.a.Offset+x.a.Size {
					t.Errorf("%s %+v overlaps %s %+v", x.name, x.a, y.name, y.a)
				}
			}
		}
		if l.GDT.Offset%8 != 0 || l.IDT.Offset%16 != 0 || l.TSS.Offset%16 != 0 {
			t.Errorf("tables misaligned: GDT %#x IDT %#x TSS %#x", l.GDT.Offset, l.IDT.Offset, l.TSS.Offset)
		}
		if l.PhysOf(0x123) != testPhys+0x123 || l.VirtOf(0x123) != testVirt+0x123 || l.Size != RegionSize {
			t.Errorf("address translation: %#x %v %d", l.PhysOf(0x123), l.VirtOf(0x123), l.Size)
		}
		// Every stack top is 16-byte aligned, inside the stacks area,
		// and the stacks are disjoint and at least one error-code frame deep.
		tops := append([]arch.Addr{l.RSP0}, l.IST[:numIST]...)
		lo := l.VirtOf(l.Stacks.Offset)
		prev := lo
		for i, top := range tops {
			if top%16 != 0 || top <= prev || top-prev < frameSize+errorCodeSize || top > lo+arch.Addr(l.Stacks.Size) {
				t.Errorf("stack %d top %v (previous %v) badly placed", i, top, prev)
			}
			prev = top
		}
		for i, top := range l.IST[numIST:] {
			if top != 0 {
				t.Errorf("unused IST%d = %v, want 0", numIST+i+1, top)
			}
		}
		// Mappings and the trampoline cover the region exactly once, with W^X.
		var next uint64
		for _, m := range append(l.Mappings(), l.TrampolineMapping()) {
			if m.Offset != next || m.Size%arch.PageSize != 0 || (m.Access.Write && m.Access.Execute) || !m.Access.Read {
				t.Errorf("mapping %+v (expected offset %#x)", m, next)
			}
			next = m.Offset + m.Size
		}
		if next != RegionSize {
			t.Errorf("mappings end at %#x, want %#x", next, RegionSize)
		}
	}
}

func TestMappingPermissions(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	inside := func(m Mapping, a Area) bool { return a.Offset >= m.Offset && a.Offset+a.Size <= m.Offset+m.Size }
	for _, tc := range []struct {
		name string
		a    Area
		want arch.AccessType
	}{
		{"GDT", l.GDT, arch.Read},
		{"IDT", l.IDT, arch.Read},
		{"TSS", l.TSS, arch.Read},
		{"code", l.Code, arch.AccessType{Read: true, Execute: true}},
		{"stacks", l.Stacks, arch.ReadWrite},
	} {
		found := false
		for _, m := range l.Mappings() {
			if inside(m, tc.a) {
				found = true
				if m.Access != tc.want {
					t.Errorf("%s mapped %v, want %v", tc.name, m.Access, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("%s not covered by one mapping", tc.name)
		}
	}
}

func TestTSS(t *testing.T) {
	for _, userPorts := range []bool{false, true} {
		k, mem := newTestKernel(t, userPorts, CPUFeatures{})
		l := k.Layout()
		tss := mem[l.TSS.Offset:]
		u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(tss[off:]) }
		if got := u64(4); got != uint64(l.RSP0) {
			t.Errorf("TSS.RSP0 = %#x, want %v", got, l.RSP0)
		}
		if u64(12) != 0 || u64(20) != 0 {
			t.Errorf("RSP1/RSP2 not zero")
		}
		for i := range 7 {
			if got := u64(36 + 8*i); got != uint64(l.IST[i]) {
				t.Errorf("TSS.IST%d = %#x, want %v", i+1, got, l.IST[i])
			}
		}
		iomap := binary.LittleEndian.Uint16(tss[102:])
		if iomap != 104 {
			t.Errorf("I/O map base %d, want 104", iomap)
		}
		// The I/O bitmap is always there (SetSyscallPath may open a port).
		wantLimit := uint32(104 + 32 + 1 - 1)
		if l.TSSLimit != wantLimit || uint64(l.TSSLimit)+1 != l.TSS.Size {
			t.Errorf("TSS limit %d size %d, want limit %d", l.TSSLimit, l.TSS.Size, wantLimit)
		}
		// The GDT's TSS descriptor agrees with the layout and with TR.
		lo := binary.LittleEndian.Uint64(mem[l.GDT.Offset+TSSSelector:])
		hi := binary.LittleEndian.Uint64(mem[l.GDT.Offset+TSSSelector+8:])
		f := decodeDesc(lo)
		if base := f.base | hi<<32; base != uint64(l.VirtOf(l.TSS.Offset)) || f.rawLimit != l.TSSLimit || f.typ != typeTSS64Busy || f.s != 0 || f.p != 1 {
			t.Errorf("TSS descriptor %+v base %#x", f, f.base|hi<<32)
		}
	}
}

func TestAvailableTSS(t *testing.T) {
	for _, avail := range []bool{false, true} {
		mem := make([]byte, RegionSize)
		k, err := New(Config{Mem: mem, Phys: testPhys, Virt: testVirt, AvailableTSS: avail})
		if err != nil {
			t.Fatal(err)
		}
		want := uint8(0xB)
		if avail {
			want = 0x9
		}
		f := decodeDesc(binary.LittleEndian.Uint64(mem[k.Layout().GDT.Offset+TSSSelector:]))
		if tr := k.UserSpecialRegisters(0).TR; tr.Type != want || f.typ != want {
			t.Errorf("AvailableTSS=%v: TR type %#x, GDT type %#x, want %#x", avail, tr.Type, f.typ, want)
		}
	}
}

// ioAllowed models the CPU's I/O permission check at CPL 3 with IOPL 0 (SDM
// vol. 1, 19.5.2): read the 16-bit word holding the port's bits at the I/O
// map base plus port/8; past the TSS limit, or any bit set, the access faults.
func ioAllowed(mem []byte, tssOff uint64, limit uint32, port uint16, size int) bool {
	base := uint64(binary.LittleEndian.Uint16(mem[tssOff+102:]))
	at := base + uint64(port)/8
	if at+1 > uint64(limit) {
		return false
	}
	word := binary.LittleEndian.Uint16(mem[tssOff+at:])
	mask := uint16(1<<size-1) << (port % 8)
	return word&mask == 0
}

func TestIOBitmap(t *testing.T) {
	for _, userPorts := range []bool{false, true} {
		k, mem := newTestKernel(t, userPorts, CPUFeatures{})
		l := k.Layout()
		for port := range 0x400 {
			want := userPorts && port >= PortUserFirst && port <= PortUserLast
			if got := ioAllowed(mem, l.TSS.Offset, l.TSSLimit, uint16(port), 1); got != want {
				t.Errorf("userPorts=%v: CPL 3 out to port %#x allowed=%v, want %v", userPorts, port, got, want)
			}
		}
		// The protocol's ring-0 ports are never reachable from user mode.
		for _, p := range []uint16{PortVectorBase, PortVectorBase + NumVectors - 1, PortSyscall} {
			if ioAllowed(mem, l.TSS.Offset, l.TSSLimit, p, 1) {
				t.Errorf("user mode may out to ring-0 port %#x", p)
			}
		}
		// A 2-byte access straddling the end of the user range faults.
		if ioAllowed(mem, l.TSS.Offset, l.TSSLimit, PortUserLast, 2) {
			t.Errorf("2-byte access at the last user port allowed")
		}
	}
}

func TestIDT(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	l := k.Layout()
	for v := Vector(0); v < NumVectors; v++ {
		lo := binary.LittleEndian.Uint64(mem[l.IDT.Offset+uint64(v)*16:])
		hi := binary.LittleEndian.Uint64(mem[l.IDT.Offset+uint64(v)*16+8:])
		off := lo&0xFFFF | (lo>>48)<<16 | hi<<32
		sel, ist, typ, dpl, p := lo>>16&0xFFFF, lo>>32&7, lo>>40&0xF, lo>>45&3, lo>>47&1
		wantIST := map[Vector]uint64{DoubleFault: 1, NMI: 2, MachineCheck: 3, Debug: 4}[v]
		wantDPL := uint64(0)
		if v == Breakpoint {
			wantDPL = 3
		}
		if off != uint64(l.VectorEntry[v]) || sel != KernelCodeSelector || ist != wantIST || typ != 0xE || dpl != wantDPL || p != 1 {
			t.Errorf("gate %v: offset %#x sel %#x ist %d type %#x dpl %d p %d", v, off, sel, ist, typ, dpl, p)
		}
		// The gate leads to code whose first instruction exits on v's port.
		code := mem[uint64(l.VectorEntry[v]-l.Virt):]
		if code[0] != 0xE6 || uint16(code[1]) != VectorPort(v) {
			t.Errorf("vector %v entry starts % x, want out %#x, al", v, code[:2], VectorPort(v))
		}
	}
	if k.UserSpecialRegisters(0).IDT.Limit != NumVectors*16-1 {
		t.Errorf("IDT limit %d", k.UserSpecialRegisters(0).IDT.Limit)
	}
}

func TestVectorTable(t *testing.T) {
	withError := map[Vector]bool{8: true, 10: true, 11: true, 12: true, 13: true, 14: true, 17: true, 21: true, 29: true, 30: true}
	seen := map[string]bool{}
	for v := Vector(0); v < NumVectors; v++ {
		if v.HasErrorCode() != withError[v] {
			t.Errorf("%v HasErrorCode = %v", v, v.HasErrorCode())
		}
		if v.Mnemonic() == "" || v.Name() == "" || seen[v.Mnemonic()] {
			t.Errorf("vector %d: mnemonic %q name %q", uint8(v), v.Mnemonic(), v.Name())
		}
		seen[v.Mnemonic()] = true
		if v.UserCallable() && v.HasErrorCode() {
			t.Errorf("%v is user-callable but has an error code", v)
		}
	}
	if PageFault.String() != "#PF (page fault)" || GeneralProtection.Mnemonic() != "#GP" {
		t.Errorf("names: %q %q", PageFault.String(), GeneralProtection.Mnemonic())
	}
	if Vector(40).Valid() || Vector(40).HasErrorCode() || Vector(40).String() != "vector 40" {
		t.Errorf("vector 40: %q", Vector(40).String())
	}
}
