package mm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// A copy to or from user memory just below a grows-down vma grows it, as
// Linux's copy_to_user/copy_from_user fault through the page-fault path.
func TestCopyGrowsStack(t *testing.T) {
	const limit = 1 << 20
	type result struct {
		start arch.Addr // the stack vma's start afterwards
		done  int
		err   unix.Errno
	}
	cases := []struct {
		name string
		// prepare maps what the case needs below the stack st.
		prepare func(t *testing.T, m *MemoryManager, st arch.AddrRange)
		// op makes the copy and returns bytes done and the error.
		op   func(m *MemoryManager, st arch.AddrRange) (int, error)
		want func(st arch.AddrRange) result
	}{
		{
			name: "CopyOut three pages below, into the stack",
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-3*page+100, pattern(3*page), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start - 3*page, done: 3 * page} },
		},
		{
			name: "CopyIn below",
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyIn(st.Start-2*page, make([]byte, 10), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start - 2*page, done: 10} },
		},
		{
			name: "ZeroOut below",
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				n, err := m.ZeroOut(st.Start-5*page, 2*page, IOOpts{})
				return int(n), err
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start - 5*page, done: 2 * page} },
		},
		{
			name: "CopyOut at the RLIMIT_STACK limit",
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.End-limit, pattern(100), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.End - limit, done: 100} },
		},
		{
			name: "CopyOut beyond RLIMIT_STACK, ending in the stack",
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				a := st.End - limit - page
				return m.CopyOut(a, pattern(int(st.Start+page-a)), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start, err: unix.EFAULT} },
		},
		{
			name: "CopyOut into the guard gap of a mapping below",
			prepare: func(t *testing.T, m *MemoryManager, st arch.AddrRange) {
				anon(t, m, uint64(st.Start-300*page), page, rw)
			},
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-50*page, pattern(page), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start, err: unix.EFAULT} },
		},
		{
			name: "CopyOut just outside the guard gap",
			prepare: func(t *testing.T, m *MemoryManager, st arch.AddrRange) {
				anon(t, m, uint64(st.Start-300*page), page, rw)
			},
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-(299-StackGuardGap/page)*page, pattern(page), IOOpts{})
			},
			want: func(st arch.AddrRange) result {
				return result{start: st.Start - (299-StackGuardGap/page)*page, done: page}
			},
		},
		{
			name: "CopyOut from a grows-down vma below across the hole into the stack",
			prepare: func(t *testing.T, m *MemoryManager, st arch.AddrRange) {
				// No guard gap is kept from another stack.
				if _, err := m.MMap(uint64(st.Start-6*page), 2*page, rw, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_GROWSDOWN, nil, 0); err != nil {
					t.Fatal(err)
				}
			},
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-5*page+9, pattern(5*page), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start - 4*page, done: 5 * page} },
		},
		{
			name: "CopyOut from a mapping below into the guard gap stops at the hole",
			prepare: func(t *testing.T, m *MemoryManager, st arch.AddrRange) {
				anon(t, m, uint64(st.Start-6*page), 2*page, rw)
			},
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-4*page-9, pattern(2*page), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start, done: 9, err: unix.EFAULT} },
		},
		{
			name: "IgnorePermissions does not grow, as get_user_pages",
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-page, pattern(2*page), IOOpts{IgnorePermissions: true})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start, err: unix.EFAULT} },
		},
		{
			name: "CopyOut to a read-only vma below is not growth",
			prepare: func(t *testing.T, m *MemoryManager, st arch.AddrRange) {
				anon(t, m, uint64(st.Start-page), page, unix.PROT_READ)
			},
			op: func(m *MemoryManager, st arch.AddrRange) (int, error) {
				return m.CopyOut(st.Start-page, pattern(2*page), IOOpts{})
			},
			want: func(st arch.AddrRange) result { return result{start: st.Start, err: unix.EFAULT} },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _, _ := testMM(t, withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: DefaultMLockLimit, Stack: limit, MaxMapCount: DefaultMaxMapCount}))
			st, err := m.MapStack()
			if err != nil {
				t.Fatal(err)
			}
			if c.prepare != nil {
				c.prepare(t, m, st)
			}
			w := c.want(st)
			done, err := c.op(m, st)
			if done != w.done || errnoOf(err) != w.err {
				t.Errorf("copy: %d, %v; want %d, %v", done, err, w.done, w.err)
			}
			vs := m.VMAs()
			top := vs[len(vs)-1]
			if top.Range != (arch.AddrRange{Start: w.start, End: st.End}) || !top.GrowsDown || top.Name != "[stack]" {
				t.Errorf("stack vma %v, want %#x-%#x [stack]\n%s", top, uint64(w.start), uint64(st.End), m.Maps())
			}
			check(t, m)
		})
	}
}

