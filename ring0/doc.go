// Package ring0 is the guest's kernel: the few pages of descriptor tables,
// stacks and exit stubs that let a user-mode (CPL 3) program run in a KVM
// vCPU while every exception and every system call it causes is handled by
// the host, in Go. New writes a GDT, a TSS, an IDT for the 32 exception
// vectors, the stubs and their stacks into a kernel region of guest memory
// that the VM maps supervisor-only in the upper half; Kernel then gives the
// special registers and MSRs the vCPU must load (it starts directly in user
// mode: no guest code ever boots) and decodes each exit the stubs cause.
// ring0 does not import kvm: its values (Segment, SpecialRegisters, MSR)
// mirror the KVM structures field by field and the VM converts them.
//
// # Why every ring-0 instruction counts
//
// On the nested PVM hypervisor of the device machine, guest code at CPL 0 is
// emulated at about 2 µs an instruction, while CPL 3 runs natively. The stubs
// therefore do nothing but exit: all decoding and all work happens in the
// host, which reads what it needs from memory and from the run structure
// (KVM_CAP_SYNC_REGS), never by ioctl.
//
// # Exit protocol
//
// Every ring-0 entry begins with one `out imm8, al` whose port names it:
//
//	port 0xC0+v  exception vector v (v = 0..31)        PortVectorBase+v
//	port 0xE0    SYSCALL (ring-0 stub or trampoline)   PortSyscall
//	port 0xE8    the replay stub is done               PortReplay
//	port 0xF0-F7 `out` from user mode (CPL 3) itself   PortUserFirst..PortUserLast
//
// AL carries nothing (it is the user's AL). At the KVM_EXIT_IO the host
// fills an Exit from the run structure (port; RSP, RCX, R11 from sync regs;
// CR2 from sync sregs) and calls Kernel.Decode:
//
//   - Exception: RSP points at the hardware frame on a kernel stack (RSP0, or
//     the IST stack of #DF, NMI, #MC, #DB): [error code,] RIP, CS, RFLAGS, RSP,
//     SS. Decode reads it through the host view of the region and checks that
//     it lies within the stacks; CS tells whether user mode was interrupted.
//     #PF also reports CR2. PageFaultError turns the error code into an access.
//   - Syscall: number in RAX, arguments in RDI, RSI, RDX, R10, R8, R9 (the
//     VM reads them from sync regs and writes the result to RAX); the user
//     context is RIP = RCX, RFLAGS = R11, RSP unchanged.
//   - User port: only reachable when Config.UserPorts allows it through the
//     TSS I/O bitmap (user RFLAGS.IOPL is 0, so the bitmap always decides; on
//     the device IOPL 3 alone was not even enough). Any other port faults at
//     CPL 3 with #GP, so user mode can never fake a vector or syscall exit.
//
// The host then resumes user mode in one of two ways; Event says which are
// valid:
//
//   - Through the stub (Event.StubResumes): re-enter the vCPU unchanged. KVM
//     completes the `out` and the stub returns by itself: `iretq` for a vector
//     without error code, `add rsp, 8; iretq` for one with, `sysretq` for a
//     syscall (RCX and R11 must be left as SYSCALL set them). SYSRET to a
//     non-canonical RCX would fault in ring 0 on the user stack, so a syscall
//     whose RCX is not a user address reports StubResumes false.
//   - Directly (Event.DirectResumes): the host loads Event.Context into RIP,
//     RSP and RFLAGS and UserCodeSegment/UserDataSegment into CS and SS
//     (and Kernel.TaskRegister into TR, see below) through sync regs, and
//     re-enters. KVM sees that RIP moved off the `out` and does not skip an
//     instruction; the rest of the stub never runs and the abandoned frame
//     is overwritten by the next exception. Not valid after an NMI (only
//     iretq unblocks NMIs) or for an exception in ring 0.
//
// Ring-0 instructions per event (the exception delivery or SYSCALL itself is
// not counted; the `out` is the one instruction no path can avoid):
//
//	path                          via stub   direct from host
//	exception without error code     2            1
//	exception with error code (#PF)  3            1
//	syscall                          2            1
//
// Direct resume costs the host a sync-regs write of regs and sregs (KVM then
// runs its set-sregs path on entry) instead of one or two emulated
// instructions; which is cheaper on a given machine is measured by the VM's
// benchmarks, not assumed here.
//
// Both ways are proven on a real (nested, through kvmhost's QEMU) KVM by
// kvm_test.go: a syscall and a page fault, each resumed through the stub
// and directly from the host.
//
// # QEMU's emulation and the TSS
//
// Under QEMU's TCG (which runs the nested KVM of kvmhost) the I/O bitmap is
// honoured only when TR is an available TSS, while VMX demands a busy one.
// Config.AvailableTSS (for AMD only, where VMRUN does not check TR's type)
// makes UserPorts work there; KVM's SVM code reads TR back as busy, so a
// host that writes sregs back reloads TR from Kernel.TaskRegister. The same
// emulation reports a #GP from a refused `int n` with the error code
// vector*16+2 and the next RIP, where hardware gives vector*8+2 and the
// `int` itself.
//
// # Layout
//
// Four pages (RegionSize): tables (GDT, TSS with I/O bitmap, IDT; read-only),
// code (stubs at 16-byte slots, vector v at v*16, the syscall entry at
// 32*16, the replay stub after it; read+execute), stacks
// (RSP0 and IST1..IST4, 512 bytes each; read/write), and the trampoline
// page the VM maps for user mode at TrampolineVirt (see SyscallPath and
// replay.go for the KVM kinds that need them). Layout gives every
// address and Layout.Mappings the permissions. The GDT order, kernel code
// 0x08, kernel data 0x10, user data 0x18, user code 0x20, TSS 0x28, is the
// one SYSCALL/SYSRET demand with STAR = 0x0013_0008 << 32.
//
// Gates are 64-bit interrupt gates (IF cleared) with DPL 0, except #BP at DPL
// 3 so that `int3` is a breakpoint as under Linux. DPL 0 matters: `int n`
// pushes no error code, so a user-raised #PF would misalign the frame; with
// DPL 0 it becomes a #GP instead. Vectors 32 and up have no gate: the IDT
// limit ends at vector 31, so `int 0x80` or a stray interrupt raises #GP with
// the vector in the error code.
//
// # Machine code
//
// The stubs (and the user-mode probe program in probe.go) are encoded in Go
// by package x86enc, each instruction with its Intel-syntax listing, so that
// `go build` needs no assembler. The tests decode every byte with
// golang.org/x/arch/x86/x86asm (x86enctest) and compare it with the listing
// and the expected instruction count, and, where GNU as is installed,
// assemble Listing() and compare the bytes.
package ring0
