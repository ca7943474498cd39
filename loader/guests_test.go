package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// guest is one program of guest/, with how it must behave natively.
type guest struct {
	name   string
	musl   bool
	pie    bool
	args   []string
	status int    // exit status; 128+signal for a signal death, as a shell reports it
	out    string // must appear in stdout
	// optional guests need a toolchain guest/Makefile may lack; the
	// tests skip them when they were not built.
	optional bool
}

var guests = []guest{
	{name: "hello", out: "hello, world\n"},
	{name: "touch", args: []string{"4", "8192"}, out: "touched 4 MiB at stride 8192: 512 writes, 512 pages"},
	{name: "mmtorture", out: " passed, 0 failed\n"},
	{name: "brkgrow", args: []string{"4"}, out: "brkgrow: grew the break by 4 MiB in 4 steps\n"},
	{name: "nullderef", status: 128 + int(syscall.SIGSEGV), out: "writing through a NULL pointer\n"},
	{name: "writero", status: 128 + int(syscall.SIGSEGV), out: "writing into read-only data\n"},
	{name: "stackoverflow", status: 128 + int(syscall.SIGSEGV), out: "recursing until the stack overflows\n"},
	{name: "hello-musl", musl: true, args: []string{"x y"}, out: "hello from musl, argc=2\nargv[1]=x y\n"},
	{name: "hello-pie", musl: true, pie: true, out: "hello from musl, argc=1\n"},
	{name: "mallocchurn", musl: true, args: []string{"5000"}, out: "PASS mallocchurn\n"},
	{name: "hello-glibc", optional: true, args: []string{"x"}, out: "hello from glibc linked by GNU ld, argc=2\nargv[1]=x\n"},
	{name: "hello-gold", optional: true, out: "hello from glibc linked by gold, argc=1\n"},
	{name: "hello-lld", optional: true, out: "hello from glibc linked by lld, argc=1\n"},
	{name: "hello-rust", optional: true, pie: true, args: []string{"x"}, out: "hello from rust, argc=2\nargv[1]=x\nsum=500500\n"},
}

// skipUnbuilt skips an optional guest that guest/Makefile did not build.
func skipUnbuilt(t *testing.T, g guest, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil && g.optional {
		t.Skipf("%s was not built (its toolchain is missing; guest/Makefile said what to install): %v", g.name, err)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildMusl bool
	buildErr  error
	buildLog  []byte
)

// buildGuests builds guest/ with make into the repository's out/guest once
// per test binary, and returns that directory. It skips the test if gcc is
// missing; without musl-gcc only the -nostdlib guests are built.
func buildGuests(t *testing.T) (dir string, musl bool) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found: the guest programs cannot be built (apt-get install -y gcc musl-tools)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found: the guest programs cannot be built (apt-get install -y make)")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = filepath.Abs("../out/guest")
		if buildErr != nil {
			return
		}
		target := "all"
		if _, err := exec.LookPath("musl-gcc"); err == nil {
			buildMusl = true
		} else {
			target = "nostdlib"
		}
		cmd := exec.Command("make", "-C", "../guest", "OUT="+buildDir, target)
		buildLog, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the guests: %v\n%s", buildErr, buildLog)
	}
	if !buildMusl {
		t.Log("musl-gcc not found: testing only the -nostdlib guests (apt-get install -y musl-tools)")
	}
	return buildDir, buildMusl
}

// TestGuestsLoad loads every guest and checks the plan against what
// debug/elf reads from the same file, the way readelf -l shows it.
func TestGuestsLoad(t *testing.T) {
	dir, musl := buildGuests(t)
	for _, g := range guests {
		if g.musl && !musl {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join(dir, g.name)
			skipUnbuilt(t, g, path)
			p, err := LoadFile(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkAgainstELF(t, p, f, path, g.pie)
			checkPlanInvariants(t, p)

			st, err := BuildStack(p, StackSpec{Argv: append([]string{path}, g.args...), Envv: []string{"HOME=/"}}, 0x7fff_ffff_f000)
			if err != nil {
				t.Fatal(err)
			}
			d := decodeStack(t, st.Image, st.SP, st.Top)
			if d.auxv[AuxPhdr] != uint64(p.Phdr) || d.auxv[AuxEntryPoint] != uint64(p.Entry) || d.auxv[AuxPhnum] != uint64(len(f.Progs)) {
				t.Errorf("auxv %v disagrees with the plan", d.auxv)
			}

			// The pages the plan and the image give the program are
			// Linux's, at every fault-around, whichever segment the
			// program touches first.
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := linuxImage(t, file, p.Bias)
			for _, fa := range faultArounds {
				for _, s := range p.Segments {
					first := (s.Mapped.Start + arch.Addr(s.Mapped.Length()/2)).RoundDown()
					comparePages(t, planImage(t, p, newSpacedImage(t, file, g.name), fa, first), want)
				}
			}
		})
	}
}

