package kvm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/mmvm/mmvm/internal/cfacts"
)

// abiFact is one number of the kernel ABI: a size, an offset or an ioctl
// request, as C spells it and as our Go mirror computes it.
type abiFact struct {
	c   string // a C expression
	goV uint64
}

var (
	run0 runData
	regs Regs
	sreg Sregs
	fpu  FPU
	ev   VCPUEvents
	ent  CPUIDEntry
	xcrs XCRs
	tr   Translation
	umr  userspaceMemoryRegion
	io0  ioExitData
	mm0  mmioExitData
	fe0  failEntryData
	ie0  internalErrorData
	ex0  exceptionData
	se0  systemEventData
	msr0 msrExitData
	seg  Segment
	dt   DTable
)

// abiFacts lists what must match the kernel headers byte for byte.
var abiFacts = []abiFact{
	{"sizeof(struct kvm_regs)", uint64(unsafe.Sizeof(regs))},
	{"offsetof(struct kvm_regs, rip)", uint64(unsafe.Offsetof(regs.RIP))},
	{"offsetof(struct kvm_regs, rflags)", uint64(unsafe.Offsetof(regs.RFLAGS))},
	{"offsetof(struct kvm_regs, r15)", uint64(unsafe.Offsetof(regs.R15))},
	{"sizeof(struct kvm_segment)", uint64(unsafe.Sizeof(seg))},
	{"offsetof(struct kvm_segment, selector)", uint64(unsafe.Offsetof(seg.Selector))},
	{"offsetof(struct kvm_segment, unusable)", uint64(unsafe.Offsetof(seg.Unusable))},
	{"sizeof(struct kvm_dtable)", uint64(unsafe.Sizeof(dt))},
	{"sizeof(struct kvm_sregs)", uint64(unsafe.Sizeof(sreg))},
	{"offsetof(struct kvm_sregs, ss)", uint64(unsafe.Offsetof(sreg.SS))},
	{"offsetof(struct kvm_sregs, gdt)", uint64(unsafe.Offsetof(sreg.GDT))},
	{"offsetof(struct kvm_sregs, idt)", uint64(unsafe.Offsetof(sreg.IDT))},
	{"offsetof(struct kvm_sregs, cr0)", uint64(unsafe.Offsetof(sreg.CR0))},
	{"offsetof(struct kvm_sregs, cr2)", uint64(unsafe.Offsetof(sreg.CR2))},
	{"offsetof(struct kvm_sregs, efer)", uint64(unsafe.Offsetof(sreg.EFER))},
	{"offsetof(struct kvm_sregs, interrupt_bitmap)", uint64(unsafe.Offsetof(sreg.InterruptBitmap))},
	{"sizeof(struct kvm_fpu)", uint64(unsafe.Sizeof(fpu))},
	{"offsetof(struct kvm_fpu, last_ip)", uint64(unsafe.Offsetof(fpu.LastIP))},
	{"offsetof(struct kvm_fpu, xmm)", uint64(unsafe.Offsetof(fpu.XMM))},
	{"offsetof(struct kvm_fpu, mxcsr)", uint64(unsafe.Offsetof(fpu.MXCSR))},
	{"sizeof(struct kvm_msr_entry)", uint64(unsafe.Sizeof(MSR{}))},
	{"sizeof(struct kvm_msrs)", 8},
	{"sizeof(struct kvm_cpuid_entry2)", uint64(unsafe.Sizeof(ent))},
	{"offsetof(struct kvm_cpuid_entry2, edx)", uint64(unsafe.Offsetof(ent.EDX))},
	{"sizeof(struct kvm_cpuid2)", 8},
	{"sizeof(struct kvm_xcrs)", uint64(unsafe.Sizeof(xcrs))},
	{"offsetof(struct kvm_xcrs, xcrs)", uint64(unsafe.Offsetof(xcrs.XCRs))},
	{"sizeof(struct kvm_xsave)", xsaveLegacySize},
	{"sizeof(struct kvm_vcpu_events)", uint64(unsafe.Sizeof(ev))},
	{"offsetof(struct kvm_vcpu_events, sipi_vector)", uint64(unsafe.Offsetof(ev.SIPIVector))},
	{"offsetof(struct kvm_vcpu_events, smi)", uint64(unsafe.Offsetof(ev.SMI))},
	{"offsetof(struct kvm_vcpu_events, triple_fault)", uint64(unsafe.Offsetof(ev.TripleFaultPending))},
	{"offsetof(struct kvm_vcpu_events, exception_has_payload)", uint64(unsafe.Offsetof(ev.ExceptionHasPayload))},
	{"offsetof(struct kvm_vcpu_events, exception_payload)", uint64(unsafe.Offsetof(ev.ExceptionPayload))},
	{"sizeof(struct kvm_translation)", uint64(unsafe.Sizeof(tr))},
	{"sizeof(struct kvm_userspace_memory_region)", uint64(unsafe.Sizeof(umr))},
	{"offsetof(struct kvm_userspace_memory_region, userspace_addr)", uint64(unsafe.Offsetof(umr.userspaceAddr))},
	{"sizeof(struct kvm_sync_regs)", uint64(unsafe.Sizeof(SyncRegs{}))},
	{"sizeof(struct kvm_run)", uint64(unsafe.Sizeof(run0))},
	{"offsetof(struct kvm_run, immediate_exit)", uint64(unsafe.Offsetof(run0.ImmediateExit))},
	{"offsetof(struct kvm_run, exit_reason)", uint64(unsafe.Offsetof(run0.ExitReason))},
	{"offsetof(struct kvm_run, flags)", uint64(unsafe.Offsetof(run0.Flags))},
	{"offsetof(struct kvm_run, apic_base)", uint64(unsafe.Offsetof(run0.APICBase))},
	{"offsetof(struct kvm_run, io)", uint64(unsafe.Offsetof(run0.Exit))},
	{"offsetof(struct kvm_run, io.port)", runExitOffset + uint64(unsafe.Offsetof(io0.Port))},
	{"offsetof(struct kvm_run, io.count)", runExitOffset + uint64(unsafe.Offsetof(io0.Count))},
	{"offsetof(struct kvm_run, io.data_offset)", runExitOffset + uint64(unsafe.Offsetof(io0.DataOffset))},
	{"offsetof(struct kvm_run, mmio.len)", runExitOffset + uint64(unsafe.Offsetof(mm0.Len))},
	{"offsetof(struct kvm_run, mmio.is_write)", runExitOffset + uint64(unsafe.Offsetof(mm0.IsWrite))},
	{"offsetof(struct kvm_run, fail_entry.cpu)", runExitOffset + uint64(unsafe.Offsetof(fe0.CPU))},
	{"offsetof(struct kvm_run, internal.data)", runExitOffset + uint64(unsafe.Offsetof(ie0.Data))},
	{"offsetof(struct kvm_run, ex.error_code)", runExitOffset + uint64(unsafe.Offsetof(ex0.ErrorCode))},
	{"offsetof(struct kvm_run, system_event.ndata)", runExitOffset + uint64(unsafe.Offsetof(se0.NData))},
	{"offsetof(struct kvm_run, system_event.data)", runExitOffset + uint64(unsafe.Offsetof(se0.Data))},
	{"offsetof(struct kvm_run, msr.index)", runExitOffset + uint64(unsafe.Offsetof(msr0.Index))},
	{"offsetof(struct kvm_run, msr.data)", runExitOffset + uint64(unsafe.Offsetof(msr0.Data))},
	{"offsetof(struct kvm_run, kvm_valid_regs)", uint64(unsafe.Offsetof(run0.ValidRegs))},
	{"offsetof(struct kvm_run, kvm_dirty_regs)", uint64(unsafe.Offsetof(run0.DirtyRegs))},
	{"offsetof(struct kvm_run, s.regs.regs)", uint64(unsafe.Offsetof(run0.Sync))},
	{"offsetof(struct kvm_run, s.regs.sregs.cr2)", uint64(unsafe.Offsetof(run0.Sync)) + uint64(unsafe.Offsetof(run0.Sync.Sregs)) + uint64(unsafe.Offsetof(sreg.CR2))},
	{"offsetof(struct kvm_run, s.regs.events)", uint64(unsafe.Offsetof(run0.Sync)) + uint64(unsafe.Offsetof(run0.Sync.Events))},
	{"KVM_API_VERSION", APIVersion},
	{"KVM_GET_API_VERSION", uint64(reqGetAPIVersion)},
	{"KVM_CREATE_VM", uint64(reqCreateVM)},
	{"KVM_GET_MSR_INDEX_LIST", uint64(reqGetMSRIndexList)},
	{"KVM_CHECK_EXTENSION", uint64(reqCheckExtension)},
	{"KVM_GET_VCPU_MMAP_SIZE", uint64(reqGetVCPUMmapSize)},
	{"KVM_GET_SUPPORTED_CPUID", uint64(reqGetSupportedCPUID)},
	{"KVM_CREATE_VCPU", uint64(reqCreateVCPU)},
	{"KVM_SET_USER_MEMORY_REGION", uint64(reqSetUserMemoryRegion)},
	{"KVM_SET_TSS_ADDR", uint64(reqSetTSSAddr)},
	{"KVM_SET_IDENTITY_MAP_ADDR", uint64(reqSetIdentityMapAddr)},
	{"KVM_RUN", uint64(reqRun)},
	{"KVM_GET_REGS", uint64(reqGetRegs)},
	{"KVM_SET_REGS", uint64(reqSetRegs)},
	{"KVM_GET_SREGS", uint64(reqGetSregs)},
	{"KVM_SET_SREGS", uint64(reqSetSregs)},
	{"KVM_TRANSLATE", uint64(reqTranslate)},
	{"KVM_GET_MSRS", uint64(reqGetMSRs)},
	{"KVM_SET_MSRS", uint64(reqSetMSRs)},
	{"KVM_GET_FPU", uint64(reqGetFPU)},
	{"KVM_SET_FPU", uint64(reqSetFPU)},
	{"KVM_SET_CPUID2", uint64(reqSetCPUID2)},
	{"KVM_GET_CPUID2", uint64(reqGetCPUID2)},
	{"KVM_GET_VCPU_EVENTS", uint64(reqGetVCPUEvents)},
	{"KVM_SET_VCPU_EVENTS", uint64(reqSetVCPUEvents)},
	{"KVM_GET_XSAVE", uint64(reqGetXSave)},
	{"KVM_SET_XSAVE", uint64(reqSetXSave)},
	{"KVM_GET_XCRS", uint64(reqGetXCRs)},
	{"KVM_SET_XCRS", uint64(reqSetXCRs)},
	{"KVM_GET_XSAVE2", uint64(reqGetXSave2)},
	{"KVM_GET_TSC_KHZ", uint64(reqGetTSCKHz)},
	{"KVM_SYNC_X86_REGS", uint64(SyncRegsGPR)},
	{"KVM_SYNC_X86_SREGS", uint64(SyncRegsSregs)},
	{"KVM_SYNC_X86_EVENTS", uint64(SyncRegsEvents)},
	{"KVM_MEM_LOG_DIRTY_PAGES", uint64(MemLogDirtyPages)},
	{"KVM_MEM_READONLY", uint64(MemReadonly)},
	{"KVM_EXIT_IO_IN", uint64(IOIn)},
	{"KVM_EXIT_IO_OUT", uint64(IOOut)},
	{"KVM_CPUID_FLAG_SIGNIFCANT_INDEX" /* sic */, CPUIDFlagSignificantIndex},
}

