package ring0

import (
	"encoding/binary"
	"testing"
)

// gdtEntry reads the descriptor a selector names from the GDT in memory.
func gdtEntry(t *testing.T, k *Kernel, mem []byte, sel uint16) descFields {
	t.Helper()
	gdtr := k.UserSpecialRegisters(0).GDT
	idx := uint64(sel &^ 7)
	if idx+7 > uint64(gdtr.Limit) {
		t.Fatalf("selector %#x beyond the GDT limit %d", sel, gdtr.Limit)
	}
	off := uint64(k.Layout().GDT.Offset) + idx
	return decodeDesc(binary.LittleEndian.Uint64(mem[off:]))
}

func TestSTARMatchesGDT(t *testing.T) {
	k, mem := newTestKernel(t, false, CPUFeatures{})
	star := k.STAR()
	if star&0xFFFFFFFF != 0 {
		t.Errorf("STAR[31:0] = %#x: the legacy SYSCALL target must be 0", star&0xFFFFFFFF)
	}
	// SYSCALL: CS = STAR[47:32] (RPL 0), SS = STAR[47:32]+8.
	syscallCS := uint16(star >> 32 & 0xFFFF)
	syscallSS := syscallCS + 8
	// SYSRET to 64-bit mode: CS = STAR[63:48]+16, SS = STAR[63:48]+8,
	// both with RPL 3.
	sysretCS := (uint16(star>>48) + 16) | 3
	sysretSS := (uint16(star>>48) + 8) | 3
	if syscallCS != KernelCodeSelector || syscallSS != KernelDataSelector {
		t.Errorf("SYSCALL loads cs %#x ss %#x, want %#x %#x", syscallCS, syscallSS, KernelCodeSelector, KernelDataSelector)
	}
	if sysretCS != UserCodeSelector || sysretSS != UserDataSelector {
		t.Errorf("SYSRET loads cs %#x ss %#x, want %#x %#x", sysretCS, sysretSS, UserCodeSelector, UserDataSelector)
	}
	// And the GDT holds the right kind of segment at each.
	for _, tc := range []struct {
		name     string
		sel      uint16
		code     bool
		dpl      uint8
		longMode uint8
	}{
		{"SYSCALL CS", syscallCS, true, 0, 1},
		{"SYSCALL SS", syscallSS, false, 0, 0},
		{"SYSRET CS", sysretCS, true, 3, 1},
		{"SYSRET SS", sysretSS, false, 3, 0},
	} {
		f := gdtEntry(t, k, mem, tc.sel)
		isCode := f.typ&0x8 != 0
		if f.p != 1 || f.s != 1 || isCode != tc.code || f.dpl != tc.dpl || f.l != tc.longMode || (tc.code && f.db != 0) || (!tc.code && f.typ&0x2 == 0) {
			t.Errorf("%s (%#x): descriptor %+v", tc.name, tc.sel, f)
		}
	}
	if selectorNull != 0 || binary.LittleEndian.Uint64(mem[k.Layout().GDT.Offset:]) != 0 {
		t.Errorf("GDT entry 0 is not null")
	}
}

// The descriptor caches the VM loads through KVM_SET_SREGS must match what
// the CPU would load from the GDT (iretq and SYSRET reload CS and SS from
// it, so a mismatch would change state behind the host's back).
func TestUserSpecialRegistersMatchGDT(t *testing.T) {
	k, mem := newTestKernel(t, true, CPUFeatures{SMEP: true})
	s := k.UserSpecialRegisters(0x1234000)
	for _, tc := range []struct {
		name string
		seg  Segment
	}{{"CS", s.CS}, {"SS", s.SS}, {"DS", s.DS}, {"ES", s.ES}, {"FS", s.FS}, {"GS", s.GS}} {
		f := gdtEntry(t, k, mem, tc.seg.Selector)
		if tc.seg.Selector&3 != 3 || f != decodeDesc(encodeDescriptor(tc.seg)) || f.dpl != 3 {
			t.Errorf("%s %+v disagrees with GDT %+v", tc.name, tc.seg, f)
		}
	}
	if !s.CS.L || s.CS.DB || s.CS.DPL != s.SS.DPL {
		t.Errorf("CS %+v SS %+v: not a 64-bit CPL 3 pair", s.CS, s.SS)
	}
	l := k.Layout()
	if k.TaskRegister() != s.TR {
		t.Errorf("TaskRegister %+v differs from TR %+v", k.TaskRegister(), s.TR)
	}
	if s.TR.Selector != TSSSelector || s.TR.Base != uint64(l.VirtOf(l.TSS.Offset)) || s.TR.Limit != l.TSSLimit || s.TR.Type != 11 || s.TR.S || !s.TR.Present {
		t.Errorf("TR %+v", s.TR)
	}
	if s.GDT.Base != uint64(l.VirtOf(l.GDT.Offset)) || s.GDT.Limit != GDTSize-1 || uint64(s.GDT.Limit)+1 > l.IDT.Offset-l.GDT.Offset {
		t.Errorf("GDTR %+v", s.GDT)
	}
	if s.IDT.Base != uint64(l.VirtOf(l.IDT.Offset)) || uint64(s.IDT.Limit)+1 != l.IDT.Size {
		t.Errorf("IDTR %+v", s.IDT)
	}
	if s.CR3 != 0x1234000 || s.CR0 != k.CR0() || s.CR4 != k.CR4() || s.EFER != k.EFER() {
		t.Errorf("control registers %+v", s)
	}
	if s.LDT.Type != 2 || s.LDT.S || !s.LDT.Unusable || s.LDT.Present || s.LDT.Base != 0 || s.LDT.Limit != 0 || s.LDT.Selector != 0 {
		t.Errorf("LDT %+v", s.LDT)
	}
}