// The data a copy below the stack wrote reads back.
func TestCopyGrowsStackReadsBack(t *testing.T) {
	m, _, _ := testMM(t)
	st, err := m.MapStack()
	if err != nil {
		t.Fatal(err)
	}
	src := pattern(5*page + 7)
	a := st.Start - 4*page - 3
	if n, err := m.CopyOut(a, src, IOOpts{}); n != len(src) || err != nil {
		t.Fatalf("CopyOut: %d, %v", n, err)
	}
	got := make([]byte, len(src))
	if n, err := m.CopyIn(a, got, IOOpts{}); n != len(got) || err != nil || !bytes.Equal(got, src) {
		t.Fatalf("CopyIn: %d, %v, equal %v", n, err, bytes.Equal(got, src))
	}
	if vs := m.VMAs(); len(vs) != 1 || vs[0].Range.Start != a.RoundDown() || !strings.Contains(m.Maps(), "[stack]") {
		t.Errorf("after growth: %v", vs)
	}
}

// A copy below the stack racing with munmap of what it grew ends (with
// the stack grown, or EFAULT and a short count) and never loops.
func TestCopyGrowsStackRacesMunmap(t *testing.T) {
	m, _, _ := testMM(t)
	st, err := m.MapStack()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	unmapped := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				unmapped <- n
				return
			default:
			}
			if err := m.MUnmap(uint64(st.Start-8*page), 8*page); err == nil {
				n++
			}
		}
	}()
	src := pattern(3 * page)
	full, short := 0, 0
	for range 2000 {
		n, err := m.CopyOut(st.Start-3*page+5, src, IOOpts{})
		switch {
		case n == len(src) && err == nil:
			full++
		case n < len(src) && errnoOf(err) == unix.EFAULT:
			short++
		default:
			t.Fatalf("CopyOut racing munmap: %d, %v", n, err)
		}
	}
	close(stop)
	<-unmapped
	t.Logf("%d full copies, %d short", full, short)
	check(t, m)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// The host kernel grows a MAP_GROWSDOWN mapping when read(2) or write(2)
