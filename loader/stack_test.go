package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
	"golang.org/x/sys/unix"
)

// decodedStack is what a program's _start would find, read back from an
// image the way libc reads it: through the pointers.
type decodedStack struct {
	argv, envp []string
	auxv       map[AuxType]uint64
	auxOrder   []AuxType
}

// decodeStack walks img (the bytes of [sp, top)) from sp as _start does.
func decodeStack(t *testing.T, img []byte, sp, top arch.Addr) decodedStack {
	t.Helper()
	if uint64(top-sp) != uint64(len(img)) {
		t.Fatalf("image is %d bytes, [sp, top) is %d", len(img), top-sp)
	}
	word := func(a arch.Addr) uint64 {
		if a < sp || a+8 > top {
			t.Fatalf("word at %v outside the image [%v, %v)", a, sp, top)
		}
		return binary.LittleEndian.Uint64(img[a-sp:])
	}
	str := func(a uint64) string {
		if arch.Addr(a) < sp || arch.Addr(a) >= top {
			t.Fatalf("string at %#x outside the image", a)
		}
		b := img[arch.Addr(a)-sp:]
		n := bytes.IndexByte(b, 0)
		if n < 0 {
			t.Fatalf("string at %#x not terminated", a)
		}
		return string(b[:n])
	}
	var d decodedStack
	argc := word(sp)
	a := sp + 8
	for i := uint64(0); i < argc; i++ {
		d.argv = append(d.argv, str(word(a)))
		a += 8
	}
	if word(a) != 0 {
		t.Fatal("argv not NULL-terminated")
	}
	a += 8
	for ; word(a) != 0; a += 8 {
		d.envp = append(d.envp, str(word(a)))
	}
	a += 8
	d.auxv = map[AuxType]uint64{}
	for {
		typ, val := AuxType(word(a)), word(a+8)
		a += 16
		if typ == AuxNull {
			break
		}
		if _, dup := d.auxv[typ]; dup {
			t.Errorf("auxv entry %d twice", typ)
		}
		d.auxv[typ] = val
		d.auxOrder = append(d.auxOrder, typ)
	}
	return d
}

func TestBuildStack(t *testing.T) {
	plan, err := load(t, minimalStatic().bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	random := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name       string
		argv, envv []string
		execFn     string
		wantArgv   []string
		wantExecFn string
	}{
		{"no arguments", nil, nil, "/bin/prog", []string{""}, "/bin/prog"},
		{"one argument", []string{"hello"}, nil, "", []string{"hello"}, "hello"},
		{"two arguments", []string{"touch", "64"}, []string{"A=1"}, "/x/touch", []string{"touch", "64"}, "/x/touch"},
		{"odd word counts", []string{"a", "b", "c"}, []string{"A=1", "B=2"}, "p", []string{"a", "b", "c"}, "p"},
		{"empty strings", []string{"", ""}, []string{""}, "e", []string{"", ""}, "e"},
		{"long strings", []string{long, "y"}, []string{"K=" + long}, "q", []string{long, "y"}, "q"},
	} {
		for _, top := range []arch.Addr{0x7fff_ffff_f000, 0x7fff_ffff_eff0} {
			t.Run(fmt.Sprintf("%s/top=%v", tc.name, top), func(t *testing.T) {
				spec := StackSpec{
					Argv: tc.argv, Envv: tc.envv, ExecFn: tc.execFn, Random: random,
					HWCap: 0x178bfbff, HWCap2: 2, UID: 1000, EUID: 1001, GID: 100, EGID: 101, Secure: true,
					SysinfoEHdr: 0x7fff_f7ffd000,
				}
				st, err := BuildStack(plan, spec, top)
				if err != nil {
					t.Fatal(err)
				}
				if st.SP%16 != 0 {
					t.Errorf("SP %v not 16-byte aligned", st.SP)
				}
				if st.Top != top || st.SP+arch.Addr(len(st.Image)) != top {
					t.Errorf("image [%v, +%d) does not end at top %v", st.SP, len(st.Image), top)
				}
				if !bytes.Equal(st.Image[len(st.Image)-8:], make([]byte, 8)) {
					t.Error("no zero end marker below top")
				}
				d := decodeStack(t, st.Image, st.SP, top)
				if !slices.Equal(d.argv, tc.wantArgv) || !slices.Equal(d.envp, tc.envv) {
					t.Errorf("argv %q envp %q, want %q %q", d.argv, d.envp, tc.wantArgv, tc.envv)
				}
				if st.ArgvAddr != st.SP+8 || st.EnvpAddr != st.ArgvAddr+arch.Addr(8*(len(tc.wantArgv)+1)) ||
					st.AuxvAddr != st.EnvpAddr+arch.Addr(8*(len(tc.envv)+1)) {
					t.Errorf("argv %v envp %v auxv %v addresses inconsistent with sp %v", st.ArgvAddr, st.EnvpAddr, st.AuxvAddr, st.SP)
				}
				want := map[AuxType]uint64{
					AuxPhdr: 0x400040, AuxPhent: 56, AuxPhnum: 4, AuxPagesz: 4096, AuxBase: 0, AuxFlags: 0,
					AuxEntryPoint: 0x401000, AuxUID: 1000, AuxEUID: 1001, AuxGID: 100, AuxEGID: 101,
					AuxSecure: 1, AuxHWCap: 0x178bfbff, AuxHWCap2: 2, AuxClkTck: 100,
					AuxSysinfoEHdr: 0x7fff_f7ffd000,
				}
				// ARCH_DLINFO's entries come first on x86-64.
				if st.Auxv[0] != (AuxEntry{AuxSysinfoEHdr, 0x7fff_f7ffd000}) {
					t.Errorf("first auxv entry %v, want AT_SYSINFO_EHDR", st.Auxv[0])
				}
				for typ, v := range want {
					if got, ok := d.auxv[typ]; !ok || got != v {
						t.Errorf("auxv[%d] = %#x (present %v), want %#x", typ, got, ok, v)
					}
				}
				r := arch.Addr(d.auxv[AuxRandom])
				if r < st.SP || r+16 > top || !bytes.Equal(st.Image[r-st.SP:r-st.SP+16], random[:]) {
					t.Errorf("AT_RANDOM %v does not point at the random bytes", r)
				}
				for typ, want := range map[AuxType]string{AuxExecFn: tc.wantExecFn, AuxPlatform: "x86_64"} {
					a := arch.Addr(d.auxv[typ])
					if a < st.SP || a >= top {
						t.Fatalf("auxv[%d] %v outside the image", typ, a)
					}
					b := st.Image[a-st.SP:]
					if got := string(b[:bytes.IndexByte(b, 0)]); got != want {
						t.Errorf("auxv[%d] string %q, want %q", typ, got, want)
					}
				}
				if len(d.auxv)+1 != len(st.Auxv) || st.Auxv[len(st.Auxv)-1] != (AuxEntry{AuxNull, 0}) {
					t.Errorf("Stack.Auxv %v does not match the image's %v", st.Auxv, d.auxv)
				}
				for i, typ := range d.auxOrder {
					if st.Auxv[i].Type != typ || st.Auxv[i].Value != d.auxv[typ] {
						t.Errorf("Stack.Auxv[%d] = %v, image has %d=%#x", i, st.Auxv[i], typ, d.auxv[typ])
					}
				}
			})
		}
	}
}