// TestABIAgainstKernelHeaders compiles a C program that prints each fact as
// the kernel headers define it and compares with the Go mirror. It needs
// gcc and <linux/kvm.h> (linux-libc-dev, which gcc's libc6-dev pulls in).
func TestABIAgainstKernelHeaders(t *testing.T) {
	if !cfacts.HaveGCC() {
		t.Skip("gcc not found; TestABIFixedNumbers still checks the layout")
	}
	if _, err := os.Stat("/usr/include/linux/kvm.h"); err != nil {
		t.Skip("no /usr/include/linux/kvm.h (install linux-libc-dev)")
	}
	exprs := make([]string, len(abiFacts))
	for i, f := range abiFacts {
		exprs[i] = f.c
	}
	vals, err := cfacts.Eval(t.TempDir(), "#include <linux/kvm.h>", exprs)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range abiFacts {
		if v := vals[i]; f.goV != v {
			t.Errorf("%s: kernel says %d (%#x), Go mirror has %d (%#x)", f.c, v, v, f.goV, f.goV)
		}
	}
}

// TestABIFixedNumbers pins the layout to the numbers of the x86-64 ABI, so
// that it is checked even where gcc is missing.
func TestABIFixedNumbers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"kvm_regs", unsafe.Sizeof(Regs{}), 144},
		{"kvm_segment", unsafe.Sizeof(Segment{}), 24},
		{"kvm_sregs", unsafe.Sizeof(Sregs{}), 312},
		{"kvm_fpu", unsafe.Sizeof(FPU{}), 416},
		{"kvm_msr_entry", unsafe.Sizeof(MSR{}), 16},
		{"kvm_cpuid_entry2", unsafe.Sizeof(CPUIDEntry{}), 40},
		{"kvm_vcpu_events", unsafe.Sizeof(VCPUEvents{}), 64},
		{"kvm_xcrs", unsafe.Sizeof(XCRs{}), 392},
		{"kvm_userspace_memory_region", unsafe.Sizeof(userspaceMemoryRegion{}), 32},
		{"kvm_run", unsafe.Sizeof(runData{}), 2352},
		{"kvm_run.exit_reason", unsafe.Offsetof(run0.ExitReason), 8},
		{"kvm_run.kvm_valid_regs", unsafe.Offsetof(run0.ValidRegs), 288},
		{"kvm_run.s", unsafe.Offsetof(run0.Sync), 304},
		{"KVM_RUN", reqRun, 0xae80},
		{"KVM_GET_REGS", reqGetRegs, 0x8090ae81},
		{"KVM_SET_SREGS", reqSetSregs, 0x4138ae84},
		{"KVM_SET_USER_MEMORY_REGION", reqSetUserMemoryRegion, 0x4020ae46},
		{"KVM_GET_SUPPORTED_CPUID", reqGetSupportedCPUID, 0xc008ae05},
		{"KVM_GET_TSC_KHZ", reqGetTSCKHz, 0xaea3},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d (%#x), want %d (%#x)", tc.name, tc.got, tc.got, tc.want, tc.want)
		}
	}
}

