package loader

import (
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

func load(t *testing.T, img []byte, opts Options) (*Plan, error) {
	t.Helper()
	return Load(bytes.NewReader(img), int64(len(img)), opts)
}

func TestLoadStatic(t *testing.T) {
	p, err := load(t, minimalStatic().bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		Type:     elf.ET_EXEC,
		Bias:     0,
		Entry:    0x401000,
		BrkStart: 0x407000,
		Phdr:     0x400040,
		PhEnt:    56,
		PhNum:    4,
		FileSize: testFileSize,
		Segments: []Segment{{
			Index:     0,
			Perms:     arch.AccessType{Read: true, Execute: true},
			Mapped:    arch.AddrRange{Start: 0x400000, End: 0x402000},
			FilePages: arch.AddrRange{Start: 0x400000, End: 0x402000},
			Offset:    0,
			ZeroTail:  arch.AddrRange{Start: 0x402000, End: 0x402000},
			Anon:      arch.AddrRange{Start: 0x402000, End: 0x402000},
			VAddr:     0x400000, FileSize: 0x1009, MemSize: 0x1009,
		}, {
			Index:     1,
			Perms:     arch.ReadWrite,
			Mapped:    arch.AddrRange{Start: 0x403000, End: 0x407000},
			FilePages: arch.AddrRange{Start: 0x403000, End: 0x404000},
			Offset:    0x2000,
			ZeroTail:  arch.AddrRange{Start: 0x403030, End: 0x404000},
			Anon:      arch.AddrRange{Start: 0x404000, End: 0x407000},
			VAddr:     0x403010, FileSize: 0x20, MemSize: 0x3000,
		}},
	}
	comparePlans(t, p, want)
}

func comparePlans(t *testing.T, got, want *Plan) {
	t.Helper()
	if len(got.Segments) != len(want.Segments) {
		t.Fatalf("%d segments, want %d: %+v", len(got.Segments), len(want.Segments), got.Segments)
	}
	for i := range want.Segments {
		if got.Segments[i] != want.Segments[i] {
			t.Errorf("segment %d:\n got %+v\nwant %+v", i, got.Segments[i], want.Segments[i])
		}
	}
	g, w := *got, *want
	g.Segments, w.Segments = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("plan:\n got %+v\nwant %+v", g, w)
	}
}