// copies to or from just below it; mm's CopyOut and CopyIn must agree on
// the result and on the layout.
func TestCopyGrowsStackMatchesHost(t *testing.T) {
	const (
		W    = 0x4300_0000_0000
		size = 64 << 20
		P    = page
		S    = W + 32<<20 // the grows-down mapping's start
	)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil {
		t.Fatal(err)
	}
	limit := rl.Cur
	if cmd, err := os.ReadFile("/proc/cmdline"); err != nil || strings.Contains(string(cmd), "stack_guard_gap") {
		t.Skip("the host's stack guard gap may not be the default")
	}
	src, err := unix.MemfdCreate("mm-io-stack-src", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(src)
	data := pattern(8 * P)
	if _, err := unix.Pwrite(src, data, 0); err != nil {
		t.Fatal(err)
	}
	dst, err := unix.MemfdCreate("mm-io-stack-dst", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dst)

	type copyOp struct {
		addr, n uint64
		in      bool // from memory (write(2), CopyIn) rather than to it
	}
	stack := mapFlags(S, 4*P, rw, unix.MAP_GROWSDOWN)
	scenarios := []struct {
		name string
		maps []hop
		cp   copyOp
		skip bool
	}{
		{"read into three pages below", []hop{stack}, copyOp{addr: S - 3*P + 100, n: 3 * P}, false},
		{"write from below", []hop{stack}, copyOp{addr: S - 2*P, n: 10, in: true}, false},
		{"read at the RLIMIT_STACK limit", []hop{stack}, copyOp{addr: S + 4*P - limit, n: 100}, limit > 16<<20},
		{"read beyond RLIMIT_STACK", []hop{stack}, copyOp{addr: S + 4*P - limit - P, n: 2 * P}, limit > 16<<20},
		{"read into the guard gap", []hop{mapAnon(S-300*P, P, rw), stack}, copyOp{addr: S - 50*P, n: P}, false},
		{"read just outside the guard gap", []hop{mapAnon(S-300*P, P, rw), stack}, copyOp{addr: S - 43*P, n: P}, false},
		{"read from a grows-down mapping below across the hole", []hop{mapFlags(S-6*P, 2*P, rw, unix.MAP_GROWSDOWN), stack}, copyOp{addr: S - 5*P + 9, n: 5 * P}, false},
		{"write from a grows-down mapping below across the hole", []hop{mapFlags(S-6*P, 2*P, rw, unix.MAP_GROWSDOWN), stack}, copyOp{addr: S - 5*P + 9, n: 5 * P, in: true}, false},
		{"read from a mapping below into the guard gap", []hop{mapAnon(S-6*P, 2*P, rw), stack}, copyOp{addr: S - 4*P - 9, n: 2 * P}, false},
		{"read into a read-only stack grows it, then faults", []hop{mapFlags(S, 4*P, unix.PROT_READ, unix.MAP_GROWSDOWN)}, copyOp{addr: S - 2*P, n: 10}, false},
		{"no guard gap for PROT_NONE", []hop{mapAnon(S-10*P, P, unix.PROT_NONE), stack}, copyOp{addr: S - 5*P, n: P}, false},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			if s.skip {
				t.Skipf("RLIMIT_STACK %#x does not fit the window", limit)
			}
			if got := hostLayoutIn(t, W, W+size); len(got) != 0 {
				t.Fatalf("the host window is not empty: %v", got)
			}
			defer unix.Syscall(unix.SYS_MUNMAP, W, size, 0)
			m, _, _ := testMM(t, withFaultAround(page), withLimits(Limits{AS: Unlimited, Data: Unlimited, MemLock: 8 << 20, Stack: limit, MaxMapCount: DefaultMaxMapCount, CapIPCLock: true}))
			for i, h := range s.maps {
				hr, he := runHost(h)
				mr, me := runMM(m, h)
				if hr != mr || he != me {
					t.Fatalf("map %d: host %#x %v, mm %#x %v", i, hr, he, mr, me)
				}
			}
			// The host: a real read(2)/write(2) through copy_to_user and
			// copy_from_user, not /proc/self/mem.
			var hn uintptr
			var he unix.Errno
			if s.cp.in {
				hn, _, he = unix.Syscall6(unix.SYS_PWRITE64, uintptr(dst), uintptr(s.cp.addr), uintptr(s.cp.n), 0, 0, 0)
			} else {
				hn, _, he = unix.Syscall6(unix.SYS_PREAD64, uintptr(src), uintptr(s.cp.addr), uintptr(s.cp.n), 0, 0, 0)
			}
			var mn int
			if s.cp.in {
				buf := make([]byte, s.cp.n)
				mn, err = m.CopyIn(arch.Addr(s.cp.addr), buf, IOOpts{})
				if mn > 0 {
					want := make([]byte, mn)
					if _, err := unix.Pread(dst, want, 0); err != nil || !bytes.Equal(buf[:mn], want) {
						t.Errorf("CopyIn read other bytes than the host wrote (%v)", err)
					}
				}
			} else {
				mn, err = m.CopyOut(arch.Addr(s.cp.addr), data[:s.cp.n], IOOpts{})
			}
			if he != 0 {
				hn = 0
			}
			// What read(2) or write(2) returns for mm's copy: the count
			// when anything was copied, else the error.
			me := errnoOf(err)
			if mn > 0 {
				me = 0
			}
			if int(hn) != mn || he != me {
				t.Errorf("copy: host %d %v, mm %d %v", hn, he, mn, err)
			}
			if mn > 0 && !s.cp.in {
				got := make([]byte, mn)
				if n, err := m.CopyIn(arch.Addr(s.cp.addr), got, IOOpts{}); n != mn || err != nil || !bytes.Equal(got, data[:mn]) {
					t.Errorf("mm reads back %d, %v, equal %v", n, err, bytes.Equal(got, data[:mn]))
				}
			}
			if h, g := hostLayoutIn(t, W, W+size), mmLayout(m); !slices.Equal(h, g) {
				t.Errorf("layouts differ:\nhost %s\nmm   %s", strings.Join(h, "\n     "), strings.Join(g, "\n     "))
			}
			check(t, m)
		})
	}
}

func mapFlags(addr, length, prot, flags uint64) hop {
	return sys(unix.SYS_MMAP, addr, length, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|flags, maxU, 0)
}

// hostLayoutIn returns the host's mappings within [lo, hi), formatted as
// mmLayout formats mm's.
func hostLayoutIn(t *testing.T, lo, hi uint64) []string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var start, end uint64
		var perms string
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x %s", &start, &end, &perms); err != nil {
			continue
		}
		if start < hi && end > lo {
			out = append(out, fmt.Sprintf("%x-%x %s", start, end, perms))
		}
	}
	return out
}
