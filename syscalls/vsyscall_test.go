package syscalls

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEmulateVsyscall checks the emulation of calls into the vsyscall page
// (Linux's emulate_vsyscall): a good call returns to the address on the
// stack with the call's result, the stack popped; a bad one is SIGSEGV
// with the program's registers untouched.
func TestEmulateVsyscall(t *testing.T) {
	const caller, sp, tv = 0x401234, base + 0x1000, base + 0x2000
	p, mem, _ := newTestProcess(t)
	binary.LittleEndian.PutUint64(mem.mem[sp-base:], caller)
	call := func(addr, rdi, rsp uint64) (UserRegs, Fault, bool) {
		regs := UserRegs{RIP: addr, RSP: rsp, RDI: rdi, RAX: 77}
		f, ok := p.MainTask().EmulateVsyscall(&regs, addr)
		return regs, f, ok
	}

	regs, _, ok := call(VsyscallPage, tv, sp)
	if !ok || regs.RIP != caller || regs.RSP != sp+8 || regs.RAX != 0 {
		t.Errorf("gettimeofday: ok %v rip %#x rsp %#x rax %d; want a return to %#x, rsp %#x, 0", ok, regs.RIP, regs.RSP, int64(regs.RAX), caller, sp+8)
	}
	if sec, usec := binary.LittleEndian.Uint64(mem.mem[tv-base:]), binary.LittleEndian.Uint64(mem.mem[tv-base+8:]); sec != 1700000000 || usec != 123456 {
		t.Errorf("gettimeofday wrote %d.%06d, want 1700000000.123456", sec, usec)
	}
	if regs, _, ok := call(VsyscallPage+0x400, 0, sp); !ok || regs.RAX != 1700000000 || regs.RIP != caller {
		t.Errorf("time(NULL): ok %v rax %d rip %#x", ok, regs.RAX, regs.RIP)
	}
	if regs, _, ok := call(VsyscallPage+0x800, tv, sp); !ok || regs.RAX != 0 || regs.RIP != caller {
		t.Errorf("getcpu: ok %v rax %d rip %#x", ok, int64(regs.RAX), regs.RIP)
	}

	for _, tc := range []struct {
		name          string
		addr, rdi, sp uint64
		code          int32
		siAddr        uint64
	}{
		{"misaligned", VsyscallPage + 0x10, 0, sp, siKernel, 0},
		{"fourth slot", VsyscallPage + 0xc00, 0, sp, siKernel, 0},
		{"no return address", VsyscallPage, 0, 0x1000, siKernel, 0},
		{"pointer past user space", VsyscallPage, 0x7ffffffffff8, sp, segvMapErr, 0x7ffffffffff8},
		{"pointer into the top page", VsyscallPage + 0x400, 0x7ffffffff000, sp, segvMapErr, 0x7ffffffff000},
		{"unmapped pointer", VsyscallPage + 0x400, 0x1000, sp, siKernel, 0},
	} {
		regs, f, ok := call(tc.addr, tc.rdi, tc.sp)
		if ok || f.Signal != unix.SIGSEGV || f.Code != tc.code || f.Addr != tc.siAddr {
			t.Errorf("%s: ok %v, %v code %d addr %#x; want SIGSEGV code %d addr %#x", tc.name, ok, f.Signal, f.Code, f.Addr, tc.code, tc.siAddr)
		}
		if regs.RIP != tc.addr || regs.RSP != tc.sp || regs.RAX != 77 {
			t.Errorf("%s: registers changed: rip %#x rsp %#x rax %d", tc.name, regs.RIP, regs.RSP, regs.RAX)
		}
	}
}
