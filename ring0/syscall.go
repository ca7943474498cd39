package ring0

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/x86enc"
)

// SyscallPath is where a user-mode SYSCALL lands on a given KVM.
//
// On VT-x and SVM, SYSCALL enters CPL 0 at LSTAR: the ring-0 syscall stub
// exits with PortSyscall and returns with SYSRET. On PVM, SYSCALL at CPL 3
// does not enter CPL 0: the vCPU goes on at LSTAR still in user mode, with
// RCX and R11 set as usual, so a supervisor-only LSTAR faults. There LSTAR
// is the trampoline page, mapped user-mode at TrampolineVirt, whose first
// instruction exits with PortSyscall (the TSS I/O bitmap allows that port
// then) and the host resumes the program itself at RCX.
//
// Which path a KVM takes is found by running SyscallProbe once (see
// machine): with LSTAR at the ring-0 stub, the ring-0 path exits with
// PortSyscall at CPL 0, the user path faults fetching the stub at CPL 3.
type SyscallPath uint8

// Syscall paths.
const (
	// SyscallToRing0: SYSCALL enters CPL 0 (VT-x, SVM). The zero value.
	SyscallToRing0 SyscallPath = iota
	// SyscallInUser: SYSCALL stays at CPL 3 (PVM).
	SyscallInUser
)

func (p SyscallPath) String() string {
	switch p {
	case SyscallToRing0:
		return "enters ring 0"
	case SyscallInUser:
		return "stays in user mode (trampoline)"
	}
	return fmt.Sprintf("SyscallPath(%d)", uint8(p))
}

// MarshalText names the path in JSON.
func (p SyscallPath) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (p *SyscallPath) UnmarshalText(b []byte) error {
	for _, c := range []SyscallPath{SyscallToRing0, SyscallInUser} {
		if c.String() == string(b) {
			*p = c
			return nil
		}
	}
	return fmt.Errorf("ring0: unknown syscall path %q", b)
}

// Offsets on the trampoline page.
const (
	userSyscallOffset  = 0x00
	syscallProbeOffset = 0x10
	tableProbeOffset   = 0x20
)

// TableProbeData is the page the table probe reads: the page below the
// trampoline. It lies in the program's address space, so a VM maps it only
// for the probe, before the program exists, and unmaps it after.
const TableProbeData = TrampolineVirt - arch.PageSize

// tableProbe reads the first byte of TableProbeData twice, with a system
// call after each read carrying the byte in RAX, so that the host can
// change the page's translation in between and see which frame the second
// read reached (see machine's probeTableSync):
//
//	movzx eax, byte ptr [rip+TableProbeData]
//	syscall
//	movzx eax, byte ptr [rip+TableProbeData]
//	syscall
func tableProbe() []x86enc.Instruction {
	read := func(at uint64) x86enc.Instruction {
		return x86enc.LoadByteZXRIP(x86enc.RAX, int32(int64(TableProbeData)-int64(uint64(TrampolineVirt)+at+7)))
	}
	return []x86enc.Instruction{read(tableProbeOffset), x86enc.Syscall, read(tableProbeOffset + 9), x86enc.Syscall}
}

// trampolineCode is the trampoline page's code:
//
//	+0x00  out PortSyscall, al   ; LSTAR with SyscallInUser: the host serves
//	                             ; the call and resumes at RCX itself
//	+0x10  syscall               ; SyscallProbe
//	+0x20  tableProbe            ; TableProbe
//
// The rest of the page is int3: nothing after either instruction is ever
// meant to run.
func trampolineCode() []struct {
	off  uint64
	code []x86enc.Instruction
} {
	return []struct {
		off  uint64
		code []x86enc.Instruction
	}{
		{userSyscallOffset, []x86enc.Instruction{x86enc.OutAL(PortSyscall)}},
		{syscallProbeOffset, []x86enc.Instruction{x86enc.Syscall}},
		{tableProbeOffset, tableProbe()},
	}
}

func (k *Kernel) writeTrampoline() {
	page := k.mem[trampOffset : trampOffset+arch.PageSize]
	for i := range page {
		page[i] = codeFill
	}
	for _, c := range trampolineCode() {
		copy(page[c.off:], x86enc.Assemble(c.code...))
	}
}

// SetSyscallPath sets the path SYSCALL takes on this KVM: it decides LSTAR
// (MSRs) and whether the I/O bitmap lets user mode reach PortSyscall. The
// VM calls it once, before the program runs, and reloads the MSRs.
func (k *Kernel) SetSyscallPath(p SyscallPath) {
	k.syscall = p
	k.writeIOBitmap()
}

// SyscallPath returns the path set by SetSyscallPath.
func (k *Kernel) SyscallPath() SyscallPath { return k.syscall }

// lstar is the LSTAR value for the kernel's syscall path.
func (k *Kernel) lstar() uint64 {
	if k.syscall == SyscallInUser {
		return uint64(k.layout.UserSyscallEntry)
	}
	return uint64(k.layout.SyscallEntry)
}

// decodeSyscall decodes a PortSyscall exit. The trampoline's is known by
// its RIP (only user mode runs there) and is believed only with
// SyscallInUser; any other user-mode exit on that port is user code doing
// `out` itself, which is the #GP it would be without the bitmap's
// permission; the rest is the ring-0 stub's.
func (k *Kernel) decodeSyscall(e Exit) Event {
	tramp := e.RIP == uint64(k.layout.UserSyscallEntry)
	user := tramp || e.CPL == 3
	if user && (!tramp || k.syscall != SyscallInUser) {
		return Event{
			Kind: EventException, Port: e.Port, Vector: GeneralProtection, User: true,
			CS: UserCodeSelector, SS: UserDataSelector,
			Context:       UserContext{RIP: e.RIP, RSP: e.RSP, RFLAGS: e.RFLAGS},
			DirectResumes: true,
		}
	}
	rflags := SysretRFLAGS(e.R11)
	if tramp {
		rflags = TrampolineRFLAGS(e.R11)
	}
	return Event{
		Kind: EventSyscall,
		Port: e.Port,
		User: true,
		CS:   UserCodeSelector,
		SS:   UserDataSelector,
		// SYSCALL does not switch stacks: RSP is still the user's.
		Context: UserContext{RIP: e.RCX, RSP: e.RSP, RFLAGS: rflags},
		// The ring-0 stub's SYSRET returns only to a canonical user
		// address (else it faults in ring 0 on the user's stack); the
		// trampoline has no way back but the host's.
		StubResumes:   !user && IsUserAddress(e.RCX),
		DirectResumes: IsUserAddress(e.RCX),
	}
}
