package syscalls

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmvm/mmvm/arch"
)

// forcedFlat is flatMemory that /proc/self/mem can reach (ForcedMemory).
type forcedFlat struct{ *flatMemory }

func (m forcedFlat) CopyInForced(addr arch.Addr, dst []byte) (int, error) { return m.CopyIn(addr, dst) }
func (m forcedFlat) CopyOutForced(addr arch.Addr, src []byte) (int, error) {
	return m.CopyOut(addr, src)
}

// TestProcSelfFiles checks /proc/self/auxv (the vector SetImageLayout
// recorded), cgroup (the cgroup2 root, which the KVM tests' native kernel
// does not show), loginuid, and mem read and written at an address, EIO
// past the memory.
func TestProcSelfFiles(t *testing.T) {
	p, mem, _ := newTestProcess(t)
	p.cfg.Memory = forcedFlat{mem}
	p.SetImageLayout(ImageLayout{Auxv: []uint64{6, 4096, 0, 0}})
	want := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(make([]byte, 0, 32), 6), 4096)
	want = append(want, make([]byte, 16)...)
	for path, text := range map[string][]byte{
		"/proc/self/auxv": want, "/proc/self/cgroup": []byte("0::/\n"), "/proc/self/loginuid": []byte("4294967295"),
	} {
		copy(mem.mem, path+"\x00")
		fd := p.Syscall(unix.SYS_OPEN, [6]uint64{base, unix.O_RDONLY})
		n := p.Syscall(unix.SYS_READ, [6]uint64{fd, base + 0x100, 256})
		if got := mem.mem[0x100 : 0x100+min(n, 256)]; !bytes.Equal(got, text) {
			t.Errorf("%s: %q, want %q", path, got, text)
		}
		p.Syscall(unix.SYS_CLOSE, [6]uint64{fd})
	}
	copy(mem.mem, "/proc/self/mem\x00")
	copy(mem.mem[0x800:], "secret")
	fd := p.Syscall(unix.SYS_OPEN, [6]uint64{base, unix.O_RDWR})
	if r := p.Syscall(unix.SYS_PREAD64, [6]uint64{fd, base + 0x100, 6, base + 0x800}); r != 6 || string(mem.mem[0x100:0x106]) != "secret" {
		t.Errorf("pread mem: %d %q", int64(r), mem.mem[0x100:0x106])
	}
	copy(mem.mem[0x200:], "SEC")
	if r := p.Syscall(unix.SYS_PWRITE64, [6]uint64{fd, base + 0x200, 3, base + 0x800}); r != 3 || string(mem.mem[0x800:0x806]) != "SECret" {
		t.Errorf("pwrite mem: %d %q", int64(r), mem.mem[0x800:0x806])
	}
	if r := p.Syscall(unix.SYS_PREAD64, [6]uint64{fd, base + 0x100, 6, 0x1000}); r != neg(unix.EIO) {
		t.Errorf("pread unmapped: %d, want EIO", int64(r))
	}
	if r := p.Syscall(unix.SYS_MEMFD_SECRET, [6]uint64{0}); r != neg(unix.ENOSYS) {
		t.Errorf("memfd_secret: %d, want ENOSYS", int64(r))
	}
}
