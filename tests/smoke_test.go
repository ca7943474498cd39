package tests

import (
	"bytes"
	"testing"
	"time"

	"github.com/mmvm/mmvm/kvm"
	"github.com/mmvm/mmvm/kvm/kvmtest"
)

// outLoop is 16-bit real-mode code that writes 'A', 'B', ... 'E' to port
// 0x3f8 with five `out dx, al` in a loop, then halts:
//
//	mov dx, 0x3f8 ; mov al, 'A' ; mov cx, 5
//	l: out dx, al ; inc al ; loop l
//	hlt
var outLoop = []byte{
	0xba, 0xf8, 0x03,
	0xb0, 'A',
	0xb9, 0x05, 0x00,
	0xee,
	0xfe, 0xc0,
	0xe2, 0xfb,
	0xf4,
}

// TestSmokeIOExits runs real-mode code that exits to the host with port
// I/O five times and then halts, and checks every exit's data.
func TestSmokeIOExits(t *testing.T) {
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, outLoop)
	cpu.BindThread()
	defer cpu.UnbindThread()

	var got []byte
	for exits := 0; ; exits++ {
		if exits > 100 {
			t.Fatalf("no HLT after %d exits; output so far %q", exits, got)
		}
		reason, err := cpu.Run()
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if reason == kvm.ExitHLT {
			break
		}
		if reason != kvm.ExitIO {
			t.Fatalf("exit %d: %v", exits, cpu.UnexpectedExit(reason))
		}
		io, ok := cpu.IO()
		if !ok {
			t.Fatalf("exit %d: IO() not ok on %v", exits, reason)
		}
		if io.Direction != kvm.IOOut || io.Port != 0x3f8 || io.Size != 1 || io.Count != 1 || len(io.Data) != 1 {
			t.Fatalf("exit %d: %+v, want a 1-byte OUT to 0x3f8", exits, io)
		}
		got = append(got, io.Data[0])
	}
	if want := []byte("ABCDE"); !bytes.Equal(got, want) {
		t.Errorf("guest wrote %q, want %q", got, want)
	}
	var regs kvm.Regs
	if err := cpu.GetRegs(&regs); err != nil {
		t.Fatal(err)
	}
	if want := uint64(kvmtest.RealModeCodeAddr + len(outLoop)); regs.RIP != want {
		t.Errorf("RIP after HLT = %#x, want %#x (just past hlt)", regs.RIP, want)
	}
	if regs.RCX&0xffff != 0 {
		t.Errorf("CX after the loop = %#x, want 0", regs.RCX&0xffff)
	}
}

// TestSmokeIOIn checks both directions and wider accesses: the guest reads
// a word with `in ax, dx`, adds one and writes it back with `out dx, ax`.
func TestSmokeIOIn(t *testing.T) {
	code := []byte{
		0xba, 0x34, 0x12, // mov dx, 0x1234
		0xed, // in ax, dx
		0x40, // inc ax
		0xef, // out dx, ax
		0xf4, // hlt
	}
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, code)
	cpu.BindThread()
	defer cpu.UnbindThread()

	mustExit(t, cpu, kvm.ExitIO)
	in, _ := cpu.IO()
	if in.Direction != kvm.IOIn || in.Port != 0x1234 || in.Size != 2 || len(in.Data) != 2 {
		t.Fatalf("first exit %+v, want a 2-byte IN from 0x1234", in)
	}
	in.Data[0], in.Data[1] = 0xfe, 0xca // the guest reads 0xcafe
	mustExit(t, cpu, kvm.ExitIO)
	out, _ := cpu.IO()
	if out.Direction != kvm.IOOut || out.Port != 0x1234 || out.Size != 2 {
		t.Fatalf("second exit %+v, want a 2-byte OUT to 0x1234", out)
	}
	if got := uint16(out.Data[0]) | uint16(out.Data[1])<<8; got != 0xcaff {
		t.Errorf("guest wrote %#x, want 0xcaff", got)
	}
	mustExit(t, cpu, kvm.ExitHLT)
}

// TestSmokeKick stops a guest spinning in `jmp $` with Kick from another
// goroutine, as a deadline would, with both ways of entering KVM_RUN.
func TestSmokeKick(t *testing.T) {
	for _, raw := range []bool{false, true} {
		name := "Syscall"
		if raw {
			name = "RawSyscall"
		}
		t.Run(name, func(t *testing.T) {
			_, vm := kvmtest.NewVM(t)
			cpu, _ := kvmtest.RealModeVCPU(t, vm, []byte{0xeb, 0xfe}) // jmp $
			cpu.SetRawRun(raw)
			cpu.BindThread()
			defer cpu.UnbindThread()

			for round := 0; round < 3; round++ {
				start := time.Now()
				timer := time.AfterFunc(20*time.Millisecond, func() {
					if err := cpu.Kick(); err != nil {
						t.Errorf("Kick: %v", err)
					}
				})
				reason, err := cpu.Run()
				timer.Stop()
				if err != nil {
					t.Fatalf("round %d: Run: %v", round, err)
				}
				if reason != kvm.ExitIntr {
					t.Fatalf("round %d: exit %v, want KVM_EXIT_INTR from the kick", round, cpu.UnexpectedExit(reason))
				}
				if d := time.Since(start); d < 20*time.Millisecond || d > 20*time.Second {
					t.Errorf("round %d: kicked after %v, want 20ms..20s", round, d)
				}
				var regs kvm.Regs
				if err := cpu.GetRegs(&regs); err != nil {
					t.Fatal(err)
				}
				if regs.RIP != kvmtest.RealModeCodeAddr {
					t.Errorf("round %d: RIP %#x, want the jmp at %#x", round, regs.RIP, kvmtest.RealModeCodeAddr)
				}
			}
		})
	}
}

// TestSmokeKickBeforeRun: a kick that arrives while the vCPU is not in the
// guest is kept, and the next Run returns at once; the one after runs.
func TestSmokeKickBeforeRun(t *testing.T) {
	_, vm := kvmtest.NewVM(t)
	cpu, _ := kvmtest.RealModeVCPU(t, vm, []byte{0xf4}) // hlt
	if err := cpu.Kick(); err != nil {
		t.Fatal(err)
	}
	cpu.BindThread()
	defer cpu.UnbindThread()
	mustExit(t, cpu, kvm.ExitIntr)
	mustExit(t, cpu, kvm.ExitHLT)
}

func mustExit(t *testing.T, cpu *kvm.VCPU, want kvm.ExitReason) {
	t.Helper()
	reason, err := cpu.Run()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if reason != want {
		t.Fatalf("exit %v, want %v: %v", reason, want, cpu.UnexpectedExit(reason))
	}
}
