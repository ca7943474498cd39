package vdso

import (
	"encoding/binary"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/vdso/internal/nativecall"
)

// unsafeBytes is w's memory as bytes: 8-byte aligned, as WriteVVar wants.
func unsafeBytes(w []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8)
}

// nativeImage maps the image on the host as a program gets it (the vvar
// page read-only, then the ELF object read+execute), with p in the vvar
// page, and returns a function calling an exported symbol, and a page of
// scratch memory for results.
func nativeImage(t *testing.T, p *Params) (call func(name string, a0, a1, a2 uintptr) int64, out []byte) {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, Size+pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	WriteVVar(mem[VVarOffset:VVarOffset+VVarDataSize], p)
	copy(mem[ELFOffset:], ELF())
	if err := unix.Mprotect(mem[VVarOffset:VVarOffset+VVarSize], unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(mem[ELFOffset:ELFOffset+ELFSize], unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	base := uintptr(unsafe.Pointer(&mem[ELFOffset]))
	call = func(name string, a0, a1, a2 uintptr) int64 {
		off, ok := Symbol(name)
		if !ok {
			t.Fatalf("no symbol %s", name)
		}
		return int64(nativecall.Call3(base+uintptr(off), a0, a1, a2))
	}
	return call, mem[Size:]
}

// The image's code, run on the host against a vvar page written by
// WriteVVar, reads each served clock as Params.Nanos does at a TSC between
// the reads before and after the call; other clock ids go to the kernel.
func TestNativeCalls(t *testing.T) {
	var p Params
	p.TSCBase = nativecall.RDTSC()
	// One nanosecond a cycle, from recognisable bases.
	for id, base := range map[int]uint64{
		ClockRealtime: 1_700_000_000e9, ClockRealtimeCoarse: 1_700_000_000e9,
		ClockMonotonic: 5e9, ClockMonotonicRaw: 5e9, ClockBoottime: 5e9, ClockMonotonicCoarse: 5e9,
	} {
		res := uint64(1)
		if id == ClockRealtimeCoarse || id == ClockMonotonicCoarse {
			res = 4e6
		}
		p.Clocks[id] = Clock{Base: base, Mult: 1 << MultShift, Res: res}
	}
	call, out := nativeImage(t, &p)
	at := uintptr(unsafe.Pointer(&out[0]))
	le := binary.LittleEndian
	ts := func() uint64 { return le.Uint64(out)*1e9 + le.Uint64(out[8:]) }

	for _, id := range []int{ClockRealtime, ClockMonotonic, ClockMonotonicRaw, ClockRealtimeCoarse, ClockMonotonicCoarse, ClockBoottime} {
		before := nativecall.RDTSC()
		r := call("__vdso_clock_gettime", uintptr(id), at, 0)
		after := nativecall.RDTSC()
		lo, _ := p.Nanos(id, before)
		hi, _ := p.Nanos(id, after)
		if got := ts(); r != 0 || got < lo || got > hi || le.Uint64(out[8:]) >= 1e9 {
			t.Errorf("clock_gettime(%d) = %d, %d ns; want within [%d, %d]", id, r, got, lo, hi)
		}
	}
	// Not served: the kernel answers, as the alias does the same.
	if r := call("clock_gettime", unix.CLOCK_PROCESS_CPUTIME_ID, at, 0); r != 0 || ts() == 0 || ts() > 1e12 {
		t.Errorf("clock_gettime(CLOCK_PROCESS_CPUTIME_ID) = %d, %d ns", r, ts())
	}
	if r := call("__vdso_clock_gettime", 1000, at, 0); r != -int64(unix.EINVAL) {
		t.Errorf("clock_gettime(1000) = %d, want -EINVAL", r)
	}

	before := nativecall.RDTSC()
	r := call("__vdso_gettimeofday", at, at+16, 0)
	after := nativecall.RDTSC()
	lo, _ := p.Nanos(ClockRealtime, before)
	hi, _ := p.Nanos(ClockRealtime, after)
	if us := le.Uint64(out)*1e6 + le.Uint64(out[8:]); r != 0 || us < lo/1000 || us > hi/1000 || le.Uint64(out[8:]) >= 1e6 || le.Uint64(out[16:]) != 0 {
		t.Errorf("gettimeofday = %d, %d us, tz %#x; want within [%d, %d]", r, us, le.Uint64(out[16:]), lo/1000, hi/1000)
	}
	if r := call("__vdso_gettimeofday", 0, 0, 0); r != 0 {
		t.Errorf("gettimeofday(NULL, NULL) = %d", r)
	}

	le.PutUint64(out, 0)
	if r := call("time", at, 0, 0); r != 1_700_000_000 || le.Uint64(out) != 1_700_000_000 {
		t.Errorf("time = %d, stored %d", r, le.Uint64(out))
	}
	if r := call("__vdso_time", 0, 0, 0); r != 1_700_000_000 {
		t.Errorf("time(NULL) = %d", r)
	}

	for id, want := range map[int]uint64{ClockMonotonic: 1, ClockMonotonicCoarse: 4e6} {
		if r := call("__vdso_clock_getres", uintptr(id), at, 0); r != 0 || ts() != want {
			t.Errorf("clock_getres(%d) = %d, %d ns, want %d", id, r, ts(), want)
		}
	}
	if r := call("clock_getres", 1000, at, 0); r != -int64(unix.EINVAL) {
		t.Errorf("clock_getres(1000) = %d, want -EINVAL", r)
	}

	le.PutUint64(out, ^uint64(0))
	if r := call("__vdso_getcpu", at, at+4, 0); r != 0 || le.Uint64(out) != 0 {
		t.Errorf("getcpu = %d, cpu and node %#x", r, le.Uint64(out))
	}
}

// With the vvar page empty (no TSC frequency: no clock served), every call
// is the kernel's.
func TestNativeCallsWithoutClocks(t *testing.T) {
	call, out := nativeImage(t, &Params{})
	at := uintptr(unsafe.Pointer(&out[0]))
	le := binary.LittleEndian
	var before, after unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
	r := call("__vdso_clock_gettime", unix.CLOCK_MONOTONIC, at, 0)
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &after)
	got := int64(le.Uint64(out))*1e9 + int64(le.Uint64(out[8:]))
	if r != 0 || got < before.Nano() || got > after.Nano() {
		t.Errorf("clock_gettime(CLOCK_MONOTONIC) = %d, %d ns; the kernel said %d then %d", r, got, before.Nano(), after.Nano())
	}
	if r, now := call("__vdso_time", 0, 0, 0), time.Now().Unix(); r < now-1 || r > now+1 {
		t.Errorf("time(NULL) = %d, the host's time is %d", r, now)
	}
	if r := call("__vdso_clock_getres", unix.CLOCK_MONOTONIC, at, 0); r != 0 || le.Uint64(out)*1e9+le.Uint64(out[8:]) == 0 {
		t.Errorf("clock_getres = %d", r)
	}
}
