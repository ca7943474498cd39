package ring0

import (
	"github.com/mmvm/mmvm/arch"
	"github.com/mmvm/mmvm/x86enc"
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

// The replay stub's two loops, each ending in a jnz back to its start.
var (
	runsLoop = []x86enc.Instruction{
		x86enc.Load(x86enc.RDI, x86enc.RBX, 0), x86enc.Load(x86enc.RCX, x86enc.RBX, 8), x86enc.Mov(x86enc.RSI, x86enc.RDI),
		x86enc.RepMovsq, x86enc.AddImm8(x86enc.RBX, 16), x86enc.Dec(x86enc.RDX),
	}
	zapsLoop = []x86enc.Instruction{
		x86enc.Load(x86enc.RDI, x86enc.R8, 0), x86enc.LoadAL(x86enc.RDI), x86enc.StoreAL(x86enc.RDI),
		x86enc.AddImm8(x86enc.R8, 8), x86enc.Dec(x86enc.R9),
	}
	runsLoopLen = x86enc.Length(runsLoop...) + 2
	zapsLoopLen = x86enc.Length(zapsLoop...) + 2
)

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
	var code []x86enc.Instruction
	code = append(code, x86enc.Test(x86enc.RDX, x86enc.RDX), x86enc.Jz(int8(runsLoopLen)))
	code = append(append(code, runsLoop...), x86enc.Jnz(int8(-runsLoopLen)))
	code = append(code, x86enc.Test(x86enc.R9, x86enc.R9), x86enc.Jz(int8(zapsLoopLen)))
	code = append(append(code, zapsLoop...), x86enc.Jnz(int8(-zapsLoopLen)))
	code = append(code, x86enc.OutAL(PortReplay))
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