// fakeDevKVM points Implementation at a /dev/kvm that exists, in a
// temporary directory, until the test ends.
func fakeDevKVM(t *testing.T) {
	oldDir, oldDev := sysModuleDir, devKVMPath
	t.Cleanup(func() { sysModuleDir, devKVMPath = oldDir, oldDev })
	devKVMPath = filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(devKVMPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestImplementation finds the KVM module among a fake /sys/module's
// entries, preferring PVM, whose presence changes the machine's default fast
// path, and finds none without /dev/kvm.
func TestImplementation(t *testing.T) {
	fakeDevKVM(t)
	for _, tc := range []struct {
		modules []string
		want    string
	}{
		{nil, ""},
		{[]string{"kvm"}, ""},
		{[]string{"kvm", "kvm_amd"}, "kvm_amd"},
		{[]string{"kvm", "kvm_intel"}, "kvm_intel"},
		{[]string{"kvm", "kvm_intel", "kvm_pvm"}, "kvm_pvm"},
	} {
		sysModuleDir = t.TempDir()
		for _, m := range tc.modules {
			if err := os.Mkdir(filepath.Join(sysModuleDir, m), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if got := Implementation(); got != tc.want {
			t.Errorf("modules %v: Implementation() = %q, want %q", tc.modules, got, tc.want)
		}
	}
	// The module loaded but no /dev/kvm (this project's development
	// machine): no implementation to speak of.
	devKVMPath = filepath.Join(t.TempDir(), "no-kvm")
	if got := Implementation(); got != "" {
		t.Errorf("kvm_pvm loaded, no /dev/kvm: Implementation() = %q, want none", got)
	}
}

// TestMMUPaging reads nested or shadow paging from a fake /sys/module: PVM
// always shadows, kvm_amd and kvm_intel say so in npt and ept.
func TestMMUPaging(t *testing.T) {
	fakeDevKVM(t)
	for _, tc := range []struct {
		module, param, value string
		want                 Paging
	}{
		{"kvm_pvm", "", "", PagingShadow},
		{"kvm_amd", "npt", "Y\n", PagingNested},
		{"kvm_amd", "npt", "N\n", PagingShadow},
		{"kvm_intel", "ept", "Y\n", PagingNested},
		{"kvm_intel", "ept", "N\n", PagingShadow},
		{"kvm_intel", "", "", PagingUnknown},
		{"kvm_amd", "npt", "maybe", PagingUnknown},
	} {
		sysModuleDir = t.TempDir()
		dir := filepath.Join(sysModuleDir, tc.module, "parameters")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if tc.param != "" {
			if err := os.WriteFile(filepath.Join(dir, tc.param), []byte(tc.value), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if got, fact := MMUPaging(); got != tc.want || !strings.Contains(fact, tc.module) {
			t.Errorf("%s %s=%q: %v (%s), want %v", tc.module, tc.param, tc.value, got, fact, tc.want)
		}
	}
}
