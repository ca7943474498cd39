package ring0

import (
	"errors"
	"fmt"

	"github.com/mmvm/mmvm/arch"
)

// Exit is what the host knows at a KVM_EXIT_IO that ring0's protocol
// produced. Everything comes from the run structure: the port from the IO
// record, the registers from KVM_CAP_SYNC_REGS; no ioctl is needed.
type Exit struct {
	Port   uint16 // kvm_run.io.port
	RIP    uint64 // regs.rip: the exiting `out` itself
	RSP    uint64 // regs.rsp: at a vector port, the address of the frame
	RCX    uint64 // regs.rcx: at PortSyscall, the user RIP
	R11    uint64 // regs.r11: at PortSyscall, the user RFLAGS
	RFLAGS uint64 // regs.rflags
	CR2    uint64 // sregs.cr2: at a #PF, the faulting address
	CPL    uint8  // the privilege level the `out` ran at (CS's low bits)
}

// EventKind says which protocol event an exit was.
type EventKind uint8

// Event kinds.
const (
	// EventException: an exception vector's stub exited.
	EventException EventKind = iota + 1
	// EventSyscall: the SYSCALL entry exited. The host reads the number
	// from RAX and the arguments from RDI, RSI, RDX, R10, R8, R9, and
	// leaves the result in RAX.
	EventSyscall
	// EventUserPort: user mode ran `out` to one of the user ports. KVM
	// completes the instruction on the next run; nothing needs resuming.
	EventUserPort
	// EventReplay: the replay stub finished (see PortReplay).
	EventReplay
)

