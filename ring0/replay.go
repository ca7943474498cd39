package ring0

import (
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// # Replaying page-table stores
//
// A hypervisor that shadows the guest's page tables (KVM without nested
// paging, and PVM) keeps its copy of a present entry until the guest itself
// stores to that entry: a store the host makes through its own mapping of
// guest memory is never seen, whatever CR3 load or INVLPG follows. The
// replay stub lets the host have the guest repeat such stores at CPL 0.
// The host has already written the new values; the stub copies each run of
// entries onto itself with `rep movsq`, which the hypervisor traps and
// applies to its shadow, and stores one byte of each freed table onto
// itself (at an address the host chooses: one not aligned to an entry, so
// that KVM finds the write misaligned), after which KVM drops that table's
// shadow so that the page can be reused. It then exits with PortReplay.
//
// The host enters it through the sync registers: RIP at ReplayEntry, CS and
// SS the kernel's, RFLAGS with IF and DF clear, RSP at RSP0 (nothing is
// pushed; it is there for an exception's frame), and
//
//	RBX  the first run record: {kernel address of the first entry, count}
//	RDX  the number of run records (may be 0)
//	R8   the first zap record: a kernel address inside a freed table page
//	R9   the number of zap records (may be 0)
//
// The records and the entries are reached through a supervisor-only view of
// guest memory that the VM maps (machine's physmap); ring 0 does not know
// where that is. Every instruction here is one PVM's emulator runs.

// PortReplay is the exit port of the replay stub.
const PortReplay = 0xE8

// replayOffset is where the replay stub lives in the code page: after the
// vector stubs and the syscall entry.
const replayOffset = stubsOffset + 0x240

var (
	testRDX     = Instruction{Bytes: []byte{0x48, 0x85, 0xD2}, Asm: "test rdx, rdx"}
	movRDIRBX   = Instruction{Bytes: []byte{0x48, 0x8B, 0x3B}, Asm: "mov rdi, qword ptr [rbx]"}
	movRCXRBX8  = Instruction{Bytes: []byte{0x48, 0x8B, 0x4B, 0x08}, Asm: "mov rcx, qword ptr [rbx+0x8]"}
	movRSIRDI   = Instruction{Bytes: []byte{0x48, 0x89, 0xFE}, Asm: "mov rsi, rdi"}
	repMovsq    = Instruction{Bytes: []byte{0xF3, 0x48, 0xA5}, Asm: "rep movsq"}
	addRBX16    = Instruction{Bytes: []byte{0x48, 0x83, 0xC3, 0x10}, Asm: "add rbx, 0x10"}
	decRDX      = Instruction{Bytes: []byte{0x48, 0xFF, 0xCA}, Asm: "dec rdx"}
	testR9      = Instruction{Bytes: []byte{0x4D, 0x85, 0xC9}, Asm: "test r9, r9"}
	movRDIR8    = Instruction{Bytes: []byte{0x49, 0x8B, 0x38}, Asm: "mov rdi, qword ptr [r8]"}
	movALRDI    = Instruction{Bytes: []byte{0x8A, 0x07}, Asm: "mov al, byte ptr [rdi]"}
	movRDIAL    = Instruction{Bytes: []byte{0x88, 0x07}, Asm: "mov byte ptr [rdi], al"}
	addR88      = Instruction{Bytes: []byte{0x49, 0x83, 0xC0, 0x08}, Asm: "add r8, 0x8"}
	decR9       = Instruction{Bytes: []byte{0x49, 0xFF, 0xC9}, Asm: "dec r9"}
	runsLoopLen = len(Assemble([]Instruction{movRDIRBX, movRCXRBX8, movRSIRDI, repMovsq, addRBX16, decRDX})) + 2
	zapsLoopLen = len(Assemble([]Instruction{movRDIR8, movALRDI, movRDIAL, addR88, decR9})) + 2
)

func jzRel8(rel int8) Instruction {
	return Instruction{Bytes: []byte{0x74, byte(rel)}, Asm: fmt.Sprintf("jz .%+d", int(rel)+2)}
}

// replayStub is the replay routine:
//
//	test rdx, rdx
//	jz   zaps
//	runs: mov rdi, [rbx]       ; the first entry of the run
//	      mov rcx, [rbx+8]     ; how many entries
//	      mov rsi, rdi
//	      rep movsq            ; each entry stored onto itself
//	      add rbx, 16
//	      dec rdx
//	      jnz runs
//	zaps: test r9, r9
//	      jz   done
//	zap:  mov rdi, [r8]        ; a freed table page
//	      mov al, [rdi]
//	      mov [rdi], al        ; a one-byte store: the shadow is dropped
//	      add r8, 8
//	      dec r9
//	      jnz zap
//	done: out PortReplay, al
func replayStub() Stub {
	code := []Instruction{
		testRDX, jzRel8(int8(runsLoopLen)),
		movRDIRBX, movRCXRBX8, movRSIRDI, repMovsq, addRBX16, decRDX, jnzRel8(int8(-runsLoopLen)),
		testR9, jzRel8(int8(zapsLoopLen)),
		movRDIR8, movALRDI, movRDIAL, addR88, decR9, jnzRel8(int8(-zapsLoopLen)),
		outImm8AL(PortReplay),
	}
	return Stub{Name: "replay", Offset: replayOffset, Code: code}
}

// ReplayEntry returns the kernel address of the replay stub.
func (l Layout) ReplayEntry() arch.Addr { return l.VirtOf(replayOffset) }

// ReplayExitRIP returns the address of the replay stub's exiting `out`: RIP
// at its PortReplay exit.
func (l Layout) ReplayExitRIP() arch.Addr {
	s := replayStub()
	return l.VirtOf(s.Offset + uint64(s.Size()-len(s.Code[len(s.Code)-1].Bytes)))
}
