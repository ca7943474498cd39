package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// exported are the names and bindings the image must define, all of
// version LINUX_2.6: what Linux's x86-64 vDSO exports (vdso.lds.S), less
// getrandom, which libcs find missing on kernels before 6.11 and then call
// the kernel for.
var exported = map[string]elf.SymBind{
	"__vdso_clock_gettime": elf.STB_GLOBAL, "clock_gettime": elf.STB_WEAK,
	"__vdso_gettimeofday": elf.STB_GLOBAL, "gettimeofday": elf.STB_WEAK,
	"__vdso_time": elf.STB_GLOBAL, "time": elf.STB_WEAK,
	"__vdso_clock_getres": elf.STB_GLOBAL, "clock_getres": elf.STB_WEAK,
	"__vdso_getcpu": elf.STB_GLOBAL, "getcpu": elf.STB_WEAK,
}

func parseELF(t *testing.T, b []byte) *elf.File {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The image is an x86-64 shared object with the dynamic section, symbols,
// hash tables and version definitions glibc's and musl's vDSO parsers
// read, every exported function of version LINUX_2.6 pointing into the
// code, and nothing to relocate.
func TestELF(t *testing.T) {
	img := ELF()
	if len(img) != ELFSize {
		t.Fatalf("image is %d bytes, want %d", len(img), ELFSize)
	}
	f := parseELF(t, img)
	if f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		t.Errorf("%v %v %v, want an x86-64 ELF64 shared object", f.Class, f.Type, f.Machine)
	}
	var load, dynamic int
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			load++
			if p.Off != 0 || p.Vaddr != 0 || p.Filesz != ELFSize || p.Flags != elf.PF_R|elf.PF_X {
				t.Errorf("PT_LOAD %+v: want the whole image at 0, R+X", p.ProgHeader)
			}
		case elf.PT_DYNAMIC:
			dynamic++
		}
	}
	if load != 1 || dynamic != 1 {
		t.Errorf("%d PT_LOAD and %d PT_DYNAMIC, want one each", load, dynamic)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_REL || s.Type == elf.SHT_RELA {
			t.Errorf("relocation section %s", s.Name)
		}
	}
	for _, tag := range []elf.DynTag{elf.DT_HASH, elf.DT_GNU_HASH, elf.DT_SYMTAB, elf.DT_STRTAB, elf.DT_STRSZ, elf.DT_SYMENT,
		elf.DT_VERSYM, elf.DT_VERDEF, elf.DT_VERDEFNUM} {
		if v, err := f.DynValue(tag); err != nil || len(v) != 1 {
			t.Errorf("%v: %v %v", tag, v, err)
		}
	}
	for _, tag := range []elf.DynTag{elf.DT_REL, elf.DT_RELA, elf.DT_JMPREL, elf.DT_NEEDED, elf.DT_TEXTREL} {
		if v, _ := f.DynValue(tag); len(v) != 0 {
			t.Errorf("%v present: %v", tag, v)
		}
	}
	if so, err := f.DynString(elf.DT_SONAME); err != nil || !slices.Equal(so, []string{SOName}) {
		t.Errorf("DT_SONAME %q %v", so, err)
	}
	vers, err := f.DynamicVersions()
	if err != nil || len(vers) != 2 || vers[0].Name != SOName || vers[0].Flags != elf.VER_FLG_BASE || vers[1].Name != Version || vers[1].Index != 2 {
		t.Errorf("version definitions %+v %v", vers, err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	seen := map[string]bool{}
	for _, s := range syms {
		if s.Name == Version {
			continue // the version's own absolute symbol
		}
		bind, ok := exported[s.Name]
		if !ok {
			t.Errorf("unexpected symbol %s", s.Name)
			continue
		}
		seen[s.Name] = true
		if elf.ST_BIND(s.Info) != bind || elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Version != Version || s.VersionIndex.IsHidden() {
			t.Errorf("%s: %v %v version %q: want %v FUNC, default version %s", s.Name, elf.ST_BIND(s.Info), elf.ST_TYPE(s.Info), s.Version, bind, Version)
		}
		if off, _ := Symbol(s.Name); s.Value != off || s.Value < text.Addr || s.Value+s.Size > text.Addr+text.Size || s.Size == 0 {
			t.Errorf("%s at %#x+%d, Symbol says %#x, .text is %#x+%d", s.Name, s.Value, s.Size, off, text.Addr, text.Size)
		}
	}
	for name := range exported {
		if !seen[name] {
			t.Errorf("%s not exported", name)
		}
	}
	if data, _ := text.Data(); !bytes.Equal(data, code) || text.Offset != TextOffset {
		t.Errorf(".text at %#x does not hold the assembled code", text.Offset)
	}
}

// Each exported name is found through DT_HASH, as musl looks it up, and
// through DT_GNU_HASH with its Bloom filter, as glibc does, and an absent
// name through neither.
func TestHashTables(t *testing.T) {
	img := ELF()
	f := parseELF(t, img)
	le := binary.LittleEndian
	dyn := func(tag elf.DynTag) uint64 { v, _ := f.DynValue(tag); return v[0] }
	symtab, strtab := dyn(elf.DT_SYMTAB), dyn(elf.DT_STRTAB)
	nameAt := func(i uint32) string {
		off := strtab + uint64(le.Uint32(img[symtab+uint64(i)*24:]))
		return string(img[off : off+uint64(bytes.IndexByte(img[off:], 0))])
	}
	sysv := func(name string) bool {
		h := img[dyn(elf.DT_HASH):]
		nbucket := le.Uint32(h)
		chain := func(i uint32) uint32 { return le.Uint32(h[8+4*nbucket+4*i:]) }
		for i := le.Uint32(h[8+4*(elfHash(name)%nbucket):]); i != 0; i = chain(i) {
			if nameAt(i) == name {
				return true
			}
		}
		return false
	}
	gnu := func(name string) bool {
		g := img[dyn(elf.DT_GNU_HASH):]
		nbuckets, symoff, bloomSize, shift := le.Uint32(g), le.Uint32(g[4:]), le.Uint32(g[8:]), le.Uint32(g[12:])
		h := gnuHash(name)
		word := le.Uint64(g[16+8*((h/64)%bloomSize):])
		if word>>(h%64)&1 == 0 || word>>((h>>shift)%64)&1 == 0 {
			return false
		}
		buckets := g[16+8*bloomSize:]
		chains := buckets[4*nbuckets:]
		i := le.Uint32(buckets[4*(h%nbuckets):])
		if i == 0 {
			return false
		}
		for ; ; i++ {
			c := le.Uint32(chains[4*(i-symoff):])
			if c|1 == h|1 && nameAt(i) == name {
				return true
			}
			if c&1 != 0 {
				return false
			}
		}
	}
	for name := range exported {
		if !sysv(name) || !gnu(name) {
			t.Errorf("%s: found by DT_HASH %v, by DT_GNU_HASH %v", name, sysv(name), gnu(name))
		}
	}
	for _, name := range []string{"__vdso_getrandom", "clock_settime", ""} {
		if sysv(name) || gnu(name) {
			t.Errorf("absent %q found", name)
		}
	}
}

// hostVDSO returns the host's vDSO, read from this process's memory, or
// nil where the kernel maps none.
func hostVDSO(t *testing.T) []byte {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(maps)) {
		if !strings.HasSuffix(strings.TrimSpace(line), "[vdso]") {
			continue
		}
		lo, hi, _ := strings.Cut(strings.Fields(line)[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("maps line %q", line)
		}
		mem, err := os.Open("/proc/self/mem")
		if err != nil {
			t.Fatal(err)
		}
		defer mem.Close()
		b := make([]byte, end-start)
		if _, err := mem.ReadAt(b, int64(start)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	return nil
}

// The image exports what the host kernel's vDSO exports, with the same
// bindings and version, getrandom aside.
func TestExportsMatchHostVDSO(t *testing.T) {
	host := hostVDSO(t)
	if host == nil {
		t.Skip("the host kernel maps no vDSO")
	}
	describe := func(b []byte) map[string]string {
		syms, err := parseELF(t, b).DynamicSymbols()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range syms {
			if !strings.Contains(s.Name, "getrandom") {
				out[s.Name] = elf.ST_BIND(s.Info).String() + " " + elf.ST_TYPE(s.Info).String() + " @" + s.Version
			}
		}
		return out
	}
	ours, theirs := describe(ELF()), describe(host)
	for name, d := range theirs {
		if ours[name] != d {
			t.Errorf("%s: host %q, ours %q", name, d, ours[name])
		}
	}
	for name := range ours {
		if _, ok := theirs[name]; !ok {
			t.Errorf("%s: not in the host's vDSO", name)
		}
	}
	t.Logf("host vDSO exports %d symbols (getrandom aside), as ours do", len(theirs))
}