func TestControlRegisters(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	if cr0 := k.CR0(); cr0 != 0x80050033 {
		t.Errorf("CR0 = %#x, want PE|MP|ET|NE|WP|AM|PG = 0x80050033", cr0)
	}
	if efer := k.EFER(); efer != 0xD01 {
		t.Errorf("EFER = %#x, want SCE|LME|LMA|NXE = 0xd01", efer)
	}
	base := uint64(1<<5 | 1<<6 | 1<<7 | 1<<9 | 1<<10)
	for _, tc := range []struct {
		f    CPUFeatures
		want uint64
	}{
		{CPUFeatures{}, base},
		{CPUFeatures{SMEP: true}, base | 1<<20},
		{CPUFeatures{SMAP: true}, base | 1<<21},
		{CPUFeatures{UMIP: true}, base | 1<<11},
		{CPUFeatures{FSGSBASE: true}, base | 1<<16},
		{CPUFeatures{XSAVE: true}, base | 1<<18},
		{CPUFeatures{SMEP: true, SMAP: true, UMIP: true, FSGSBASE: true, XSAVE: true}, base | 1<<20 | 1<<21 | 1<<11 | 1<<16 | 1<<18},
	} {
		k, _ := newTestKernel(t, false, tc.f)
		if got := k.CR4(); got != tc.want {
			t.Errorf("features %+v: CR4 = %#x, want %#x", tc.f, got, tc.want)
		}
		if k.Features() != tc.f {
			t.Errorf("Features() = %+v", k.Features())
		}
	}
}

func TestFeaturesFromCPUID(t *testing.T) {
	for _, tc := range []struct {
		l1ecx, l7ebx, l7ecx uint32
		want                CPUFeatures
	}{
		{0, 0, 0, CPUFeatures{}},
		{1 << 26, 0, 0, CPUFeatures{XSAVE: true}},
		{0, 1 << 7, 0, CPUFeatures{SMEP: true}},
		{0, 1 << 20, 0, CPUFeatures{SMAP: true}},
		{0, 1, 0, CPUFeatures{FSGSBASE: true}},
		{0, 0, 1 << 2, CPUFeatures{UMIP: true}},
		{^uint32(0), ^uint32(0), ^uint32(0), CPUFeatures{SMEP: true, SMAP: true, UMIP: true, FSGSBASE: true, XSAVE: true}},
	} {
		if got := FeaturesFromCPUID(tc.l1ecx, tc.l7ebx, tc.l7ecx); got != tc.want {
			t.Errorf("FeaturesFromCPUID(%#x, %#x, %#x) = %+v, want %+v", tc.l1ecx, tc.l7ebx, tc.l7ecx, got, tc.want)
		}
	}
}

func TestMSRs(t *testing.T) {
	k, _ := newTestKernel(t, false, CPUFeatures{})
	got := map[uint32]uint64{}
	for _, m := range k.MSRs() {
		if _, dup := got[m.Index]; dup {
			t.Errorf("MSR %#x listed twice", m.Index)
		}
		got[m.Index] = m.Value
	}
	entry := uint64(k.Layout().SyscallEntry)
	for idx, want := range map[uint32]uint64{
		0xC0000081: 0x0013_0008_0000_0000,
		0xC0000082: entry,
		0xC0000083: entry,
		0xC0000084: 1<<8 | 1<<9 | 1<<10 | 3<<12 | 1<<14 | 1<<16 | 1<<18,
		0xC0000102: 0,
		0x174:      0,
	} {
		if v, ok := got[idx]; !ok || v != want {
			t.Errorf("MSR %#x = %#x (present %v), want %#x", idx, v, ok, want)
		}
	}
	if UserRFLAGS&SyscallFlagMask != RFLAGSIF || UserRFLAGS&RFLAGSIOPL != 0 {
		t.Errorf("UserRFLAGS %#x", UserRFLAGS)
	}
}

func TestIsAMD(t *testing.T) {
	vendor := func(s string) (ebx, ecx, edx uint32) {
		le := func(b string) uint32 { return binary.LittleEndian.Uint32([]byte(b)) }
		return le(s[0:4]), le(s[8:12]), le(s[4:8])
	}
	for _, tc := range []struct {
		vendor string
		amd    bool
	}{{"AuthenticAMD", true}, {"GenuineIntel", false}, {"HygonGenuine", false}, {"TCGTCGTCGTCG", false}} {
		if got := IsAMD(vendor(tc.vendor)); got != tc.amd {
			t.Errorf("IsAMD(%q) = %v", tc.vendor, got)
		}
	}
}