func (k EventKind) String() string {
	switch k {
	case EventException:
		return "exception"
	case EventSyscall:
		return "syscall"
	case EventUserPort:
		return "user port"
	case EventReplay:
		return "replay"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// UserContext is where user mode resumes. CS and SS are always
// UserCodeSegment and UserDataSegment when User is set on the event.
type UserContext struct {
	RIP, RSP, RFLAGS uint64
}

// Event is a decoded exit.
type Event struct {
	Kind EventKind
	// Port is the exit port.
	Port uint16

	// Vector, ErrorCode and FaultAddr describe an EventException.
	// ErrorCode is zero for vectors without one; FaultAddr is CR2 for a
	// #PF and zero otherwise.
	Vector    Vector
	ErrorCode uint64
	FaultAddr uint64

	// User reports that the event interrupted user mode (CPL 3). An
	// exception with User unset hit ring 0 itself: the guest's kernel state
	// is broken (or an NMI/#MC arrived inside a stub) and the VM must stop.
	User bool
	// CS and SS are the interrupted selectors (from the frame, or the user
	// selectors for a syscall).
	CS, SS uint16
	// Context is the interrupted context, where user mode resumes. For an
	// EventUserPort it is zero: the VM's own registers hold it.
	Context UserContext

	// StubResumes reports that letting the stub continue (re-entering the
	// vCPU unchanged) returns to Context. It is false for a syscall whose
	// return RIP is not a canonical user address: SYSRET would fault in ring 0
	// on the user's stack, so the VM must resume directly (or kill).
	StubResumes bool
	// DirectResumes reports that the host may instead load Context (with
	// the user CS and SS) into the vCPU itself, skipping the rest of the
	// stub. False for an NMI: only iretq ends the CPU's NMI blocking.
	DirectResumes bool
}

// Frame sizes: the hardware frame (RIP, CS, RFLAGS, RSP, SS) and the error
// code pushed below it for some vectors.
const (
	frameWords    = 5
	frameSize     = frameWords * 8
	errorCodeSize = 8
)

// Errors Decode returns (wrapped, with the details).
var (
	// ErrUnknownPort: the port is not part of the protocol.
	ErrUnknownPort = errors.New("ring0: exit on a port outside the protocol")
	// ErrBadFrame: RSP at a vector exit does not point at a whole frame
	// inside the kernel stacks.
	ErrBadFrame = errors.New("ring0: exception frame outside the kernel stacks")
)

// Decode returns the event an exit was. It reads the exception frame
// through the host view of the kernel region and does not allocate unless it
// fails.
func (k *Kernel) Decode(e Exit) (Event, error) {
	switch {
	case e.Port >= PortVectorBase && e.Port < PortVectorBase+NumVectors:
		return k.decodeException(e)
	case e.Port == PortSyscall:
		return k.decodeSyscall(e), nil
	case e.Port >= PortUserFirst && e.Port <= PortUserLast:
		return Event{Kind: EventUserPort, Port: e.Port, User: true, CS: UserCodeSelector, SS: UserDataSelector}, nil
	case e.Port == PortReplay && e.CPL == 0:
		return Event{Kind: EventReplay, Port: e.Port}, nil
	}
	return Event{}, fmt.Errorf("%w: port %#x", ErrUnknownPort, e.Port)
}

func (k *Kernel) decodeException(e Exit) (Event, error) {
	v := Vector(e.Port - PortVectorBase)
	size := uint64(frameSize)
	if v.HasErrorCode() {
		size += errorCodeSize
	}
	off, ok := k.stackOffset(e.RSP, size)
	if !ok {
		return Event{}, fmt.Errorf("%w: %v with RSP %#x", ErrBadFrame, v, e.RSP)
	}
	ev := Event{Kind: EventException, Port: e.Port, Vector: v, StubResumes: true, DirectResumes: v != NMI}
	if v.HasErrorCode() {
		ev.ErrorCode = get64(k.mem, off)
		off += errorCodeSize
	}
	if v == PageFault {
		ev.FaultAddr = e.CR2
	}
	ev.Context.RIP = get64(k.mem, off)
	cs := get64(k.mem, off+8)
	ev.Context.RFLAGS = get64(k.mem, off+16)
	ev.Context.RSP = get64(k.mem, off+24)
	ss := get64(k.mem, off+32)
	ev.CS, ev.SS = uint16(cs), uint16(ss)
	ev.User = ev.CS == UserCodeSelector
	if !ev.User {
		// Resuming the kernel from the host makes no sense; only the
		// stub's own iretq can return there.
		ev.DirectResumes = false
	}
	return ev, nil
}

// stackOffset translates a kernel virtual stack pointer into a region offset
// if [rsp, rsp+size) lies inside the kernel stacks.
func (k *Kernel) stackOffset(rsp, size uint64) (uint64, bool) {
	s := k.layout.Stacks
	lo := uint64(k.layout.VirtOf(s.Offset))
	if rsp < lo || rsp-lo > s.Size || s.Size-(rsp-lo) < size {
		return 0, false
	}
	return s.Offset + (rsp - lo), true
}

// SysretRFLAGS returns the RFLAGS SYSRET loads from r11. A host that resumes
// a syscall directly loads this, so both ways of returning agree.
func SysretRFLAGS(r11 uint64) uint64 { return r11&sysretFlagsMask | RFLAGSReserved }

// TrampolineRFLAGS returns the RFLAGS the host resumes a syscall from the
// trampoline with. Unlike a SYSCALL's, the trampoline's R11 is whatever user
// code jumped there with, so only the bits user code may set itself are
// taken from it: IF is always set, IOPL, NT and the rest always clear.
func TrampolineRFLAGS(r11 uint64) uint64 { return r11&userFlagsMask | RFLAGSIF | RFLAGSReserved }

// IsUserAddress reports whether a is a canonical lower-half address, one that
// SYSRET can return to without faulting.
func IsUserAddress(a uint64) bool { return a < uint64(arch.MaxUserAddr) }

// PageFaultError is a #PF error code (SDM vol. 3A, figure 4-12).
type PageFaultError uint64

// Page-fault error code bits.
const (
	PFPresent     PageFaultError = 1 << 0 // the page was present: a protection fault
	PFWrite       PageFaultError = 1 << 1
	PFUser        PageFaultError = 1 << 2 // the access was made at CPL 3
	PFReserved    PageFaultError = 1 << 3 // a reserved bit was set in a paging entry
	PFFetch       PageFaultError = 1 << 4 // an instruction fetch
	PFProtKey     PageFaultError = 1 << 5
	PFShadowStack PageFaultError = 1 << 6
)

// Has reports whether every bit of b is set in e.
func (e PageFaultError) Has(b PageFaultError) bool { return e&b == b }

// Access returns the access that faulted: an instruction fetch, a write, or
// otherwise a read.
func (e PageFaultError) Access() arch.AccessType {
	switch {
	case e.Has(PFFetch):
		return arch.Execute
	case e.Has(PFWrite):
		return arch.Write
	}
	return arch.Read
}

// String returns e as the flags it holds, such as "user write not-present".
func (e PageFaultError) String() string {
	s := "supervisor"
	if e.Has(PFUser) {
		s = "user"
	}
	switch {
	case e.Has(PFFetch):
		s += " fetch"
	case e.Has(PFWrite):
		s += " write"
	default:
		s += " read"
	}
	if e.Has(PFPresent) {
		s += " protection"
	} else {
		s += " not-present"
	}
	if e.Has(PFReserved) {
		s += " reserved-bit"
	}
	if e.Has(PFProtKey) {
		s += " pkey"
	}
	if e.Has(PFShadowStack) {
		s += " shadow-stack"
	}
	return s
}