func TestLoadPIE(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		align uint64
		base  arch.Addr
	}{
		{"default base", Options{}, 0x1000, DefaultDynBase},
		{"chosen base", Options{DynBase: 0x10000000}, 0x1000, 0x10000000},
		{"2MiB p_align raises the base", Options{}, 0x200000, 0x555555600000},
		{"non-power-of-two p_align is ignored", Options{}, 0x3000, DefaultDynBase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := minimalPIE()
			img.progs[0].Align = tc.align
			p, err := load(t, img.bytes(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != elf.ET_DYN || p.Bias != tc.base {
				t.Fatalf("type %v bias %v, want ET_DYN %v", p.Type, p.Bias, tc.base)
			}
			// The same layout as the static image, moved by the base.
			st, err := load(t, minimalStatic().bytes(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			delta := tc.base - testTextVaddr
			if p.Entry != st.Entry+delta || p.Phdr != st.Phdr+delta || p.BrkStart != st.BrkStart+delta {
				t.Errorf("entry %v phdr %v brk %v; want the static ones moved by %v", p.Entry, p.Phdr, p.BrkStart, delta)
			}
			for i, s := range p.Segments {
				ss := st.Segments[i]
				if s.Mapped.Start != ss.Mapped.Start+delta || s.ZeroTail.Start != ss.ZeroTail.Start+delta || s.Offset != ss.Offset {
					t.Errorf("segment %d %+v is not %+v moved by %v", i, s, ss, delta)
				}
			}
		})
	}
	if _, err := load(t, minimalPIE().bytes(), Options{DynBase: 0x10000123}); !errors.Is(err, KindSegmentAddress) {
		t.Errorf("unaligned DynBase: %v", err)
	}
}

func TestLoadDetails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*testImage)
		check func(*testing.T, *Plan)
	}{
		{"executable stack", func(m *testImage) { m.progs[2].Flags |= uint32(elf.PF_X) }, func(t *testing.T, p *Plan) {
			if !p.ExecStack {
				t.Error("PF_X on PT_GNU_STACK did not give an executable stack")
			}
		}},
		{"no PT_GNU_STACK", func(m *testImage) { m.progs[2].Type = uint32(elf.PT_NULL) }, func(t *testing.T, p *Plan) {
			if p.ExecStack {
				t.Error("no PT_GNU_STACK gave an executable stack")
			}
		}},
		{"phdr from PT_PHDR when no PT_LOAD holds the table", func(m *testImage) {
			m.progs[0].Off, m.progs[0].Vaddr, m.progs[0].Filesz, m.progs[0].Memsz = 0x1000, testTextVaddr+0x1000, 0x10, 0x10
			m.progs[3] = elf.Prog64{Type: uint32(elf.PT_PHDR), Flags: uint32(elf.PF_R), Off: 64, Vaddr: 0x500040, Filesz: 4 * 56, Memsz: 4 * 56}
		}, func(t *testing.T, p *Plan) {
			if p.Phdr != 0x500040 {
				t.Errorf("Phdr %v, want PT_PHDR's 0x500040", p.Phdr)
			}
		}},
		{"bss-only segment", func(m *testImage) { m.progs[1].Filesz = 0 }, func(t *testing.T, p *Plan) {
			s := p.Segments[1]
			if !s.FilePages.Empty() || !s.ZeroTail.Empty() || s.Anon != s.Mapped {
				t.Errorf("bss-only segment %+v: want all of it anonymous", s)
			}
		}},
		{"file-only segment has no zero tail", func(m *testImage) { m.progs[1].Memsz = 0x20 }, func(t *testing.T, p *Plan) {
			s := p.Segments[1]
			if !s.ZeroTail.Empty() || !s.Anon.Empty() || s.FilePages != s.Mapped {
				t.Errorf("file-only segment %+v", s)
			}
		}},
		{"empty PT_LOAD is skipped", func(m *testImage) {
			m.progs[3] = elf.Prog64{Type: uint32(elf.PT_LOAD), Vaddr: 0x400500}
		}, func(t *testing.T, p *Plan) {
			if len(p.Segments) != 2 {
				t.Errorf("%d segments, want the 2 non-empty ones", len(p.Segments))
			}
		}},
		{"segments out of order are sorted", func(m *testImage) {
			m.progs[0], m.progs[1] = m.progs[1], m.progs[0]
		}, func(t *testing.T, p *Plan) {
			if p.Segments[0].Index != 1 || p.Segments[1].Index != 0 || p.Segments[0].Mapped.Start != 0x400000 {
				t.Errorf("segments %+v not in address order", p.Segments)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := minimalStatic()
			tc.edit(img)
			p, err := load(t, img.bytes(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
			checkPlanInvariants(t, p)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	interp := "/lib64/ld-linux-x86-64.so.2\x00"
	for _, tc := range []struct {
		name    string
		edit    func(*testImage)
		raw     []byte // used instead of the edited image when set
		kind    Kind
		segment int
		msg     string // must appear in the message
	}{
		{name: "empty file", raw: []byte{}, kind: KindNotELF, segment: -1, msg: "shorter than an ELF header"},
		{name: "text file", raw: bytes.Repeat([]byte("#!/bin/sh\n"), 10), kind: KindNotELF, segment: -1, msg: "bad magic"},
		{name: "32-bit", edit: func(m *testImage) { m.hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32) }, kind: KindClass, segment: -1, msg: "ELFCLASS32"},
		{name: "big-endian", edit: func(m *testImage) { m.hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB) }, kind: KindClass, segment: -1, msg: "ELFDATA2MSB"},
		{name: "arm64", edit: func(m *testImage) { m.hdr.Machine = uint16(elf.EM_AARCH64) }, kind: KindMachine, segment: -1, msg: "EM_AARCH64"},
		{name: "relocatable object", edit: func(m *testImage) { m.hdr.Type = uint16(elf.ET_REL) }, kind: KindType, segment: -1, msg: "ET_REL"},
		{name: "core file", edit: func(m *testImage) { m.hdr.Type = uint16(elf.ET_CORE) }, kind: KindType, segment: -1, msg: "ET_CORE"},
		{name: "dynamic", edit: func(m *testImage) {
			m.progs[3] = elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: 0x1800, Filesz: uint64(len(interp)), Memsz: uint64(len(interp))}
			m.blobs[0x1800] = []byte(interp)
		}, kind: KindDynamic, segment: 3, msg: "(PT_INTERP /lib64/ld-linux-x86-64.so.2): build it with -static"},
		{name: "dynamic, interpreter unreadable", edit: func(m *testImage) {
			m.progs[3] = elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 1 << 40, Filesz: 10}
		}, kind: KindDynamic, segment: 3, msg: "(PT_INTERP): build it with -static"},
		{name: "phentsize", edit: func(m *testImage) { m.hdr.Phentsize = 32 }, kind: KindProgramHeaders, segment: -1, msg: "e_phentsize is 32"},
		{name: "too many program headers", edit: func(m *testImage) { m.hdr.Phnum = 2000 }, kind: KindProgramHeaders, segment: -1, msg: "2000 program headers"},
		{name: "table past the end", edit: func(m *testImage) { m.hdr.Phoff = testFileSize - 56 }, kind: KindProgramHeaders, segment: -1, msg: "past the end"},
		{name: "table offset overflows", edit: func(m *testImage) { m.hdr.Phoff = math.MaxUint64 - 8 }, kind: KindProgramHeaders, segment: -1, msg: "past the end"},
		{name: "no program headers", edit: func(m *testImage) { m.progs = nil }, kind: KindNoLoad, segment: -1, msg: "no program headers"},
		{name: "no PT_LOAD", edit: func(m *testImage) {
			m.progs[0].Type = uint32(elf.PT_NOTE)
			m.progs[1].Type = uint32(elf.PT_NOTE)
		}, kind: KindNoLoad, segment: -1, msg: "none of the 4"},
		{name: "filesz > memsz", edit: func(m *testImage) { m.progs[1].Filesz = 0x3001 }, kind: KindSegmentSize, segment: 1, msg: "p_filesz 0x3001 exceeds p_memsz 0x3000"},
		{name: "file bytes past EOF", edit: func(m *testImage) { m.progs[1].Filesz = 0x21 }, kind: KindFileRange, segment: 1, msg: "past the 8240-byte file"},
		{name: "offset past EOF", edit: func(m *testImage) { m.progs[1].Off += 0x10000; m.progs[1].Vaddr += 0x10000 }, kind: KindFileRange, segment: 1},
		{name: "offset+filesz overflows", edit: func(m *testImage) {
			m.progs[1].Off = math.MaxUint64 - 0xfef
			m.progs[1].Vaddr = testDataVaddr&^0xfff | 0x10
		}, kind: KindFileRange, segment: 1},
		{name: "misaligned offset", edit: func(m *testImage) { m.progs[1].Off = 0x2000 }, kind: KindSegmentAlign, segment: 1, msg: "differ modulo the page size"},
		{name: "vaddr+memsz overflows", edit: func(m *testImage) {
			m.progs[1].Vaddr = math.MaxUint64 - 0xfef
			m.progs[1].Memsz = 0x1000
		}, kind: KindSegmentAddress, segment: 1, msg: "overflows"},
		{name: "past the user half", edit: func(m *testImage) {
			m.progs[1].Vaddr = uint64(arch.MaxUserAddr) - 0x1ff0
		}, kind: KindSegmentAddress, segment: 1, msg: "past the user half"},
		{name: "kernel address", edit: func(m *testImage) {
			m.progs[1].Vaddr = uint64(arch.KernelBase) + 0x10
		}, kind: KindSegmentAddress, segment: 1, msg: "past the user half"},
		{name: "page zero", edit: func(m *testImage) {
			m.progs[0].Vaddr = 0
			m.hdr.Entry = 0x1000
		}, kind: KindSegmentAddress, segment: 0, msg: "below the lowest mappable address"},
		{name: "overlapping segments", edit: func(m *testImage) {
			m.progs[1].Vaddr = testTextVaddr + 0x10
		}, kind: KindSegmentOverlap, segment: 1, msg: "program header 0"},
		{name: "segments sharing a page", edit: func(m *testImage) {
			// Bytes disjoint (text ends at 0x401009), but one page.
			m.progs[1].Vaddr = testTextVaddr + 0x1010
		}, kind: KindSegmentOverlap, segment: 1},
		{name: "entry in data", edit: func(m *testImage) { m.hdr.Entry = testDataVaddr }, kind: KindEntry, segment: -1, msg: "entry point 0x403010"},
		{name: "entry nowhere", edit: func(m *testImage) { m.hdr.Entry = 0x900000 }, kind: KindEntry, segment: -1},
		{name: "entry just past text", edit: func(m *testImage) { m.hdr.Entry = testTextVaddr + 0x1009 }, kind: KindEntry, segment: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.raw
			if img == nil {
				m := minimalStatic()
				tc.edit(m)
				img = m.bytes()
			}
			p, err := load(t, img, Options{})
			if err == nil {
				t.Fatalf("loaded: %+v", p)
			}
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *loader.Error", err)
			}
			if !errors.Is(err, tc.kind) || le.Kind != tc.kind {
				t.Errorf("kind %v, want %v (%v)", le.Kind, tc.kind, err)
			}
			for k := KindIO; k <= KindStack; k++ {
				if k != tc.kind && errors.Is(err, k) {
					t.Errorf("error also matches %v", k)
				}
			}
			if le.Segment != tc.segment {
				t.Errorf("segment %d, want %d (%v)", le.Segment, tc.segment, err)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "loader: "+tc.kind.String()) {
				t.Errorf("message %q lacks %q", err, tc.msg)
			}
		})
	}
}