// checkAgainstELF compares p with the headers debug/elf parsed.
func checkAgainstELF(t *testing.T, p *Plan, f *elf.File, path string, pie bool) {
	t.Helper()
	wantType := elf.ET_EXEC
	var wantBias arch.Addr
	if pie {
		wantType, wantBias = elf.ET_DYN, DefaultDynBase
	}
	if p.Type != wantType || f.Type != wantType || p.Bias != wantBias {
		t.Fatalf("type %v (debug/elf %v) bias %v; want %v bias %v", p.Type, f.Type, p.Bias, wantType, wantBias)
	}
	if p.Entry != arch.Addr(f.Entry)+p.Bias {
		t.Errorf("entry %v, e_entry %#x + bias %v", p.Entry, f.Entry, p.Bias)
	}
	if p.PhNum != uint64(len(f.Progs)) || p.PhEnt != 56 {
		t.Errorf("phnum %d phent %d, debug/elf has %d headers", p.PhNum, p.PhEnt, len(f.Progs))
	}
	var (
		loads     int
		highest   arch.Addr
		firstLoad *elf.Prog
	)
	for i, prog := range f.Progs {
		switch prog.Type {
		case elf.PT_INTERP:
			t.Errorf("guest has PT_INTERP: it is not static")
		case elf.PT_GNU_STACK:
			if p.ExecStack != (prog.Flags&elf.PF_X != 0) {
				t.Errorf("ExecStack %v, PT_GNU_STACK flags %v", p.ExecStack, prog.Flags)
			}
		case elf.PT_LOAD:
			if firstLoad == nil {
				firstLoad = prog
			}
			loads++
			var s *Segment
			for j := range p.Segments {
				if p.Segments[j].Index == i {
					s = &p.Segments[j]
				}
			}
			if s == nil {
				t.Errorf("PT_LOAD %d missing from the plan", i)
				continue
			}
			want := arch.AccessType{Read: prog.Flags&elf.PF_R != 0, Write: prog.Flags&elf.PF_W != 0, Execute: prog.Flags&elf.PF_X != 0}
			if s.VAddr != arch.Addr(prog.Vaddr)+p.Bias || s.FileSize != prog.Filesz || s.MemSize != prog.Memsz || s.Perms != want ||
				s.Offset != prog.Off&^arch.PageMask || s.Mapped.Start != arch.Addr(prog.Vaddr).RoundDown()+p.Bias {
				t.Errorf("segment %+v does not match %+v", *s, prog.ProgHeader)
			}
			if prog.Memsz > prog.Filesz && prog.Filesz > 0 && (s.VAddr+arch.Addr(prog.Filesz))&arch.PageMask != 0 && s.ZeroTail.Empty() {
				t.Errorf("segment %+v has bss in its last file page but no ZeroTail", *s)
			}
			highest = max(highest, arch.Addr(prog.Vaddr+prog.Memsz)+p.Bias)
		}
	}
	if loads != len(p.Segments) {
		t.Errorf("%d segments in the plan, %d PT_LOAD in the file", len(p.Segments), loads)
	}
	if p.BrkStart != highest.MustRoundUp() {
		t.Errorf("brk %v, want the highest segment end %v page-rounded", p.BrkStart, highest)
	}
	// The guests' first PT_LOAD maps the file from offset 0, headers
	// included, so the table appears at its file offset from there.
	if firstLoad.Off != 0 {
		t.Fatalf("first PT_LOAD at offset %#x; the test assumes 0", firstLoad.Off)
	}
	if want := arch.Addr(firstLoad.Vaddr+phoff(t, path)) + p.Bias; p.Phdr != want {
		t.Errorf("phdr %v, want %v", p.Phdr, want)
	}
}

// phoff reads e_phoff (bytes 0x20..0x28 of the header), which debug/elf
// does not expose.
func phoff(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 0x28 {
		t.Fatalf("reading e_phoff of %s: %v", path, err)
	}
	return binary.LittleEndian.Uint64(b[0x20:])
}

// TestGuestsRunNatively runs each guest on the host and checks the output
// and exit status that mmvm must reproduce.
func TestGuestsRunNatively(t *testing.T) {
	dir, musl := buildGuests(t)
	for _, g := range guests {
		if g.musl && !musl {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			skipUnbuilt(t, g, filepath.Join(dir, g.name))
			// The stack limit decides where stackoverflow dies; pin it.
			cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -s 8192 && exec "$@"`, "sh", filepath.Join(dir, g.name)}, g.args...)...)
			cmd.Env = []string{"HOME=/"}
			var out bytes.Buffer
			cmd.Stdout = &out
			err := cmd.Run()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				ws := ee.Sys().(syscall.WaitStatus)
				if ws.Signaled() {
					status = 128 + int(ws.Signal())
				} else {
					status = ws.ExitStatus()
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if status != g.status || !strings.Contains(out.String(), g.out) {
				t.Errorf("status %d output %q; want status %d and %q", status, out.String(), g.status, g.out)
			}
			if strings.Contains(out.String(), "FAIL") {
				t.Errorf("a self-check failed:\n%s", out.String())
			}
		})
	}
}
