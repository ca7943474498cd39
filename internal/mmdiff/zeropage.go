package mmdiff

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// probeZeroPage finds out whether a read fault on fresh private anonymous
// memory maps the host kernel's shared zero page (Linux's default: the
// mapping's Rss stays 0 and it gets no anon_vma) or allocates a page (a
// kernel booted with pvm_no_zero_page=1, as some test machines are): it
// maps a page at Base, reads it, and reads its Rss in /proc/self/smaps.
// The system under test must be told which (mm.Options.NoZeroPage), since
// the two differ in which mappings Linux merges afterwards.
func probeZeroPage() (bool, error) {
	if _, e := rawMMap(Base, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, -1, 0); e != 0 {
		return false, fmt.Errorf("mmdiff: zero-page probe: mmap: %w", e)
	}
	defer unix.RawSyscall(unix.SYS_MUNMAP, uintptr(Base), pageSize, 0)
	// The host kernel reads the page (a read fault, as a load would take)
	// by copying it into a memfd.
	fd, err := unix.MemfdCreate("mmdiff-zero-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return false, fmt.Errorf("mmdiff: zero-page probe: %w", err)
	}
	defer unix.Close(fd)
	if _, _, e := unix.RawSyscall6(unix.SYS_PWRITE64, uintptr(fd), uintptr(Base), 1, 0, 0, 0); e != 0 {
		return false, fmt.Errorf("mmdiff: zero-page probe: reading the page: %w", e)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return false, fmt.Errorf("mmdiff: zero-page probe: %w", err)
	}
	rss, ok := smapsField(smaps, Base, "Rss:")
	if !ok {
		return false, fmt.Errorf("mmdiff: zero-page probe: no Rss for %#x in /proc/self/smaps", uint64(Base))
	}
	return rss == 0, nil
}

// smapsField returns the kB value of field (such as "Rss:") in the smaps
// entry of the mapping starting at start.
func smapsField(smaps []byte, start uint64, field string) (uint64, bool) {
	prefix := strconv.FormatUint(start, 16) + "-"
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "-") && !strings.Contains(line, ":") || strings.HasPrefix(line, prefix) {
			in = strings.HasPrefix(line, prefix)
			continue
		}
		if in && strings.HasPrefix(line, field) {
			f := strings.Fields(strings.TrimPrefix(line, field))
			if len(f) == 0 {
				return 0, false
			}
			v, err := strconv.ParseUint(f[0], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// ZeroPage reports whether the host maps the zero page on a read fault of
// fresh private anonymous memory (see probeZeroPage); the system under test
// must behave the same for the layouts to agree.
func (h *Host) ZeroPage() bool { return h.zeroPage }

// ZeroPageLine says, for the test log, which behaviour the host has.
func (h *Host) ZeroPageLine() string {
	if h.zeroPage {
		return fmt.Sprintf("host kernel %s: a read of fresh private anonymous memory maps the zero page (Linux's default); mm does the same", kernelRelease())
	}
	return fmt.Sprintf("host kernel %s: a read of fresh private anonymous memory allocates a page (no zero page, as with pvm_no_zero_page=1); mm is run with Options.NoZeroPage to match", kernelRelease())
}
