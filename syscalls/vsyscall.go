package syscalls

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// The vsyscall page: the fixed kernel-half page that programs linked
// against a glibc older than 2.14 call for gettimeofday, time and getcpu.
// Linux 6.18 keeps it execute-only (vsyscall=xonly, its default): no page
// is mapped there, an instruction fetch at one of its three entry points
// faults and the kernel runs the call and returns to the caller
// (emulate_vsyscall), and any other access is the SIGSEGV of an unmapped
// address. /proc/pid/maps lists the page last, as the gate vma.

// VsyscallPage is the vsyscall page's address.
const VsyscallPage uint64 = 0xffff_ffff_ff60_0000

// VsyscallMapsLine is the page's line in /proc/pid/maps: execute-only, as
// vsyscall=xonly shows it.
const VsyscallMapsLine = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"

// vsyscallCalls are the entry points' calls, each 1 KiB apart from the
// page's start, and the bytes each pointer argument must leave room for
// below the end of user space (the calls' own checks come after).
var vsyscallCalls = [...]struct {
	nr   uint64
	args [2]uint64 // sizes of the pointers in RDI and RSI; 0: not a pointer
}{
	{unix.SYS_GETTIMEOFDAY, [2]uint64{16, 8}}, // timeval, timezone
	{unix.SYS_TIME, [2]uint64{8, 0}},          // time_t
	{unix.SYS_GETCPU, [2]uint64{4, 4}},        // unsigned cpu, node
}

// pageFaultVector is #PF's vector, the trap number Linux records for the
// vsyscall's signals.
const pageFaultVector = 14

// pfUserWrite is the page-fault error code Linux records for a vsyscall's
// pointer that reaches past user space: a user write.
const pfUserWrite = 1<<2 | 1<<1

// EmulateVsyscall serves an instruction fetch the program made at addr in
// the vsyscall page, with regs its registers there (RIP is addr), as
// Linux's emulate_vsyscall does:
//   - An address that is not an entry point, or a stack with no return
//     address on it, is a SIGSEGV (SI_KERNEL).
//   - A pointer argument reaching past user space is SIGSEGV (SEGV_MAPERR)
//     at the pointer, the call not made.
//   - Otherwise the call runs; a fault on its pointers (EFAULT) is a
//     SIGSEGV (SI_KERNEL) with the program left at addr. Else RAX holds
//     its result and the program returns to its caller, the address on
//     the stack, as a `ret` would.
//
// A signal to deliver comes back as the Fault, for the caller to send as
// it sends a fault's (HandleFault), with regs unchanged. Otherwise regs
// hold the context to resume, the entry of a handler of a signal that
// came due, if one did; Exited says whether the program ended instead.
func (t *Task) EmulateVsyscall(regs *UserRegs, addr uint64) (Fault, bool) {
	segv := func(why string) (Fault, bool) {
		return Fault{Signal: unix.SIGSEGV, Code: siKernel, TrapNo: pageFaultVector,
			Why: fmt.Sprintf("vsyscall at %#x: %s", addr, why)}, false
	}
	slot := addr - VsyscallPage
	if addr < VsyscallPage || slot%0x400 != 0 || slot/0x400 >= uint64(len(vsyscallCalls)) {
		return segv("not an entry point")
	}
	call := vsyscallCalls[slot/0x400]
	var ret [8]byte
	if _, err := t.cfg.Memory.CopyIn(arch.Addr(regs.RSP), ret[:]); err != nil {
		return segv("no return address on the stack")
	}
	args := [6]uint64{regs.RDI, regs.RSI}
	for i, size := range call.args {
		if size != 0 && !userRangeOK(args[i], size) {
			return Fault{Signal: unix.SIGSEGV, Code: segvMapErr, Addr: args[i], TrapNo: pageFaultVector,
				ErrorCode: pfUserWrite, PageFault: true,
				Why: fmt.Sprintf("vsyscall at %#x: pointer %#x past user space", addr, args[i])}, false
		}
	}

	t.calls.add(call.nr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Exited() {
		return Fault{}, true
	}
	t.tsig.redirected = false
	t.regs = regs
	rax := table[call.nr].fn(t, &args)
	t.regs = nil
	if rax == errno(unix.EFAULT) {
		return Fault{Signal: unix.SIGSEGV, Code: siKernel, TrapNo: pageFaultVector,
			Why: fmt.Sprintf("vsyscall at %#x: bad pointer", addr)}, false
	}
	regs.RAX = rax
	regs.RIP = binary.LittleEndian.Uint64(ret[:])
	regs.RSP += 8
	t.returnToUser(regs, 0, false)
	return Fault{}, true
}

// userRangeOK is Linux's access_ok: the size bytes at ptr lie below
// TASK_SIZE_MAX, the end of user space less its top page (NULL included:
// the calls take it as "no answer").
func userRangeOK(ptr, size uint64) bool {
	const end = uint64(arch.MaxUserAddr - arch.PageSize)
	return ptr <= end && size <= end-ptr
}