// failingReader fails every read after the first n bytes.
type failingReader struct {
	r io.ReaderAt
	n int64
}

var errDisk = errors.New("disk on fire")

func (f failingReader) ReadAt(b []byte, off int64) (int, error) {
	if off+int64(len(b)) > f.n {
		return 0, errDisk
	}
	return f.r.ReadAt(b, off)
}

func TestLoadIOErrors(t *testing.T) {
	img := minimalStatic().bytes()
	for _, n := range []int64{0, 64} {
		_, err := Load(failingReader{bytes.NewReader(img), n}, int64(len(img)), Options{})
		if !errors.Is(err, KindIO) || !errors.Is(err, errDisk) {
			t.Errorf("read failing after %d bytes: %v, want KindIO wrapping the cause", n, err)
		}
	}
	if _, err := Load(bytes.NewReader(img), -1, Options{}); !errors.Is(err, KindIO) {
		t.Errorf("negative size: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	m := minimalStatic()
	os.WriteFile(good, m.bytes(), 0o755)
	m.hdr.Machine = uint16(elf.EM_386)
	os.WriteFile(bad, m.bytes(), 0o755)
	if _, err := LoadFile(good, Options{}); err != nil {
		t.Error(err)
	}
	_, err := LoadFile(bad, Options{})
	if !errors.Is(err, KindMachine) || !strings.Contains(err.Error(), bad+": wrong machine") {
		t.Errorf("bad file: %v", err)
	}
	_, err = LoadFile(filepath.Join(dir, "missing"), Options{})
	if !errors.Is(err, KindIO) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestKindString(t *testing.T) {
	for k := KindIO; k <= KindStack; k++ {
		if strings.HasPrefix(k.String(), "loader.Kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if Kind(99).String() != "loader.Kind(99)" || KindEntry.Error() != "loader: bad entry point" {
		t.Error("Kind formatting")
	}
}

// checkPlanInvariants checks what every Plan must satisfy, whatever the
// input.
func checkPlanInvariants(t *testing.T, p *Plan) {
	t.Helper()
	if len(p.Segments) == 0 {
		t.Fatal("plan without segments")
	}
	inExec := false
	for i, s := range p.Segments {
		if !s.Mapped.IsPageAligned() || !s.FilePages.IsPageAligned() || !s.Anon.IsPageAligned() || s.Offset&arch.PageMask != 0 {
			t.Errorf("segment %d %+v not page-aligned", i, s)
		}
		if s.Mapped.Empty() || s.Mapped.Start < MinAddr || s.Mapped.End > arch.MaxUserAddr {
			t.Errorf("segment %d %+v outside [MinAddr, MaxUserAddr)", i, s)
		}
		if s.FilePages.Start != s.Mapped.Start || s.FilePages.End != s.Anon.Start || s.Anon.End != s.Mapped.End {
			t.Errorf("segment %d %+v: FilePages and Anon do not tile Mapped", i, s)
		}
		if !s.FilePages.IsSupersetOf(s.ZeroTail) || (!s.ZeroTail.Empty() && s.ZeroTail.End != s.FilePages.End) {
			t.Errorf("segment %d %+v: ZeroTail not a suffix of FilePages", i, s)
		}
		if s.ZeroTail.Length() >= arch.PageSize {
			t.Errorf("segment %d %+v: ZeroTail longer than a page", i, s)
		}
		if i > 0 && p.Segments[i-1].Mapped.End > s.Mapped.Start {
			t.Errorf("segments %d and %d overlap or are out of order", i-1, i)
		}
		if s.Perms.Execute && s.VAddr <= p.Entry && p.Entry < s.VAddr+arch.Addr(s.MemSize) {
			inExec = true
		}
		if s.Offset+s.FileSize+uint64(s.VAddr-s.Mapped.Start) > p.FileSize+arch.PageSize {
			t.Errorf("segment %d %+v: file bytes past the file", i, s)
		}
	}
	if !inExec {
		t.Errorf("entry %v in no executable segment", p.Entry)
	}
	if p.BrkStart != p.Segments[len(p.Segments)-1].Mapped.End {
		t.Errorf("brk %v not after the last segment", p.BrkStart)
	}
}
