package machine

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/ring0"
)

// TestFaultOf checks the signal, si_code and si_addr each user exception
// gets, as Linux's trap handlers give them.
func TestFaultOf(t *testing.T) {
	fx := func(fcw, fsw uint16, mxcsr uint32) func() ([512]byte, error) {
		return func() ([512]byte, error) {
			var b [512]byte
			binary.LittleEndian.PutUint16(b[0:], fcw)
			binary.LittleEndian.PutUint16(b[2:], fsw)
			binary.LittleEndian.PutUint32(b[24:], mxcsr)
			return b, nil
		}
	}
	broken := func() ([512]byte, error) { return [512]byte{}, errors.New("no FPU") }
	const rip = 0x401234
	for _, tc := range []struct {
		v        ring0.Vector
		fpu      func() ([512]byte, error)
		sig      unix.Signal
		code     int32
		withAddr bool
	}{
		{ring0.DivideError, nil, unix.SIGFPE, fpeIntDiv, true},
		{ring0.InvalidOpcode, nil, unix.SIGILL, illIllOpn, true},
		{ring0.Breakpoint, nil, unix.SIGTRAP, siKernel, false},
		{ring0.Debug, nil, unix.SIGTRAP, trapTrace, true},
		{ring0.GeneralProtection, nil, unix.SIGSEGV, siKernel, false},
		{ring0.StackSegmentFault, nil, unix.SIGBUS, siKernel, false},
		{ring0.SegmentNotPresent, nil, unix.SIGBUS, siKernel, false},
		{ring0.AlignmentCheck, nil, unix.SIGBUS, busAdrAln, false},
		// SSE: ZE flagged and unmasked (ZM, bit 9, clear).
		{ring0.SIMDFloatingPoint, fx(0x37f, 0, 0x1f80&^(1<<9)|1<<2), unix.SIGFPE, fpeFltDiv, true},
		// SSE: IE flagged but masked, PE flagged and unmasked.
		{ring0.SIMDFloatingPoint, fx(0x37f, 0, 0x1f80&^(1<<12)|1|1<<5), unix.SIGFPE, fpeFltRes, true},
		// x87: IE flagged and unmasked.
		{ring0.X87FloatingPoint, fx(0x37e, 1, 0x1f80), unix.SIGFPE, fpeFltInv, true},
		// x87: nothing unmasked pending: spurious, no signal.
		{ring0.X87FloatingPoint, fx(0x37f, 1, 0x1f80), 0, 0, true},
		{ring0.SIMDFloatingPoint, broken, unix.SIGFPE, siKernel, false},
	} {
		ev := ring0.Event{Vector: tc.v, Context: ring0.UserContext{RIP: rip}, User: true}
		fpu := tc.fpu
		if fpu == nil {
			fpu = func() ([512]byte, error) { t.Errorf("%v read the FPU", tc.v); return [512]byte{}, nil }
		}
		f := faultOf(&ev, fpu)
		if f.Signal != tc.sig || tc.sig != 0 && f.Code != tc.code || f.TrapNo != uint64(tc.v) {
			t.Errorf("%v: %v code %d trapno %d, want %v code %d", tc.v, f.Signal, f.Code, f.TrapNo, tc.sig, tc.code)
		}
		if tc.sig != 0 && (f.Addr == rip) != tc.withAddr {
			t.Errorf("%v: si_addr %#x, want the rip: %v", tc.v, f.Addr, tc.withAddr)
		}
	}
}