func TestBuildStackDefaults(t *testing.T) {
	plan, err := load(t, minimalStatic().bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := BuildStack(plan, StackSpec{Argv: []string{"p"}}, 0x7fff_ffff_f000)
	if err != nil {
		t.Fatal(err)
	}
	d := decodeStack(t, st.Image, st.SP, st.Top)
	if _, ok := d.auxv[AuxSysinfoEHdr]; ok {
		t.Error("AT_SYSINFO_EHDR present without a vDSO")
	}
	if d.auxv[AuxClkTck] != 100 || d.auxv[AuxSecure] != 0 {
		t.Errorf("defaults: clktck %d secure %d", d.auxv[AuxClkTck], d.auxv[AuxSecure])
	}
	if _, ok := d.auxv[AuxHWCap2]; ok {
		t.Error("AT_HWCAP2 written although zero")
	}
}

func TestBuildStackErrors(t *testing.T) {
	plan, err := load(t, minimalStatic().bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const top = 0x7fff_ffff_f000
	big := strings.Repeat("z", maxArgStrLen-1) // with its NUL: exactly the limit
	many := make([]string, 0, 200)
	for range 200 {
		many = append(many, strings.Repeat("e", 1000))
	}
	for _, tc := range []struct {
		name  string
		spec  StackSpec
		top   arch.Addr
		kind  Kind
		errno error
		msg   string
	}{
		{"string too long", StackSpec{Argv: []string{big + "z"}}, top, KindArgs, unix.E2BIG, "argv[0] is 131072 bytes"},
		{"env string too long", StackSpec{Argv: []string{"p"}, Envv: []string{"A=1", big + "z"}}, top, KindArgs, unix.E2BIG, "envp[1]"},
		{"execfn too long", StackSpec{Argv: []string{"p"}, ExecFn: big + "z"}, top, KindArgs, unix.E2BIG, "execfn[0]"},
		{"total over a quarter of a small stack limit", StackSpec{Argv: []string{"p"}, Envv: many, StackLimit: 512 << 10}, top, KindArgs, unix.E2BIG, "exceed 131072 bytes"},
		{"pointers count", StackSpec{Argv: make([]string, 16384), StackLimit: 512 << 10}, top, KindArgs, unix.E2BIG, "exceed"},
		{"NUL in argv", StackSpec{Argv: []string{"a\x00b"}}, top, KindArgs, unix.EINVAL, "argv[0] contains a NUL"},
		{"NUL in envp", StackSpec{Argv: []string{"a"}, Envv: []string{"\x00"}}, top, KindArgs, unix.EINVAL, "envp[0]"},
		{"unaligned top", StackSpec{Argv: []string{"p"}}, top - 8, KindStack, nil, "16-byte aligned"},
		{"kernel top", StackSpec{Argv: []string{"p"}}, arch.KernelBase, KindStack, nil, "at most"},
		{"top too low", StackSpec{Argv: []string{"p"}}, MinAddr + 0x100, KindStack, nil, "does not fit"},
		{"top near zero", StackSpec{Argv: []string{"p"}}, 0x40, KindStack, nil, "does not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := BuildStack(plan, tc.spec, tc.top)
			if err == nil {
				t.Fatalf("built a %d-byte stack", len(st.Image))
			}
			if !errors.Is(err, tc.kind) || (tc.errno != nil && !errors.Is(err, tc.errno)) {
				t.Errorf("error %v, want %v wrapping %v", err, tc.kind, tc.errno)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q lacks %q", err, tc.msg)
			}
		})
	}
	// The limits are inclusive: a string of exactly MAX_ARG_STRLEN fits,
	// and so does the most a default stack limit allows.
	if _, err := BuildStack(plan, StackSpec{Argv: []string{big}}, top); err != nil {
		t.Errorf("a %d-byte string: %v", len(big)+1, err)
	}
	if _, err := BuildStack(plan, StackSpec{Argv: []string{"p"}, Envv: many}, top); err != nil {
		t.Errorf("200 KB of environment under the default 8 MiB limit: %v", err)
	}
}
